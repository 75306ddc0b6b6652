"""The ``study`` stage: the Mechanical Turk batch of the artistic-domain comparison, as ``cinemagraph mturk
export`` writes it (tasks.study.export_batch): ours against every other method whose videos compare_art made,
laid out by the ``study`` section."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import shutil
from pathlib import Path

import pandas as pd
from prefect import flow

from stages.art_methods import ART_METHODS
from stages.options import options_from
from stages.study.mturk import OURS, StudySettings
from tasks.batch import stage_record
from tasks.study import export_batch

BASE_URL = "base_url"
"""The key of the ``study`` section that is no layout setting: where ``videos/`` will be served."""


def study_settings(section: dict | None) -> StudySettings:
    """StudySettings from the ``study`` section, every key checked."""
    return options_from(StudySettings, section, "study", batch_keys=(BASE_URL,))


@flow(name="study")
def study_flow(params: dict, videos: str, out_dir: str) -> pd.DataFrame:
    """The batch folder ``out_dir`` (replaced) comparing ours with every other method of ``videos`` (one folder
    of videos per method, prompts in their meta) → a one-row manifest."""
    section = params.get("study") or {}
    settings = study_settings(section)
    others = {name: Path(videos, name) for name in ART_METHODS
              if name != OURS and any(Path(videos, name).glob("*.mp4"))}
    shutil.rmtree(out_dir, ignore_errors=True)  # the stage's own folder; export_batch writes a new one
    manifest = export_batch(Path(videos, OURS), others, out_dir, settings, base_url=section.get(BASE_URL) or "")
    return stage_record("study", {"hits": int(manifest.hit_id.nunique()), "pairs": int((~manifest.is_catch).sum()),
                                  "comparisons": len(others)})
