"""``cinemagraph review`` in a real headless Chromium: paint the missed part of a mask and drag an arrow with
pointer events on the canvas, re-render, approve, export; and hostile requests refused with nothing written."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains

from tests.conftest import write_picture
from tests.hostile_files import blank_png
from stages.images import load_mask
from stages.video import read_video
from tests.browser import NEEDS_CHROMIUM, browser, wait_for  # noqa: F401

pytestmark = NEEDS_CHROMIUM
SIZE, SCALE = 128, 4  # the canvas shows the 128² picture at 512² CSS pixels
PROMPT = 'a watercolor painting of a <b>waterfall</b> & "falls", high definition'


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A generate output whose mask (rows 20–59, cols 20–59) misses the part right of it."""
    from tasks.one_prompt import generate

    root = tmp_path_factory.mktemp("review")
    write_picture(root, SIZE, SIZE, (slice(20, 60), slice(20, 60)))
    params = {"models": {"profile": "procedural"}, "flow": {"source": "direction"}, "video": {"frames": 16, "fps": 8}}
    generate(PROMPT, root / "out", params, image=root / "painting.png", mask=root / "water.png")
    return root / "out"


@pytest.fixture(scope="module")
def server(made):
    """``cinemagraph review OUT --no-browser`` → its printed address; stopped at the end."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; from flows.cli import main; sys.exit(main())",
                                "review", str(made), "--no-browser"], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("open "):
            break
    yield line.split()[1]
    process.terminate()
    process.wait(10)


def on_canvas(browser, x: float, y: float) -> tuple[int, int]:
    """Offset from the canvas's centre (what Selenium moves by) of image pixel (x, y)."""
    canvas = browser.find_element("id", "canvas")
    return round((x - SIZE / 2) * SCALE), round((y - SIZE / 2) * SCALE), canvas


def drag(browser, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at image pixel ``start``, move in steps to ``end``, release (pointer events on the canvas)."""
    dx, dy, canvas = on_canvas(browser, *start)
    chain = ActionChains(browser, duration=10).move_to_element_with_offset(canvas, dx, dy).click_and_hold()
    for step in range(1, 5):
        chain.move_by_offset(round((end[0] - start[0]) * SCALE / 4), round((end[1] - start[1]) * SCALE / 4))
    chain.release().perform()


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` → (size, mtime in ns)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_paint_arrow_rerender_approve_export(made, server, browser, tmp_path):
    original = (made / "cinemagraph.mp4").read_bytes(), load_mask(made / "mask.png")
    browser.get(server)
    wait_for(lambda: browser.find_elements("css selector", ".card")).pop().click()
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready") == "0")
    shown = json.loads((made / "meta.json").read_text())["prompt"]  # the rewriter drops the tags, keeps & and "
    assert browser.find_element("id", "item-prompt").text == shown and '&' in shown
    assert browser.execute_script("return document.querySelectorAll('#item-prompt *').length") == 0
    browser.execute_script("document.getElementById('brush').value = 12")
    drag(browser, (50, 40), (100, 40))  # paint the part the mask missed, joined to it
    browser.find_element("id", "tool-arrow").click()
    drag(browser, (80, 40), (104, 40))  # this part flows to the right (a waterfall would fall)
    browser.find_element("id", "rerender").click()
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready") == "1", timeout=30)
    assert "version 1 rendered" in browser.find_element("id", "message").text

    version = made / "review/items/out/v0001"
    mask = load_mask(version / "mask.png")
    assert mask[36:45, 56:100].all() and mask[20:60, 20:60].all()  # the stroke and the old mask
    assert not mask[80:].any() and not mask[:, 110:].any()
    flow = np.load(version / "flow.npy")
    assert (flow[0][mask] > 0.5).all() and (np.abs(flow[1][mask]) < 0.2 * flow[0][mask]).all()
    assert not flow[:, ~mask].any()
    frames = read_video(version / "cinemagraph.mp4")
    static = ~cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(frames[:, static].astype(int) - frames[0][static].astype(int)).mean() < 2.0
    assert np.abs(frames[8][mask].astype(int) - frames[0][mask].astype(int)).mean() > 5.0
    assert (made / "cinemagraph.mp4").read_bytes() == original[0]  # version 0 kept as it was
    assert np.array_equal(load_mask(made / "mask.png"), original[1])

    browser.find_element("id", "approve").click()
    wait_for(lambda: "approved" in browser.find_element("id", "message").text)
    from flows.cli import main

    assert main(["review", "--export", str(made), str(tmp_path / "export")]) == 0
    assert (tmp_path / "export/out/cinemagraph.mp4").read_bytes() == (version / "cinemagraph.mp4").read_bytes()
    assert json.loads((tmp_path / "export/out/settings.json").read_text())["steps"] == ["mask", "flow", "video"]


def post(url: str, path: str, body: object) -> tuple[int, str]:
    """POST JSON to the app → (status, error message)."""
    request = urllib.request.Request(url.replace("/?", f"/{path}?"), json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())["error"]


def png_url(picture: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(picture).decode()


def test_hostile_requests_are_refused_and_change_nothing(made, server):
    blank_png(made / "bomb.png", 10000, 10000)
    (made / "notes.png").write_text("not a picture")
    (made / "link.png").symlink_to(made / "artistic.png")
    before = tree(made)
    painted = cv2.imencode(".png", np.full((SIZE, SIZE), 255, np.uint8))[1].tobytes()
    head = made / "review/items/out/head.json"
    revision = json.loads(head.read_text())["revision"] if head.is_file() else 0
    edit = {"base": revision, "source": "direction", "speed": 1.0, "hints": []}
    cases = {
        "token": (server.split("?")[0] + "api/items", ""),
        "dotdot": post(server, "api/open", {"path": "../out/artistic.png"}),
        "absolute": post(server, "api/open", {"path": str(made / "artistic.png")}),
        "symlink": post(server, "api/open", {"path": "link.png"}),
        "bomb": post(server, "api/open", {"path": "bomb.png"}),
        "non-image": post(server, "api/open", {"path": "notes.png"}),
        "bomb mask": post(server, "api/items/out/render", {**edit, "mask": png_url((made / "bomb.png").read_bytes())}),
        "text mask": post(server, "api/items/out/render", {**edit, "mask": png_url(b"hello")}),
        "bad arrow": post(server, "api/items/out/render", {**edit, "mask": png_url(painted), "hints": [{"x": 1}]}),
        "stale tab": post(server, "api/items/out/render", {**edit, "mask": png_url(painted), "base": revision + 1}),
        "unknown item": post(server, "api/items/..%2F..%2Fetc/undo", {"base": 0}),
    }
    try:
        urllib.request.urlopen(cases["token"][0])
    except urllib.error.HTTPError as refused:
        cases["token"] = refused.code, json.loads(refused.read())["error"]
    for name, (status, message) in cases.items():
        assert 400 <= status < 500 and message, name
    assert cases["token"][0] == 403 and "token" in cases["token"][1]
    assert "pixels" in cases["bomb"][1] and "pixels" in cases["bomb mask"][1]
    assert "as an image" in cases["non-image"][1] and "arrow 1" in cases["bad arrow"][1]
    assert cases["stale tab"][0] == 409 and "another tab" in cases["stale tab"][1]
    assert tree(made) == before
