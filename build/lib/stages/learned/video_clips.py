"""Training clips from a user's own videos: the header, the clips, each clip's average optical flow and mask.

A video is judged from its header first (``ffmpeg -i``, which reads the container and decodes nothing we
keep): no video stream → unreadable; more pixels than ``CINEMAGRAPH_MAX_PIXELS`` → too large; fewer frames
than one clip → too short. Only then is it decoded, by ffmpeg, already scaled to the clip size, one clip at
a time, so memory holds one clip (frames × h × w × 3 bytes) whatever the source's size or length.

The average flow of a clip (pixels per frame, the Eulerian flow G_flow learns) is the mean of OpenCV's DIS
optical flow (preset medium) between frames ``FLOW_GAP`` apart, divided by the gap. DIS needs no weights,
and on the synthetic ground-truth clips it is both more accurate and faster than Farneback (end-point error
inside the moving regions, frames one apart: 0.14 against 0.19 px/frame; 24 against 38 ms per 60-frame
96×128 clip; two apart: 0.11 against 0.18). Optical flow is spread
over textureless still areas next to moving ones (DIS's patches and smoothing carry it across), so the flow
is set to zero where a pixel does not change over the clip (temporal standard deviation of its grey level,
blurred by 1 px, below ``change_threshold``): such motion is invisible in the video and cannot be learnt
from it. The training mask then thresholds the average flow's speed, as the paper does (pixels that move),
and the flow outside it is set to zero.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import cv2
import imageio_ffmpeg
import numpy as np

from stages.errors import InputError
from stages.images import check_pixels
from stages.values import Range, check_memory

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".wmv", ".flv",
                  ".ts", ".y4m")
"""File suffixes taken for videos (any case)."""
HEADER_SECONDS = 30
"""Longest wait for ffmpeg to read a header."""
CLIP_BYTES_PER_PIXEL = 15
"""Bytes held per pixel of a clip's frames while it is measured: RGB twice (decoded, stacked), grey, and the
float64 temporal spread."""
FLOW_GAP = 2
"""Optical flow is measured between frames this far apart (then divided by it): sub-pixel motion is measured
better over two frames (on the synthetic clips the error inside the moving regions drops by a fifth)."""

logging.getLogger("imageio_ffmpeg").addFilter(  # decode_clips scales on purpose: not worth a warning
    lambda record: not record.getMessage().startswith("The frame size for reading"))


class Rejected(Exception):
    """A video that cannot give a clip; the message is the one-line reason."""


@dataclass(frozen=True)
class VideoHeader:
    """What a video's header says: frame size (pixels, before rotation), frames per second and the number of
    frames the duration implies (None where the container does not say)."""

    width: int
    height: int
    fps: float | None
    frames: int | None


@dataclass(frozen=True)
class VideoClipOptions:
    """How a user's video becomes training clips."""

    frames: int = 60
    """Frames per clip (the Eulerian dataset's clips have 60)."""
    size: int = 256
    """Shorter side of the clips, pixels (the aspect ratio is kept; both sides even)."""
    fps: float | None = None
    """Resample the video to this many frames per second before cutting clips; None: keep its own rate."""
    clips: int = 4
    """At most this many consecutive clips per video."""
    mask_threshold: float = 0.1
    """Pixels per frame above which the average flow counts as moving (the training mask)."""
    change_threshold: float = 3.0
    """Grey levels (0–255): pixels whose temporal standard deviation stays below this do not visibly move."""
    min_moving: float = 0.01
    """A clip whose mask covers less than this fraction of the picture is static and left out."""
    crf: int = 16
    """H.264 quality of the clips' videos (lower = better)."""

    RANGES: ClassVar[dict[str, Range]] = {
        "frames": Range(3, 10000, integer=True), "size": Range(16, 4096, integer=True),
        "fps": Range(0, 240, low_open=True), "clips": Range(1, 1000, integer=True),
        "mask_threshold": Range(0, 100, low_open=True), "change_threshold": Range(0, 255),
        "min_moving": Range(0, 1), "crf": Range(0, 51, integer=True),
    }
    """The allowed values of each setting."""

    def __post_init__(self) -> None:
        for name, rule in self.RANGES.items():
            if getattr(self, name) is not None:
                rule.check(getattr(self, name), name)


def read_header(path: str | Path) -> VideoHeader:
    """The header of the video at ``path`` as ffmpeg reads it (no frame decoded); Rejected when ffmpeg finds no
    video stream with a frame size in it."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    try:
        text = subprocess.run(command, capture_output=True, timeout=HEADER_SECONDS).stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        raise Rejected(f"unreadable: ffmpeg took more than {HEADER_SECONDS} s to read its header") from None
    stream = next((line for line in text.splitlines() if re.search(r"Stream #.*: Video:", line)), None)
    size = re.search(r", (\d+)x(\d+)", stream or "")
    if size is None:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        why = ("no frame size ffmpeg can decode (damaged, or a picture too large for ffmpeg)" if stream else
               f"no video stream ({' '.join(last.split())[-120:]})")
        raise Rejected(f"unreadable: {why}")
    fps = re.search(r", ([\d.]+) (?:fps|tbr)", stream)
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text)
    rate = float(fps.group(1)) if fps else None
    frames = None
    if rate and duration:
        hours, minutes, seconds = duration.groups()
        frames = round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * rate)
    return VideoHeader(int(size.group(1)), int(size.group(2)), rate, frames)


def frame_count(count: int) -> str:
    """``count`` frames in words: "1 frame", "12 frames"."""
    return f"{count} frame{'' if count == 1 else 's'}"


def check_header(header: VideoHeader, options: VideoClipOptions) -> None:
    """Rejected when the header shows a picture over the pixel limit, a clip that would not fit the memory
    budget (``stages.values.memory_budget``), or (at the video's own rate) clearly too few frames."""
    short, long = sorted((header.width, header.height))
    clip_pixels = options.frames * options.size * max(1, round(options.size * long / max(short, 1)))
    try:
        check_pixels(header.height, header.width, "the video")
        check_memory(clip_pixels * CLIP_BYTES_PER_PIXEL, f"a clip of {options.frames} frames at --size "
                     f"{options.size}", "lower --frames or --size")
    except InputError as error:
        raise Rejected(f"too large: {error}") from None
    if options.fps is None and header.frames is not None and header.frames < 0.9 * options.frames:
        raise Rejected(f"too short: about {frame_count(header.frames)}, a clip needs {options.frames} (lower --frames)")


def decode_clips(path: str | Path, options: VideoClipOptions) -> Iterator[np.ndarray]:
    """Consecutive clips of the video, uint8 (frames, h, w, 3) RGB with the shorter side ``options.size``; at
    most ``options.clips``. Rejected when not even one clip's frames can be decoded."""
    side = options.size
    filters = ([f"fps={options.fps}"] if options.fps else []) + [
        f"scale='if(lt(iw,ih),{side},-2)':'if(lt(iw,ih),-2,{side})':flags=area"]
    limit = options.frames * options.clips
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24",
                                        output_params=["-vf", ",".join(filters), "-frames:v", str(limit)])
    count = 0
    try:
        width, height = next(reader)["size"]
        clip = []
        for raw in reader:
            clip.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            count += 1
            if len(clip) == options.frames:
                yield np.stack(clip)
                clip = []
    except (RuntimeError, OSError, StopIteration) as error:
        if count < options.frames:
            raise Rejected(f"unreadable: ffmpeg could not decode it ({' '.join(str(error).split())[-160:]})") from None
    finally:
        reader.close()
    if count < options.frames:
        raise Rejected(f"too short: {frame_count(count)}, a clip needs {options.frames} (lower --frames)")


def average_flow(clip: np.ndarray, gap: int = FLOW_GAP) -> tuple[np.ndarray, np.ndarray]:
    """Mean DIS optical flow between frames ``gap`` apart in ``clip`` uint8 (N, H, W, 3), divided by ``gap`` →
    flow float32 (2, H, W) in pixels per frame, and each pixel's temporal standard deviation of grey level
    float32 (H, W), 0–255."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in clip])
    gap = min(gap, len(grey) - 1)
    flow = np.zeros((*grey.shape[1:], 2), np.float64)
    for first, second in zip(grey[:-gap], grey[gap:]):
        flow += dis.calc(first, second, None)
    flow /= (len(grey) - gap) * gap
    return flow.transpose(2, 0, 1).astype(np.float32), grey.std(axis=0, dtype=np.float64).astype(np.float32)


def clip_motion(clip: np.ndarray, options: VideoClipOptions) -> tuple[np.ndarray, np.ndarray]:
    """The training flow float32 (2, H, W), pixels per frame, and mask bool (H, W) of ``clip`` (N, H, W, 3):
    the average flow where pixels visibly change, thresholded at ``mask_threshold``, zero outside the mask."""
    flow, spread = average_flow(clip)
    changing = cv2.GaussianBlur(spread, (0, 0), 1.0) > options.change_threshold
    mask = changing & (np.hypot(flow[0], flow[1]) > options.mask_threshold)
    return flow * mask, mask
