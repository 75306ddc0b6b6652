"""The pages of a paired video study: Mechanical Turk's HIT template and a local, offline study page.

Both show the same HIT markup: per slot i, two looping videos (``${left_i}``, ``${right_i}``) that play
muted, inline and automatically, and one left/right question per criterion, answered in the form fields
``t<i>_<criterion>``. ``${prompt_i}`` holds the trial's text prompt percent-encoded (so it contains no HTML
special characters however Mechanical Turk substitutes it); the page decodes it and shows it as plain
text, never as markup. The text question is shown (and required) only when there is a prompt.

- ``template.html`` submits to Mechanical Turk's ``externalSubmit`` (the HTMLQuestion protocol: the
  ``assignmentId`` and ``turkSubmitTo`` query parameters), so Mechanical Turk records ``Answer.t<i>_<c>``.
- ``study.html`` carries the HITs as JSON, shows them one after another in any browser, without a network,
  and saves the answers as a CSV with the columns of Mechanical Turk's batch results.
"""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from stages.study.mturk import CRITERIA, answer_field

TITLE = "Which looping video is better?"
INSTRUCTIONS = ("Each pair shows two short looping videos side by side. Watch both, then answer every "
                "question by choosing the left or the right video.")

STYLE = """
body { font-family: sans-serif; margin: 16px; max-width: 1100px; }
.trial { border-top: 1px solid #ccc; padding: 12px 0; }
.videos { display: flex; gap: 16px; }
.videos figure { margin: 0; flex: 1; text-align: center; }
.videos video { width: 100%; max-height: 45vh; background: #000; }
.prompt { font-size: 1.1em; }
fieldset { border: none; margin: 6px 0; padding: 0; }
legend { font-weight: bold; }
label { margin-right: 24px; }
#submitButton { font-size: 1.1em; padding: 6px 24px; }
"""

# setupHit(root): show each slot's decoded prompt as text, enable its text question, start the videos.
HIT_SCRIPT = """
function decodePrompt(value) {
  try { return decodeURIComponent(value || ''); } catch (error) { return value || ''; }
}
function setupHit(root) {
  root.querySelectorAll('section.trial').forEach(function (section) {
    var prompt = decodePrompt(section.getAttribute('data-prompt'));
    if (prompt) {
      section.querySelector('.prompt-text').textContent = prompt;
      section.querySelector('.prompt').hidden = false;
      var question = section.querySelector('fieldset[data-needs-prompt]');
      question.hidden = false;
      question.disabled = false;
    }
  });
  root.querySelectorAll('video').forEach(function (video) {
    video.muted = true;
    var playing = video.play();
    if (playing) { playing.catch(function () {}); }
  });
}
"""

# The HTMLQuestion protocol: the form posts to turkSubmitTo + /mturk/externalSubmit with the assignmentId.
MTURK_SCRIPT = """
(function () {
  var params = new URLSearchParams(window.location.search);
  var form = document.getElementById('mturk_form');
  var assignment = params.get('assignmentId') || '';
  var submitTo = params.get('turkSubmitTo') || '';
  document.getElementById('assignmentId').value = assignment;
  if (/^https:\\/\\/(www|workersandbox)\\.mturk\\.com\\/?$/.test(submitTo) ||
      /^http:\\/\\/(localhost|127\\.0\\.0\\.1)(:[0-9]+)?\\/?$/.test(submitTo)) {
    form.action = submitTo.replace(/\\/$/, '') + '/mturk/externalSubmit';
  }
  if (!assignment || assignment === 'ASSIGNMENT_ID_NOT_AVAILABLE') {
    var button = document.getElementById('submitButton');
    button.disabled = true;
    button.value = 'Accept the HIT to answer';
  }
  setupHit(form);
})();
"""

# The local study: one HIT at a time from the embedded JSON; answers kept in localStorage, saved as CSV.
STUDY_SCRIPT = """
(function () {
  var hits = JSON.parse(document.getElementById('hits').textContent);
  var markup = document.getElementById('hit-template').innerHTML;
  var storageKey = 'paired-study-' + (hits.length ? hits[0].hit_id : '');
  var results = JSON.parse(window.localStorage.getItem(storageKey) || '[]');
  var form = document.getElementById('study_form');
  var worker = document.getElementById('worker');
  var shownAt = null;

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function randomId() {
    var bytes = new Uint8Array(10);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('').toUpperCase();
  }
  function nextIndex() {
    var done = results.filter(function (r) { return r.WorkerId === worker.value.trim(); }).length;
    return done;
  }
  function show() {
    var index = nextIndex();
    document.getElementById('progress').textContent =
      'Page ' + Math.min(index + 1, hits.length) + ' of ' + hits.length;
    if (index >= hits.length) {
      form.hidden = true;
      document.getElementById('done').hidden = false;
      return;
    }
    var hit = hits[index];
    document.getElementById('hit').innerHTML = markup.replace(/\\$\\{([A-Za-z0-9_]+)\\}/g, function (m, name) {
      return escapeHtml(hit[name] === undefined ? '' : hit[name]);
    });
    form.hidden = false;
    shownAt = new Date();
    setupHit(form);
    window.scrollTo(0, 0);
  }
  function toCsv(rows) {
    var base = ['HITId', 'AssignmentId', 'WorkerId', 'AssignmentStatus', 'AcceptTime', 'SubmitTime',
                'WorkTimeInSeconds'];
    var extra = [];
    rows.forEach(function (row) {
      Object.keys(row).forEach(function (key) {
        if (base.indexOf(key) < 0 && extra.indexOf(key) < 0) { extra.push(key); }
      });
    });
    var columns = base.concat(extra);
    var quote = function (value) { return '"' + String(value === undefined ? '' : value).replace(/"/g, '""') + '"'; };
    return [columns.map(quote).join(',')].concat(rows.map(function (row) {
      return columns.map(function (key) { return quote(row[key]); }).join(',');
    })).join('\\r\\n') + '\\r\\n';
  }

  document.getElementById('begin').addEventListener('click', function () {
    if (!worker.value.trim()) { worker.focus(); return; }
    worker.disabled = true;
    document.getElementById('begin').hidden = true;
    show();
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var hit = hits[nextIndex()];
    var now = new Date();
    var row = {HITId: hit.hit_id, AssignmentId: randomId(), WorkerId: worker.value.trim(),
               AssignmentStatus: 'Submitted', AcceptTime: shownAt.toISOString(), SubmitTime: now.toISOString(),
               WorkTimeInSeconds: Math.round((now - shownAt) / 1000)};
    Object.keys(hit).forEach(function (key) { row['Input.' + key] = hit[key]; });
    new FormData(form).forEach(function (value, key) { row['Answer.' + key] = value; });
    results.push(row);
    window.localStorage.setItem(storageKey, JSON.stringify(results));
    show();
  });
  document.getElementById('download').addEventListener('click', function () {
    var blob = new Blob([toCsv(results)], {type: 'text/csv'});
    var link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = 'study-results.csv';
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
})();
"""


def encode_prompt(prompt: str) -> str:
    """A prompt as it goes into input.csv: percent-encoded UTF-8, only ``A-Z a-z 0-9 _ . - ~ %`` left."""
    return quote(prompt or "", safe="")


def _question(slot: int, criterion) -> str:
    """One left/right question as a fieldset (hidden and disabled until a prompt enables it, if it needs one)."""
    name = answer_field(slot, criterion.name)
    flags = " data-needs-prompt hidden disabled" if criterion.needs_prompt else ""
    options = "".join(f'<label><input type="radio" name="{name}" value="{side}" required> {side.title()} video'
                      "</label>" for side in ("left", "right"))
    return (f'<fieldset data-criterion="{criterion.name}"{flags}><legend>{html.escape(criterion.question)}'
            f"</legend>{options}</fieldset>")


def hit_markup(slots: int) -> str:
    """The HIT body for ``slots`` trials: ``${hit_id}`` and, per slot, ``${trial_i}``, ``${left_i}``,
    ``${right_i}``, ``${prompt_i}`` (every column of input.csv)."""
    sections = ['<div class="hit" data-hit="${hit_id}">', f"<p>{html.escape(INSTRUCTIONS)}</p>"]
    for slot in range(1, slots + 1):
        videos = "".join(
            f'<figure><video src="${{{side}_{slot}}}" autoplay muted loop playsinline preload="auto" '
            f'disablepictureinpicture></video><figcaption>{side.title()} video</figcaption></figure>'
            for side in ("left", "right"))
        questions = "".join(_question(slot, criterion) for criterion in CRITERIA)
        sections.append(
            f'<section class="trial" data-slot="{slot}" data-trial="${{trial_{slot}}}" '
            f'data-prompt="${{prompt_{slot}}}">'
            f"<h2>Pair {slot} of {slots}</h2>"
            '<p class="prompt" hidden>Text: <q class="prompt-text"></q></p>'
            f'<div class="videos">{videos}</div>{questions}</section>')
    return "\n".join(sections) + "</div>"


def _page(body: str, scripts: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(TITLE)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n"
            f"<script>{scripts}</script>\n</body></html>\n")


def hit_template(slots: int) -> str:
    """template.html: the HIT for Mechanical Turk, ``${column}`` placeholders matching input.csv."""
    body = ('<form id="mturk_form" method="post" action="https://www.mturk.com/mturk/externalSubmit">'
            '<input type="hidden" id="assignmentId" name="assignmentId" value="">'
            f"<h1>{html.escape(TITLE)}</h1>{hit_markup(slots)}"
            '<p><input type="submit" id="submitButton" value="Submit"></p></form>')
    return _page(body, HIT_SCRIPT + MTURK_SCRIPT)


def _json_for_script(value) -> str:
    """JSON safe inside a <script> element (no '<', '>' or '&' characters)."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def study_page(slots: int, rows: list[dict[str, str]]) -> str:
    """study.html: every HIT of ``rows`` (input.csv rows, video paths relative to the page), offline."""
    body = (f"<h1>{html.escape(TITLE)}</h1>"
            '<p id="start"><label>Your name or participant ID: <input id="worker" autocomplete="off"></label> '
            '<button type="button" id="begin">Start</button></p><p id="progress"></p>'
            '<form id="study_form" hidden><div id="hit"></div>'
            '<p><input type="submit" id="submitButton" value="Submit and continue"></p></form>'
            '<p id="done" hidden>All pages are answered. Thank you!</p>'
            '<p><button type="button" id="download">Save answers (CSV)</button></p>'
            f'<template id="hit-template">{hit_markup(slots)}</template>'
            f'<script type="application/json" id="hits">{_json_for_script(rows)}</script>')
    return _page(body, HIT_SCRIPT + STUDY_SCRIPT)
