"""Writing and reading videos with ffmpeg (the binary shipped by imageio-ffmpeg; no system ffmpeg needed).

Frames are uint8 (N, H, W, 3) RGB arrays or iterables of uint8 (H, W, 3). The output format follows the
file suffix: ``.mp4`` (H.264, yuv420p, faststart), ``.webm`` (VP9), ``.gif`` (palette, loops forever) and
``.npz`` (lossless, key ``frames``, shape (N, H, W, 3)).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import ffmpeg
import imageio_ffmpeg
import numpy as np

from stages.errors import InputError
from stages.files import make_public

VIDEO_SUFFIXES = (".mp4", ".webm", ".gif", ".npz")


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


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0, quality: int = 18) -> Path:
    """Encode frames to ``path`` atomically (written beside it, then renamed); returns the path.

    ``quality`` is the H.264 CRF (lower = better; 18 is visually lossless). ``.npz`` is exact.
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
            stacked = np.stack(list(frames)).astype(np.uint8)
            with open(tmp, "wb") as stream:
                np.savez_compressed(stream, frames=stacked)
        else:
            _encode(tmp, frames, suffix, fps, quality)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _encode(path: Path, frames: Iterable[np.ndarray], suffix: str, fps: float, quality: int) -> None:
    """Pipe raw RGB frames into one ffmpeg process."""
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise InputError("no frames to write")
    if suffix != ".gif":
        first = _pad_even(first)
    height, width = first.shape[:2]
    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", r=fps)
    output_args, graph = _encoder_args(suffix, fps, quality)
    if graph == "gif":
        split = stream.split()
        palette = split[0].filter("palettegen", stats_mode="diff")
        stream = ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer", bayer_scale=4)
    process = (
        stream.output(str(path), format=suffix[1:], **output_args)
        .overwrite_output()
        .global_args("-loglevel", "error", "-nostdin")
        .run_async(pipe_stdin=True, pipe_stderr=True, cmd=imageio_ffmpeg.get_ffmpeg_exe())
    )
    try:
        process.stdin.write(np.ascontiguousarray(first).tobytes())
        for frame in iterator:
            if suffix != ".gif":
                frame = _pad_even(frame)
            process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    finally:
        process.stdin.close()
        error = process.stderr.read().decode(errors="replace")
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {path.name}: {error.strip()}")


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
