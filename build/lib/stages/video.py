"""Writing and reading videos with ffmpeg (the binary shipped by imageio-ffmpeg; no system ffmpeg needed).

Frames are uint8 (N, H, W, 3) RGB arrays or iterables of uint8 (H, W, 3). The output format follows the
file suffix: ``.mp4`` (H.264, yuv420p, faststart), ``.webm`` (VP9), ``.gif`` (palette, loops forever) and
``.npz`` (lossless, key ``frames``, shape (N, H, W, 3); uncompressed unless asked).

Writing streams: frames are handed one by one to a writer thread (a short queue) that feeds the encoder,
so the caller renders the next frames while earlier ones are encoded, and memory does not depend on the
number of frames — except for ``.gif`` (ffmpeg's palettegen sees every frame before the first is written,
so ffmpeg holds the whole video) and for ``.npz`` from an iterable without ``len()`` (the header states the
frame count first, so such frames are collected before writing).
"""

from __future__ import annotations

import os
import tempfile
import threading
import zipfile
from pathlib import Path
from queue import Queue
from typing import Iterable

import ffmpeg
import imageio_ffmpeg
import numpy as np

from stages.errors import InputError
from stages.files import make_public

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".npz")
QUEUE_FRAMES = 4
"""Frames waiting for the writer thread at most."""


def check_video_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if its suffix is a supported video format, else raise InputError."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"unsupported output {path.name!r}: use one of {', '.join(VIDEO_SUFFIXES)}")
    return path


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """Replicate the last row/column so both sides are even (H.264 and VP9 in yuv420p need that)."""
    height, width = frame.shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    return np.pad(frame, pad, mode="edge") if height % 2 or width % 2 else frame


def _encoder_args(suffix: str, fps: float, quality: int) -> tuple[dict, str | None]:
    """ffmpeg output keyword arguments for a suffix, and a filter graph if one is needed."""
    if suffix == ".mp4":
        return dict(vcodec="libx264", pix_fmt="yuv420p", crf=quality, preset="medium",
                    movflags="+faststart", r=fps), None
    if suffix == ".webm":
        return dict(vcodec="libvpx-vp9", pix_fmt="yuv420p", crf=quality + 12, **{"b:v": 0}, r=fps), None
    return dict(loop=0, r=fps), "gif"


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0, quality: int = 18,
                compress: bool = False) -> Path:
    """Encode frames to ``path`` atomically (written beside it, then renamed); returns the path.

    ``frames``: uint8 (N, H, W, 3) or an iterable of uint8 (H, W, 3), consumed while earlier frames are
    encoded. ``quality`` is the H.264 CRF (lower = better; 18 is visually lossless). ``.npz`` is exact;
    ``compress`` deflates it (smaller, several times slower to write).
    """
    path = check_video_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    handle, tmp_name = tempfile.mkstemp(suffix=suffix, dir=path.parent, prefix=f".{path.stem}.")
    os.close(handle)
    tmp = Path(tmp_name)
    make_public(tmp)
    try:
        if suffix == ".npz":
            try:
                count = len(frames)
            except TypeError:  # the header states the count first
                frames = list(frames)
                count = len(frames)
            sink = _NpzSink(tmp, count, compress)
        else:
            sink = _FfmpegSink(tmp, suffix, fps, quality)
        _stream(frames, sink)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _stream(frames: Iterable[np.ndarray], sink: "_NpzSink | _FfmpegSink") -> None:
    """Hand ``frames`` to ``sink.write`` in a writer thread, then ``sink.close()``; the first error wins."""
    queue: Queue = Queue(maxsize=QUEUE_FRAMES)
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            while (frame := queue.get()) is not None:
                sink.write(frame)
        except BaseException as error:  # reported in the caller's thread below
            failures.append(error)
            while queue.get() is not None:  # keep taking frames so the producer never blocks
                pass

    writer = threading.Thread(target=consume, name="video-writer", daemon=True)
    writer.start()
    try:
        for frame in frames:
            if failures:
                break
            queue.put(frame)
    except BaseException:
        queue.put(None)
        writer.join()
        sink.close(abort=True)
        raise
    queue.put(None)
    writer.join()
    if failures:
        sink.close(abort=True)
        raise failures[0]
    sink.close()


def fixed_entry(name: str, compression: int) -> zipfile.ZipInfo:
    """A zip entry dated 1980-01-01 (zip's epoch), so the same arrays always make the same bytes."""
    entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = compression
    return entry


def write_npz(path: str | Path, compress: bool = False, **arrays: np.ndarray) -> None:
    """Like ``np.savez`` (``np.load`` reads it), but byte-identical for identical arrays (fixed entry dates)."""
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, array in arrays.items():
            with archive.open(fixed_entry(f"{name}.npy", compression), "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)


class _NpzSink:
    """Frames into a ``.npz`` (a zip holding ``frames.npy``) as they come; the count is known up front."""

    def __init__(self, path: Path, count: int, compress: bool):
        self.count, self.written, self.shape = count, 0, None
        self.archive = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
        self.entry = None

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 (H, W, 3) frame."""
        if self.entry is None:
            self.shape = frame.shape
            self.entry = self.archive.open(fixed_entry("frames.npy", self.archive.compression), "w", force_zip64=True)
            np.lib.format.write_array_header_1_0(
                self.entry, {"descr": "|u1", "fortran_order": False, "shape": (self.count, *frame.shape)})
        if frame.shape != self.shape or self.written == self.count:
            raise ValueError(f"frame {self.written} of shape {frame.shape} does not fit a {self.count}-frame "
                             f"video of {self.shape}")
        self.entry.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
        self.written += 1

    def close(self, abort: bool = False) -> None:
        """Finish the archive (every announced frame must have been written unless ``abort``)."""
        if self.entry is not None:
            self.entry.close()
        self.archive.close()
        if not abort and (self.written != self.count or self.count == 0):
            raise InputError("no frames to write" if self.written == 0 else
                             f"{self.written} frames written, {self.count} announced")


class _FfmpegSink:
    """Raw RGB frames piped into one ffmpeg process, started at the first frame (its size sets the input)."""

    def __init__(self, path: Path, suffix: str, fps: float, quality: int):
        self.path, self.suffix, self.fps, self.quality = path, suffix, fps, quality
        self.process = None

    def write(self, frame: np.ndarray) -> None:
        """Encode one uint8 (H, W, 3) frame."""
        if self.suffix != ".gif":
            frame = _pad_even(frame)
        if self.process is None:
            self.process = self._start(*frame.shape[:2])
        try:
            self.process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
        except BrokenPipeError:
            error = self.process.stderr.read().decode(errors="replace")
            self.process.wait()
            raise RuntimeError(f"ffmpeg failed writing {self.path.name}: {error.strip()}") from None

    def _start(self, height: int, width: int):
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=self.fps)
        output_args, graph = _encoder_args(self.suffix, self.fps, self.quality)
        if graph == "gif":
            split = stream.split()
            palette = split[0].filter("palettegen", stats_mode="diff")
            stream = ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer", bayer_scale=4)
        return (
            stream.output(str(self.path), format=self.suffix[1:], **output_args)
            .overwrite_output()
            .global_args("-loglevel", "error", "-nostdin")
            .run_async(pipe_stdin=True, pipe_stderr=True, cmd=imageio_ffmpeg.get_ffmpeg_exe())
        )

    def close(self, abort: bool = False) -> None:
        """Wait for ffmpeg to finish; raise if it failed (or, unless ``abort``, if no frame came)."""
        if self.process is None:
            if not abort:
                raise InputError("no frames to write")
            return
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        error = self.process.stderr.read().decode(errors="replace")
        if self.process.wait() != 0 and not abort:
            raise RuntimeError(f"ffmpeg failed writing {self.path.name}: {error.strip()}")


def video_fps(path: str | Path, default: float = 30.0) -> float:
    """Frame rate of a video file (``default`` for ``.npz`` or when the container does not say)."""
    if Path(path).suffix.lower() == ".npz":
        return default
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        return float(next(reader).get("fps") or default)
    finally:
        reader.close()


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video (any ffmpeg-readable file, or our ``.npz``) to uint8 (N, H, W, 3) RGB."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    if path.suffix.lower() == ".npz":
        with np.load(path) as data:
            if "frames" not in data:
                raise InputError(f"{path} has no 'frames' array")
            frames = data["frames"]
        return frames[:max_frames] if max_frames else frames
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        width, height = meta["size"]
        frames = []
        for raw in reader:
            frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
            if max_frames and len(frames) >= max_frames:
                break
    except (RuntimeError, OSError) as error:
        raise InputError(f"cannot decode {path}: {error}") from error
    finally:
        reader.close()
    if not frames:
        raise InputError(f"{path} holds no frames")
    return np.stack(frames)
