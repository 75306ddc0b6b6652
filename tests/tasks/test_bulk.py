"""Bulk runs: a bad manifest refused with every bad row, ids from content, a run stopped by SIGKILL, by
Ctrl-C and by a disk filling during an item's commit and started again giving the uninterrupted run's bytes
with one row per id, the run lock."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.cli import main
from stages.errors import InputError
from tasks.bulk.journal import PARTIAL
from tasks.bulk.lock import RunLock
from tasks.bulk.manifest import read_manifest
from tasks.bulk.runner import BulkRun
from tasks.bulk.steps import check_settings

from tests.learned_helpers import flow_checkpoint
from tests.paths import ROOT

PROMPTS = ["a large river flowing in front of a mountain, oil painting", "a waterfall between green hills, watercolor",
           "a stormy sea under dark clouds, ukiyo-e", "a calm lake under the moon, pastel drawing",
           "clouds drifting over a field, impressionist painting"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, quick_segmenter):
    """A folder with params.yaml (64², 6-frame loops in mp4 and npz, a quickly trained segmenter, an untrained
    G_flow)."""
    root = tmp_path_factory.mktemp("bulk")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    flow_checkpoint(root / "g_flow", seed=4)
    params["twins"].update(height=64, width=64)
    params["mask"].update(checkpoint=str(quick_segmenter))
    params["flow"].update(flow_model=str(root / "g_flow"))
    params["video"].update(frames=6, formats=["mp4", "npz"])
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


@pytest.fixture(scope="module")
def prefect_url():
    """One Prefect server for the module's commands and subprocesses."""
    from tasks.prefect_server import PrefectServer

    server = PrefectServer()
    server.wait()
    yield server.api_url
    server.stop()


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_bad_manifest_is_refused_with_every_bad_row(tmp_path, project):
    rows = [{"id": "a", "prompt": "a river", "seed": "1", "image": ""},
            {"id": "a", "prompt": "a lake", "seed": "", "image": ""},          # repeated id
            {"id": "b", "prompt": " ", "seed": "", "image": ""},               # empty prompt
            {"id": "c", "prompt": "a sea", "seed": "-4", "image": ""},         # bad seed
            {"id": "../d", "prompt": "a sea", "seed": "", "image": ""},        # unsafe id
            {"id": "e", "prompt": "a sea", "seed": "x", "image": "gone.png"}]  # bad seed and a missing image
    with pytest.raises(InputError) as refused:
        read_manifest(write_csv(tmp_path / "bad.csv", rows))
    message = str(refused.value)
    assert "5 bad row(s)" in message
    for expected in ("row 2: id 'a' repeats row 1", "row 3: empty prompt", "row 4: seed", "row 5: bad item id",
                     "row 6: image 'gone.png' not found; seed"):
        assert expected in message, expected
    with pytest.raises(InputError, match="unknown column.*colour"):
        read_manifest(write_csv(tmp_path / "unknown.csv", [{"prompt": "a river", "colour": "red"}]))
    with pytest.raises(InputError, match="frames must be an integer"):
        read_manifest(write_csv(tmp_path / "frames.csv", [{"prompt": "a river", "frames": "1.5"}]))
    code = main(["bulk", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "run"), "--params",
                 str(project / "params.yaml")])
    assert code == 2 and not (tmp_path / "run").exists()  # refused before any work


def test_ids_and_seeds_come_from_content_not_position(tmp_path):
    first = read_manifest(write_csv(tmp_path / "a.csv", [{"prompt": p} for p in PROMPTS[:2]]))
    pd.DataFrame([{"prompt": p} for p in [PROMPTS[4], *PROMPTS[:2]]]).to_json(tmp_path / "b.jsonl", orient="records",
                                                                             lines=True)
    second = read_manifest(tmp_path / "b.jsonl")
    assert [(s.id, s.seed) for s in first] == [(s.id, s.seed) for s in second[1:]]
    assert len({s.id for s in second}) == 3 and len({s.seed for s in second}) == 3


def in_process_run(manifest: Path, run_dir: Path, project: Path, store: Path, workers: int = 1) -> BulkRun:
    """A bulk run of ``manifest`` into ``run_dir`` with the project's settings and its own ``store``, started
    (locked and planned) in this process, without Prefect."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    specs = read_manifest(manifest)
    run = BulkRun(specs, run_dir, check_settings({**params, "run": {**params["run"], "store": str(store)}}, specs),
                  workers)
    run.start()
    return run


def bulk_command(manifest: Path, run_dir: Path, project: Path, store: Path) -> list[str]:
    """``cinemagraph bulk`` of ``manifest`` into ``run_dir`` with the project's settings and its own ``store``."""
    return [sys.executable, "-c", "from flows.cli import program; program()", "bulk", str(manifest), "-o",
            str(run_dir), "--params", str(project / "params.yaml"), "--set", f"run.store={store}"]


def item_files(run_dir: Path) -> dict[Path, bytes]:
    """Every file under ``RUN/items`` → its bytes."""
    return {p.relative_to(run_dir): p.read_bytes() for p in (run_dir / "items").rglob("*") if p.is_file()}


def journal_rows(run_dir: Path) -> int:
    """Lines of the run's journal (0 before the first)."""
    journal = run_dir / "journal.jsonl"
    return len(journal.read_text().splitlines()) if journal.is_file() else 0


@pytest.fixture(scope="module")
def reference(project, tmp_path_factory):
    """A 20-row manifest and its uninterrupted run (in a store of its own): what a stopped run, started again,
    must give → (manifest, run folder)."""
    root = tmp_path_factory.mktemp("reference")
    rows = [{"id": f"p{number:02d}", "prompt": f"{PROMPTS[number % 5]}, number {number}"} for number in range(20)]
    manifest = write_csv(root / "manifest.csv", rows)
    assert in_process_run(manifest, root / "run", project, root / "store").run_all()["total_done"] > 10
    return manifest, root / "run"


def test_a_killed_run_resumes_to_the_uninterrupted_bytes(tmp_path, project, reference, prefect_url):
    manifest, expected_run = reference
    command = bulk_command(manifest, tmp_path / "killed", project, tmp_path / "store-b")
    env = {**os.environ, "PREFECT_API_URL": prefect_url, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and journal_rows(tmp_path / "killed") < 6:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    killed_at = journal_rows(tmp_path / "killed")
    assert 6 <= killed_at < 20, "the kill must land mid-run"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]

    results = pd.read_parquet(tmp_path / "killed" / "results.parquet")
    ids = [spec.id for spec in read_manifest(manifest)]
    assert sorted(results.id) == ids and results.id.is_unique
    expected = pd.read_parquet(expected_run / "results.parquet")
    assert dict(zip(results.id, results.status)) == dict(zip(expected.id, expected.status))
    assert dict(zip(results.id, results.key)) == dict(zip(expected.id, expected.key))  # keys: content only
    assert item_files(tmp_path / "killed") == item_files(expected_run)
    assert not list((tmp_path / "killed" / "items").glob(".partial-*"))
    resumed = results[results.id.isin(ids[killed_at + 1:])]
    assert (resumed.computed != "[]").all()  # computed after the restart: nothing was done twice before it
    status = subprocess.run(command[:3] + ["bulk", "status", str(tmp_path / "killed")], env=env,
                            capture_output=True, text=True)
    assert "0 remaining of 20" in status.stdout and "not running" in status.stdout


def test_ctrl_c_commits_the_items_running_starts_no_other_and_a_restart_completes(tmp_path, project, reference,
                                                                                  prefect_url):
    manifest, expected_run = reference
    run_dir = tmp_path / "run"
    env = {**os.environ, "PREFECT_API_URL": prefect_url, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([*bulk_command(manifest, run_dir, project, tmp_path / "store"), "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and journal_rows(run_dir) < 4:
        time.sleep(0.01)
    at_signal = journal_rows(run_dir)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted" in stderr

    committed = journal_rows(run_dir)
    assert at_signal <= committed <= at_signal + 3 < 20  # the items running when it came (one per worker), no more
    assert len(pd.read_parquet(run_dir / "results.parquet")) == committed  # written after the last commit
    assert (run_dir / "bulk.lock").read_text() == ""  # released, after that
    assert not list((run_dir / "items").glob(".partial-*"))

    restart = in_process_run(manifest, run_dir, project, tmp_path / "store")
    assert len(restart.plan.todo) == 20 - committed  # what was committed is never run again
    assert restart.run_all()["stopped"] is None
    assert len(pd.read_parquet(run_dir / "results.parquet")) == 20
    assert item_files(run_dir) == item_files(expected_run)


def test_a_disk_filling_during_a_commit_stops_the_run_and_a_restart_completes(tmp_path, project, reference,
                                                                              monkeypatch):
    manifest, expected_run = reference
    run_dir, link, linked = tmp_path / "run", os.link, []

    def disk_full_in_p04(source, target, **options):
        """Hard links as usual, but the disk is full once p04's first file is linked into its run folder."""
        if f"{PARTIAL}p04" in str(target):
            linked.append(target)
            if len(linked) > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return link(source, target, **options)

    monkeypatch.setattr(os, "link", disk_full_in_p04)
    summary = in_process_run(manifest, run_dir, project, tmp_path / "store").run_all()
    assert "the disk filled during item p04" in summary["stopped"] and "No space left" in summary["stopped"]
    assert list(pd.read_parquet(run_dir / "results.parquet").id) == ["p00", "p01", "p02", "p03"]
    assert sorted(path.name for path in (run_dir / "items").iterdir()) == ["p00", "p01", "p02", "p03"]
    assert journal_rows(run_dir) == 4 and (run_dir / "bulk.lock").read_text() == ""

    monkeypatch.undo()  # space freed
    restart = in_process_run(manifest, run_dir, project, tmp_path / "store")
    assert len(restart.plan.todo) == 16
    assert restart.run_all()["stopped"] is None
    results = pd.read_parquet(run_dir / "results.parquet")
    assert sorted(results.id) == [spec.id for spec in read_manifest(manifest)]
    assert results.set_index("id").computed["p04"] == "[]"  # its steps were stored before the disk filled
    assert item_files(run_dir) == item_files(expected_run)


def hold_lock(run_dir: Path) -> subprocess.Popen:
    """A process that takes ``run_dir``'s run lock and sleeps (it says "held" once it holds it)."""
    code = ("import sys, time; from tasks.bulk.lock import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_and_a_dead_holder_taken_over(tmp_path, project, prefect_url, monkeypatch, capsys):
    holder = hold_lock(tmp_path / "run")
    try:
        with pytest.raises(InputError, match=f"in use by another bulk run \\(pid {holder.pid} "):
            RunLock(tmp_path / "run").acquire()
        monkeypatch.setenv("PREFECT_API_URL", prefect_url)
        write_csv(tmp_path / "m.csv", [{"prompt": PROMPTS[0]}])
        code = main(["bulk", str(tmp_path / "m.csv"), "-o", str(tmp_path / "run"), "--params",
                     str(project / "params.yaml")])
        assert code == 2 and f"pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path / "run").acquire()
    assert lock.previous["pid"] == holder.pid  # the dead holder's lock, taken over
    lock.release()
    code = main(["bulk", str(tmp_path / "m.csv"), "-o", str(tmp_path / "full"), "--params",
                 str(project / "params.yaml"), "--keep-free-mb", "1e12"])
    assert code == 2 and "not enough free space" in capsys.readouterr().err
    assert not (tmp_path / "full" / "journal.jsonl").exists()
