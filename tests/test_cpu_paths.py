"""`cinemagraph pipeline` pins the numerical libraries' kernels before they load (stages.cpu_paths)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stages.cpu_paths import pin_cpu_paths

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
sys.argv = ["cinemagraph", "pipeline", "--help"]
from flows.cli import program
try:
    program()
except SystemExit:
    pass
import os, torch
print(json.dumps({"aten": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
                  "onednn": os.environ["ONEDNN_MAX_CPU_ISA"], "mkl": os.environ["MKL_CBWR"]}))
"""
"""The command line's pipeline entry, then the kernels torch reports it uses and what oneDNN and MKL read."""


def test_the_pipeline_command_runs_torch_on_its_pinned_path():
    found = json.loads(subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1])
    assert found == {"aten": "AVX2", "threads": 1, "onednn": "AVX2", "mkl": "AVX2,STRICT"}


def test_pinning_after_a_library_loaded_is_refused():
    import torch  # noqa: F401  (loaded, as in this test process)

    with pytest.raises(RuntimeError, match="torch"):
        pin_cpu_paths()
