"""The exported batch in headless Chromium: the HIT template and the offline study page really work.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make setup`` installs them when it can) and Selenium;
the tests skip, saying so, only when no Chromium can be found.
"""

from __future__ import annotations

import csv
import functools
import http.server
import json
import re
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.study import export_batch, read_results
from stages.study.mturk import StudySettings, analyze, judgments_from_results
from stages.video import write_video

from tests.browser import FPS, FRAMES, NEEDS_CHROMIUM, TRICKY_PROMPT, browser, check_videos_play_and_loop, wait_for  # noqa: F401

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """A batch comparing 3 of our clips with one baseline; clip000 has a prompt full of HTML characters."""
    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(0)
    for index in range(3):
        texture = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
        scrolling = np.stack([np.roll(texture, 4 * t, axis=1) for t in range(FRAMES)])
        write_video(root / "ours" / f"clip{index:03d}.mp4", scrolling, fps=FPS)
        write_video(root / "holynski" / f"clip{index:03d}.mp4", scrolling[::-1], fps=FPS)
    (root / "prompts.json").write_text(json.dumps({"clip000": TRICKY_PROMPT}))
    export_batch(root / "ours", {"holynski": root / "holynski"}, root / "batch",
                 StudySettings(pairs_per_hit=2, catch_per_hit=1, seed=5), root / "prompts.json")
    return root / "batch"


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the batch folder; records form posts (Mechanical Turk's externalSubmit)."""

    posts: list[dict[str, str]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        fields = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
        self.posts.append({"path": self.path, **{k: v[0] for k, v in fields.items()}})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"submitted")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(batch):
    RecordingHandler.posts = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RecordingHandler, directory=batch))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def answer_every_question(driver) -> int:
    """Click an answer to every visible question of the page → how many were answered."""
    fieldsets = [f for f in driver.find_elements("css selector", "fieldset") if f.is_displayed()]
    for index, fieldset in enumerate(fieldsets):
        fieldset.find_elements("css selector", "input[type=radio]")[index % 2].click()
    return len(fieldsets)


def check_prompts_are_text(driver, hit: dict[str, str]) -> None:
    """The tricky prompt shows literally; no markup from it exists; the text question follows the prompt."""
    assert driver.execute_script("return window.injected === undefined")
    for section in driver.find_elements("css selector", "section.trial"):
        slot = section.get_attribute("data-slot")
        text_question = section.find_element("css selector", "fieldset[data-criterion=text]")
        if hit[f"prompt_{slot}"]:
            assert section.find_element("css selector", ".prompt-text").text == TRICKY_PROMPT
            assert not section.find_elements("css selector", ".prompt b, .prompt script")
            assert text_question.is_displayed()
        else:
            assert not text_question.is_displayed()


def test_hit_template_plays_videos_and_submits_to_mechanical_turk(batch, server, browser):
    rows = list(csv.DictReader((batch / "input.csv").open()))
    hit = next(row for row in rows if TRICKY_PROMPT.split()[0] in urllib.parse.unquote(str(row.values())))
    template = (batch / "template.html").read_text()
    filled = re.sub(r"\$\{(\w+)\}", lambda match: hit[match.group(1)], template)  # what Mechanical Turk does
    (batch / "hit_preview.html").write_text(filled)

    browser.get(f"{server}/hit_preview.html?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H")
    assert not browser.find_element("id", "submitButton").is_enabled()  # preview: nothing to submit

    browser.get(f"{server}/hit_preview.html?assignmentId=A1&workerId=W1&turkSubmitTo={server}")
    check_videos_play_and_loop(browser)
    check_prompts_are_text(browser, hit)
    browser.find_element("id", "submitButton").click()  # unanswered: the form refuses to submit
    time.sleep(0.3)
    assert not RecordingHandler.posts
    answered = answer_every_question(browser)
    browser.find_element("id", "submitButton").click()
    post = wait_for(lambda: RecordingHandler.posts and RecordingHandler.posts[-1])
    assert post["path"] == "/mturk/externalSubmit" and post["assignmentId"] == "A1"
    answers = {k: v for k, v in post.items() if re.fullmatch(r"t\d+_\w+", k)}
    assert len(answers) == answered and set(answers.values()) <= {"left", "right"}

    # Mechanical Turk's results row for this assignment parses into one judgment per answer.
    results = pd.DataFrame([{"HITId": "H", "AssignmentId": "A1", "WorkerId": "W1", "AssignmentStatus": "Submitted",
                             **{f"Input.{k}": v for k, v in hit.items()},
                             **{f"Answer.{k}": v for k, v in answers.items()}}])
    assert len(judgments_from_results(results)) == answered


def test_local_study_page_works_offline_and_saves_results_csv(batch, browser, tmp_path):
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get((batch / "study.html").as_uri())  # straight from disk: no server, no network
    browser.find_element("id", "worker").send_keys("participant-1")
    browser.find_element("id", "begin").click()
    hits = pd.read_csv(batch / "input.csv", dtype=str, keep_default_na=False)
    answered = 0
    for page in range(len(hits)):
        if page == 0:
            check_videos_play_and_loop(browser)
        hit = hits.iloc[page].to_dict()
        check_prompts_are_text(browser, hit)
        answered += answer_every_question(browser)
        browser.find_element("id", "submitButton").click()
    assert wait_for(lambda: browser.find_element("id", "done").is_displayed())
    browser.find_element("id", "download").click()
    saved = wait_for(lambda: next(tmp_path.glob("*.csv"), None))
    results = read_results(saved)
    assert len(results) == len(hits) and set(results.WorkerId) == {"participant-1"}
    assert {"HITId", "AssignmentId", "AssignmentStatus", "Input.trial_1", "Answer.t1_motion"} <= set(results.columns)
    assert len(judgments_from_results(results)) == answered
    # The answers were clicked blindly (catch trials too), so keep every worker here.
    analysis = analyze(results, pd.read_parquet(batch / "manifest.parquet"), resamples=50, min_catch_accuracy=0.0)
    assert set(analysis.table.comparison) == {"holynski"} and analysis.table.judgments.sum() > 0
