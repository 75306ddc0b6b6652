"""A headless Chromium for the tests of HTML pages (skipped where none is installed), and what they check."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if Path(p).is_file()), None)
NEEDS_CHROMIUM = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no Chromium/chromedriver found (apt-get install chromium chromium-driver)")
TRICKY_PROMPT = 'a river <b>flowing</b> & "shining" <script>window.injected = 1</script> ünïcode'
FRAMES, FPS = 12, 10  # 1.2 s loops


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1200,900"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 10.0):
    """Poll ``condition()`` until it returns something truthy (returned) or time runs out (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the page")


VIDEO_STATES = """return Array.from(document.querySelectorAll('video')).filter(v => v.offsetParent !== null).map(v =>
  ({autoplay: v.autoplay, muted: v.muted, loop: v.loop, inline: v.playsInline, paused: v.paused, ended: v.ended,
    time: v.currentTime, duration: v.duration, error: v.error ? v.error.code : null}))"""


def check_videos_play_and_loop(driver) -> None:
    """Every visible video autoplays muted, inline and looping, and is still playing after one loop."""
    states = wait_for(lambda: (lambda s: s if s and all(v["time"] > 0 for v in s) else None)(
        driver.execute_script(VIDEO_STATES)))
    assert all(v["autoplay"] and v["muted"] and v["loop"] and v["inline"] and v["error"] is None for v in states)
    time.sleep(FRAMES / FPS + 0.5)
    after = driver.execute_script(VIDEO_STATES)
    assert all(not v["paused"] and not v["ended"] for v in after), after
    assert all(v["duration"] == pytest.approx(FRAMES / FPS, abs=0.15) for v in after)
