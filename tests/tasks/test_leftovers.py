"""A killed process leaves nothing behind: no orphaned helpers, no staging folders that live forever."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from tasks.store import Store

from tests.paths import ROOT


def python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, **kwargs)


def test_a_dead_writers_staging_is_cleaned_and_a_live_writers_is_kept(tmp_path):
    writer = """
        import os, sys, time
        from tasks.store import Store
        def build(folder):
            (folder / "half.bin").write_bytes(b"x" * 1000)
            print("writing", flush=True)
            time.sleep(60) if sys.argv[1] == "live" else os._exit(9)
        Store(sys.argv[2]).put(sys.argv[1] * 8, build)
        """
    store = tmp_path / "store"
    dead = subprocess.run([sys.executable, "-c", textwrap.dedent(writer), "dead", str(store)], cwd=ROOT)
    assert dead.returncode == 9
    live = subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer), "live", str(store)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing"
        folders = sorted(p.name[:4] for p in (store / "tmp").iterdir() if p.is_dir())
        assert folders == ["dead", "live"]
        removed = Store(store).clean_staging(min_age_s=0)
        assert [p.name[:4] for p in removed] == ["dead"]
        assert [p.name[:4] for p in (store / "tmp").iterdir() if p.is_dir()] == ["live"]
        assert Store(store).clean_staging(min_age_s=3600) == []  # young leftovers wait
    finally:
        live.kill()
        live.wait()


def test_the_watchdog_ends_the_helpers_of_a_killed_driver():
    driver = python("""
        import subprocess, sys, time
        from tasks.watchdog import start_watchdog
        start_watchdog()
        helper = subprocess.Popen(["sleep", "300"], start_new_session=True)  # like a server in its own session
        print(helper.pid, flush=True)
        time.sleep(300)
        """, stdout=subprocess.PIPE, text=True)
    helper = int(driver.stdout.readline())
    time.sleep(2.5)  # the watchdog notes the driver's children every second
    assert psutil.pid_exists(helper)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and psutil.pid_exists(helper) \
            and psutil.Process(helper).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.2)
    assert not psutil.pid_exists(helper) or psutil.Process(helper).status() == psutil.STATUS_ZOMBIE
