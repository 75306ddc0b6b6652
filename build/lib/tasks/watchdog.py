"""Nothing left behind by a killed driver: a watchdog process that ends the driver's helpers after it dies.

A run starts helpers of its own — Prefect's temporary server, Ray's local cluster (GCS, raylet, agents,
workers). When the driver exits normally it stops them; when it is killed (``kill -9``, an out-of-memory
kill) they would live on as orphans. :func:`start_watchdog` starts a small process in a session of its own
that notes the driver's descendants every second and, once the driver is gone, terminates the ones it saw
(then kills those still alive after a grace period). A process is matched by pid and start time, so a
reused pid is never touched.

Run as ``python -m tasks.watchdog DRIVER_PID``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil

POLL_S = 1.0
GRACE_S = 5.0


def start_watchdog(driver_pid: int | None = None) -> subprocess.Popen:
    """Start the watchdog of ``driver_pid`` (default: this process) in its own session → its process."""
    return subprocess.Popen([sys.executable, "-m", "tasks.watchdog", str(driver_pid or os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)


def watch(driver_pid: int) -> list[int]:
    """Follow ``driver_pid`` until it ends, then end the descendants last seen → their pids."""
    try:
        driver = psutil.Process(driver_pid)
    except psutil.NoSuchProcess:
        return []
    seen: dict[int, float] = {}
    while driver.is_running() and driver.status() != psutil.STATUS_ZOMBIE:
        try:
            seen.update({child.pid: child.create_time() for child in driver.children(recursive=True)})
        except psutil.Error:
            pass
        time.sleep(POLL_S)
    survivors = []
    for pid, started in seen.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == started and pid != os.getpid():
                survivors.append(process)
        except psutil.Error:
            continue
    for process in survivors:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(survivors, timeout=GRACE_S)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    return [process.pid for process in survivors]


if __name__ == "__main__":
    watch(int(sys.argv[1]))
