"""``cinemagraph review DIR``: look through a folder of results in the browser, fix a loop (brush the mask,
drag arrows, change the speed or the motion source), re-render it from the first changed step, approve it.

- :mod:`tasks.review.folders`: the items of a ``generate`` output, a bulk run or the text DAG's ``data/``;
- :mod:`tasks.review.edits`: what the page sends (a painted mask, arrows, speed, source), checked;
- :mod:`tasks.review.versions`: every version of an item kept, the head, undo and verdicts;
- :mod:`tasks.review.rerender`: the pipeline's steps from the first changed one (mask → flow → video);
- :mod:`tasks.review.app`: the web app (token on every request, paths confined to the folder);
- :mod:`tasks.review.export`: the approved loops and their settings copied out.
"""
