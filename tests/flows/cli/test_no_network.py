"""No network at run time: a Ray-backed stage, with every process of its tree traced, talks to loopback only."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.paths import ROOT
ADDRESS = re.compile(r'sa_family=AF_INET6?, (?:sin6?_port=htons\((\d+)\)), .*?(?:inet_addr\("([^"]+)"\)|'
                     r'inet_pton\(AF_INET6, "([^"]+)")')


def outside_connections(trace: str) -> list[str]:
    """connect/sendto calls of a strace log to anything but loopback, and every DNS query (port 53)."""
    found = []
    for line in trace.splitlines():
        match = ADDRESS.search(line)
        if not match:
            continue
        port, address = int(match.group(1)), match.group(2) or match.group(3)
        loopback = address.startswith(("127.", "::ffff:127.")) or address in ("::1", "::")
        if port == 53 or not loopback:
            found.append(line.strip()[:200])
    return found


def test_outside_connections_are_recognised():
    trace = ('12 connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("169.254.169.254")}, 16)\n'
             '13 connect(4, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16)\n'
             '14 connect(5, {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}, 16)\n'
             '15 connect(6, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
             'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28)\n')
    assert [line.split()[0] for line in outside_connections(trace)] == ["12", "13", "15"]


def test_a_ray_stage_makes_no_outside_connection_or_lookup(tmp_path):
    assert shutil.which("strace"), "strace is needed (make setup installs it)"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synth"].update(count=2, height=32, width=48, frames=6)
    params["run"].update(executor="ray", store=str(tmp_path / "store"), object_store_mb=128)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "RAY_ADDRESS"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(tmp_path / "trace"),
               "cinemagraph", "pipeline", "synth", "--params", str(tmp_path / "params.yaml")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "synth: 2 ok" in done.stdout, done.stdout + done.stderr[-2000:]
    assert outside_connections((tmp_path / "trace").read_text()) == []
