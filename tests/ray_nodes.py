"""Ray nodes on this machine for tests: each a ``ray start --block`` process on loopback, which owns its
node's processes (raylet, agents, workers), so one node can be killed whole and the others stopped cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RayNode:
    """One node: the head (``address`` None; the cluster's address is then :attr:`address`) or a node joining
    ``address``; ``cpus`` CPUs, no GPU, a small object store, no dashboard, nothing off loopback.
    ``env``: the node's environment (without the project's folder on PYTHONPATH: code reaches workers the way
    it reaches a real cluster's, shipped by the driver)."""

    def __init__(self, cpus: int, env: dict, address: str | None = None, temp_dir: Path | None = None):
        ports = {"--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                 "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port()}
        command = [RAY, "start", "--block", "--num-cpus", str(cpus), "--num-gpus", "0", "--node-ip-address",
                   "127.0.0.1", "--object-store-memory", str(100 * 1024 * 1024), "--disable-usage-stats",
                   *(str(part) for pair in ports.items() for part in pair)]
        if address is None:
            self.address = f"127.0.0.1:{free_port()}"
            command += ["--head", "--port", self.address.split(":")[1], "--include-dashboard", "false",
                        "--temp-dir", str(temp_dir)]
        else:
            self.address = address
            command += ["--address", address]
        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)

    def processes(self) -> list[psutil.Process]:
        """The node's processes: ``ray start`` and everything it started."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL every process of the node at once (a lost machine)."""
        for process in self.processes():
            try:
                process.kill()
            except psutil.Error:
                pass
        self.process.wait()

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop the node (SIGTERM to ``ray start``, which ends its processes), then kill what is left."""
        processes = self.processes()
        self.process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=grace_s)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        self.process.wait()


def wait_for_nodes(address: str, count: int, env: dict, timeout_s: float = 60.0) -> None:
    """Return once the cluster at ``address`` has ``count`` live nodes (TimeoutError otherwise)."""
    code = ("import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(node['Alive'] for node in ray.nodes()))")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = subprocess.run([sys.executable, "-c", code, address], env=env, capture_output=True, text=True)
        if answer.stdout.strip() == str(count):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the Ray cluster at {address} did not reach {count} nodes")
