"""The gallery of a prompt run in headless Chromium: pictures load, loops autoplay muted inline, text is text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.generate import write_prompt_gallery
from stages.images import save_png
from stages.video import write_video
from tests.browser import NEEDS_CHROMIUM, FPS, FRAMES, TRICKY_PROMPT, browser, check_videos_play_and_loop  # noqa: F401

pytestmark = NEEDS_CHROMIUM


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    for stage, names in {"twins": ("artistic", "realistic"), "mask": ("clusters", "mask_overlay"),
                         "flow": ("flow",)}.items():
        for name in names:
            save_png(tmp_path / "data" / stage / "good" / f"{name}.png", picture)
    write_video(tmp_path / "data/video/good/cinemagraph.mp4",
                np.stack([np.roll(picture, 2 * t, axis=1) for t in range(FRAMES)]), fps=FPS)
    (tmp_path / "data/mask").mkdir(exist_ok=True)
    pd.DataFrame([{"id": "good", "status": "ok", "error": None},
                  {"id": "bad", "status": "failed", "error": "no cluster overlaps <i>the</i> sea"}]).to_parquet(
        tmp_path / "data/mask/manifest.parquet")
    videos = pd.DataFrame([{"id": "bad", "status": "failed", "error": "input 'mask' not found"},
                           {"id": "good", "status": "ok", "error": None}])
    write_prompt_gallery(videos, tmp_path / "data/video", "mp4", {"good": TRICKY_PROMPT, "bad": "a stormy sea"},
                         tmp_path)
    return tmp_path / "data"


def test_the_prompt_gallery_shows_every_step_and_plays_every_loop(data, browser):
    browser.get((data / "video/index.html").as_uri())
    check_videos_play_and_loop(browser)
    images = browser.execute_script("return Array.from(document.images).map(i => [i.alt, i.naturalWidth])")
    assert [alt for alt, _ in images] == ["artistic", "realistic twin", "clusters of Ā", "mask", "flow"]
    assert all(width == 48 for _, width in images)
    assert browser.execute_script("return window.injected === undefined")
    text = browser.find_element("css selector", "body").text
    assert TRICKY_PROMPT in text
    assert "failed in mask: no cluster overlaps <i>the</i> sea" in text
