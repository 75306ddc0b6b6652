"""Hostile and careless input files for tests/test_hostile.py, made in milliseconds."""

from __future__ import annotations

import io
import pickle
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path

import lz4.frame
import numpy as np

_CHUNK = 1 << 20


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(path: Path, width: int, height: int, pixels: bool = True) -> Path:
    """A valid 8-bit gray PNG of width × height black pixels (a decompression bomb when large: about 1 KB of
    file per MB of pixels), or with ``pixels`` False a header declaring that size and no pixel data at all.

    The deflate stream repeats one fully flushed block of zeros, so making a gigapixel bomb costs one block.
    """
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = b""
    if pixels:
        total = height * (width + 1)  # each row: filter byte 0, then the pixels
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = compressor.compress(bytes(_CHUNK)) + compressor.flush(zlib.Z_FULL_FLUSH)
        checksum = 1
        zeros = bytes(_CHUNK)
        for _ in range(total // _CHUNK):
            checksum = zlib.adler32(zeros, checksum)
        rest = bytes(total % _CHUNK)
        tail = compressor.compress(rest) + compressor.flush(zlib.Z_FINISH)
        checksum = zlib.adler32(rest, checksum)
        data = b"\x78\xda" + block * (total // _CHUNK) + tail + struct.pack(">I", checksum)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b""))
    return path


def npy_header_only(path: Path, shape: tuple[int, ...], dtype: str = "<f4") -> Path:
    """A .npy file whose header declares ``shape`` but which holds no values."""
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": dtype, "fortran_order": False, "shape": shape})
    return path


def motion_file(path: Path, value: object) -> Path:
    """A ``*_motion.pth`` file (lz4-frame-compressed pickle) holding ``value``."""
    path.write_bytes(lz4.frame.compress(pickle.dumps(value, protocol=4)))
    return path


class Hostile:
    """Unpickling this runs a shell command: what a hostile pickle does."""

    def __reduce__(self):
        import os

        return (os.system, ("echo this should never run",))


def torch_pickle(path: Path) -> Path:
    """A torch.save file holding a hostile object."""
    import torch

    buffer = io.BytesIO()
    torch.save({"weights": Hostile()}, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def peak_tree_memory(argv: list[str], env: dict[str, str], scratch: Path) -> tuple[int, float, str]:
    """Run ``argv`` and poll the resident memory of its whole process tree → (peak bytes, seconds, stderr).

    The peak is the larger of the polled sum over the tree and, where GNU time is installed, the largest
    resident size of the command or a child it waited for (seen even between two polls). GNU time starts the
    command from its own small process: a fork of this test process would count this process's memory."""
    import psutil

    gnu_time = shutil.which("time", path="/usr/bin")
    report = scratch / "maxrss.txt"
    report.unlink(missing_ok=True)
    started = time.perf_counter()
    wrapped = [gnu_time, "-f", "%M", "-o", str(report), *argv] if gnu_time else argv
    process = subprocess.Popen(wrapped, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            if watched.cmdline() == wrapped:  # exec'd: no longer a copy of this process
                peak = max(peak, sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    err = process.stderr.read()
    process.stderr.close()
    if report.is_file():
        peak = max(peak, int(report.read_text().split()[-1]) * 1024)
    return peak, seconds, err
