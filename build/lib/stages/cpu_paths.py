"""One kernel path on every x86-64 CPU with AVX2: the settings that make torch's bytes independent of the CPU.

torch picks kernels by the instructions a CPU has (AVX-512, AVX2, …) and splits work over its cores; kernels
of different widths and teams of different sizes sum in different orders, so training on another CPU gives
other last bits, and every stage that reads the weights follows. :func:`pin_cpu_paths` fixes both through
settings the libraries read once when they load — so it must run before torch loads, and refuses to run
after. ``benchmarks/cpu_paths.py`` measures what each setting changes; numpy, OpenBLAS, Numba and OpenCV
gave the same bytes on every forced path, so they are left as they are.
"""

from __future__ import annotations

import os
import sys

PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2,STRICT",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
"""Environment variables → value: ATen's vector kernels, oneDNN's and MKL's (torch's matrix products; MKL
takes AVX-512 kernels on Intel CPUs only) at AVX2, and one thread per operation for torch and MKL."""

LIBRARIES = ("torch",)
"""Libraries that read the settings when they load."""


def pin_cpu_paths() -> None:
    """Set :data:`PINNED` in this process's environment (child processes, Ray's workers included, inherit
    it). Call it before any of :data:`LIBRARIES` is imported; raises RuntimeError after."""
    loaded = [name for name in LIBRARIES if name in sys.modules]
    if loaded:
        raise RuntimeError(f"pin_cpu_paths() must run before {', '.join(loaded)} is imported")
    os.environ.update(PINNED)
