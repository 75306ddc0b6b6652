"""A Prefect server for one run, started first so that it comes up while the run does its other start-up work.

Without ``PREFECT_API_URL``, Prefect starts a temporary server inside the process's first flow run, after
importing its server code there, and only then does the run go on: ~10 s of a stage's start-up one after the
other. :func:`prefect_api` instead starts ``prefect server start`` (loopback only, no UI) as a subprocess
before anything heavy is imported and points ``PREFECT_API_URL`` at it; a thread waits for its health check
and warms it up meanwhile, and :meth:`PrefectServer.wait` joins that thread just before the first flow run.
The server is stopped when the block ends (a watchdog ends it if the process is killed, tasks.watchdog). A
``PREFECT_API_URL`` already set — the user's server, or the one ``python -m tasks.prefect_server COMMAND``
shares with every stage of a ``dvc repro`` — is used as it is.

    python -m tasks.prefect_server dvc repro      # one server for every stage; stopped afterwards, always
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import tasks.prefect_env  # noqa: F401  (PREFECT_HOME and the other defaults, for the server too)

START_TIMEOUT_S = float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
STOP_GRACE_S = 10.0


class PrefectServer:
    """A ``prefect server start`` subprocess on a free loopback port; its output goes to ``server.log`` in
    PREFECT_HOME. A thread of this process waits for it to come up and then warms it up (below), so that both
    happen while the process imports its code."""

    SERVICES = {"PREFECT__SERVER_EPHEMERAL": "1"}
    """Only the background services Prefect runs in the temporary servers it starts itself: task runs, events
    and logs are recorded; the scheduler, the work-pool monitor and the other services of a long-lived server
    (nothing here uses them) would cost the run's CPUs ~4 % of a core."""

    WARM_UP = (("GET", "/admin/version", None), ("POST", "/flow_runs/filter", b'{"limit": 1}'))
    """Read-only requests a flow run's first ones pay ~0.25 s for when the server has not answered them yet
    (the version check, the first query of its database)."""

    def __init__(self, services: bool = False):
        """Start the server; ``services``: every background service of a long-lived server (the scheduler
        creating the runs of deployments' schedules among them), else only :data:`SERVICES`."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.log = Path(os.environ["PREFECT_HOME"]) / "server.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--no-ui", "--analytics-off"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **({} if services else self.SERVICES)})
        self._failure: ConnectionError | None = None
        self._coming_up = threading.Thread(target=self._come_up, name="prefect-server-start", daemon=True)
        self._coming_up.start()

    def wait(self) -> None:
        """Return once the server answers (and is warmed up); ConnectionError (one line) when it exits or does
        not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
        self._coming_up.join()
        if self._failure is not None:
            raise self._failure

    def _come_up(self) -> None:
        """Poll the health check until it answers, then send :data:`WARM_UP` (their answers do not matter)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers("GET", "/health", None):
            if self.process.poll() is not None:
                self._failure = ConnectionError(f"the Prefect server exited with status {self.process.returncode} "
                                                f"(its output: {self.log})")
                return
            if time.monotonic() > deadline:
                self._failure = ConnectionError(
                    f"the Prefect server did not answer within {START_TIMEOUT_S:g} s (its output: {self.log}; "
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS sets the limit)")
                return
            time.sleep(0.05)
        for method, path, body in self.WARM_UP:
            self._answers(method, path, body)

    def _answers(self, method: str, path: str, body: bytes | None) -> bool:
        """Whether the server answers the request (any HTTP status) within a second."""
        request = urllib.request.Request(f"{self.api_url}{path}", data=body, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (terminate, then kill after a grace period)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ExternalServer:
    """The server at PREFECT_API_URL (someone else's to start and stop)."""

    def wait(self) -> None:
        """Nothing to wait for here: Prefect reports an unreachable server itself."""


@contextmanager
def prefect_api() -> Iterator[PrefectServer | ExternalServer]:
    """A Prefect API for the block: PREFECT_API_URL's, else a :class:`PrefectServer` started now (call its
    ``wait()`` before the first flow run), stopped when the block ends.

    Prefect reads its settings when it is imported: where that happened already, the server is named to it
    through its settings too (without, its first flow run would start a temporary server of its own, ~10 s)."""
    if os.environ.get("PREFECT_API_URL"):
        yield ExternalServer()
        return
    server = PrefectServer()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with prefect_settings(server.api_url):
            yield server
    finally:
        del os.environ["PREFECT_API_URL"]
        server.stop()


@contextmanager
def prefect_settings(api_url: str) -> Iterator[None]:
    """When Prefect is imported already: its settings point at ``api_url`` for the block (else nothing to do:
    it reads PREFECT_API_URL when imported)."""
    if "prefect" not in sys.modules:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        yield


def run_with_server(command: list[str]) -> int:
    """Run ``command`` with one Prefect server for all its processes (PREFECT_API_URL's when set) → its exit
    status. The server is stopped however the command ends: SIGTERM and SIGHUP are passed on to the command
    (Ctrl-C reaches it from the terminal), and a watchdog ends both if this process is killed."""
    from tasks.watchdog import start_watchdog

    start_watchdog()
    with prefect_api() as server:
        server.wait()
        process = subprocess.Popen(command)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda received, _frame: process.send_signal(received))
        signal.signal(signal.SIGINT, lambda _signum, _frame: None)
        status = process.wait()
        return 128 - status if status < 0 else status  # killed by a signal: the shell's convention


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(f"usage: python -m tasks.prefect_server COMMAND [ARGUMENT ...]\n{__doc__.splitlines()[0]}")
    try:
        sys.exit(run_with_server(sys.argv[1:]))
    except OSError as error:  # the server did not come up, or the command was not found
        sys.exit(f"tasks.prefect_server: {error}")
    except KeyboardInterrupt:  # while the server was starting
        sys.exit(130)
