"""What the review page sends, checked before anything is written: a painted mask (a PNG data URL), arrows,
a speed, a motion source and a direction; and pictures opened by a path under the folder.

Pictures obey the command line's limits: at most :func:`stages.images.max_pixels` pixels (read from the
header before decoding, so a decompression bomb allocates nothing) and at most :func:`max_picture_bytes`
bytes. Every mistake is an InputError whose message the page shows.
"""

from __future__ import annotations

import base64
import binascii
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.errors import InputError
from stages.images import check_image_file, load_mask, max_pixels
from stages.motion.flowfield import Hint
from stages.motion.sources import MOTION_SOURCES
from stages.values import SPEED

MAX_HINTS = 64
"""Arrows one re-render takes."""
MAX_TEXT = 300
"""Characters of a direction phrase or a prompt."""
PNG_DATA_URL = "data:image/png;base64,"


def max_picture_bytes() -> int:
    """Largest picture file read, in bytes: the size of the largest allowed picture as uncompressed RGB."""
    return max_pixels() * 3 + 65536


@dataclass(frozen=True)
class Edit:
    """One re-render asked for by the page."""

    base: int
    """the item's revision the page edited (another tab's newer save makes this one refused)."""
    mask: np.ndarray
    """bool (H, W): the painted mask."""
    hints: tuple[Hint, ...]
    """arrows: start (x, y) in image pixels, unit direction (dx, dy), y down."""
    speed: float
    """pixels per frame of a part moving at full speed."""
    source: str
    """the motion source of the parts without an arrow (a name of MOTION_SOURCES)."""
    direction: str | None
    """a direction phrase for those parts, or None (the prompt's)."""


def parse_edit(body: object, size: tuple[int, int]) -> Edit:
    """The page's JSON ``body`` for an item of ``size`` (H, W) → an Edit (InputError naming what is wrong)."""
    if not isinstance(body, dict):
        raise InputError("the request must be a JSON object")
    base = revision_of(body)
    source = body.get("source")
    if source not in MOTION_SOURCES:
        raise InputError(f"unknown motion source {source!r}: pick one of {', '.join(sorted(MOTION_SOURCES))}")
    speed = SPEED.check(body.get("speed"), "speed")
    direction = text_field(body.get("direction"), "direction") or None
    return Edit(base, painted_mask(body.get("mask"), size), parse_hints(body.get("hints"), size), float(speed),
                source, direction)


def revision_of(body: dict) -> int:
    """The item revision ``base`` the page edited (InputError when missing or not a count)."""
    base = body.get("base")
    if not isinstance(base, int) or isinstance(base, bool) or base < 0:
        raise InputError("the edit names no revision: reload the page")
    return base


def text_field(value: object, name: str) -> str:
    """A short text of the page (InputError when it is not text or is too long)."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InputError(f"{name} must be a text of at most {MAX_TEXT} characters")
    return value.strip()


def parse_hints(value: object, size: tuple[int, int]) -> tuple[Hint, ...]:
    """Arrows ``[{x, y, dx, dy}, …]`` inside an image of ``size`` (H, W) → Hints with unit vectors."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_HINTS:
        raise InputError(f"arrows must be a list of at most {MAX_HINTS}")
    hints = []
    for number, arrow in enumerate(value, 1):
        try:
            x, y, dx, dy = (float(arrow[key]) for key in ("x", "y", "dx", "dy"))
        except (TypeError, KeyError, ValueError):
            raise InputError(f"arrow {number} is malformed: it needs numbers x, y, dx, dy") from None
        length = math.hypot(dx, dy) if all(map(math.isfinite, (x, y, dx, dy))) else float("nan")
        if not math.isfinite(length) or length == 0:
            raise InputError(f"arrow {number} has no direction: drag it from where the part is to where it goes")
        if not (0 <= x < size[1] and 0 <= y < size[0]):
            raise InputError(f"arrow {number} starts at ({x:.0f}, {y:.0f}), outside the {size[1]}x{size[0]} image")
        hints.append(Hint(x, y, dx / length, dy / length))
    return tuple(hints)


def painted_mask(value: object, size: tuple[int, int]) -> np.ndarray:
    """A PNG data URL (white = moves) of ``size`` (H, W) → bool (H, W), checked by the command line's mask
    reader (format, pixel limit, size) after the byte limit."""
    if not isinstance(value, str) or not value.startswith(PNG_DATA_URL):
        raise InputError("the mask must be a PNG picture (a data URL): paint it on the canvas")
    try:
        data = base64.b64decode(value[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        raise InputError("the mask is not valid base64: paint it on the canvas") from None
    if len(data) > max_picture_bytes():
        raise InputError(f"the mask is {len(data)} bytes, more than the {max_picture_bytes()} allowed")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mask.png"
        path.write_bytes(data)
        try:
            return load_mask(path, size)
        except InputError as error:
            raise InputError(str(error).replace(str(path), "the painted mask")) from None


def confined_picture(root: Path, text: object) -> Path:
    """The picture file at ``text``, a path relative to the folder ``root``: refused when absolute, holding
    ``..``, passing a symbolic link, leaving the folder, too large in bytes or pixels, or not a picture."""
    text = text_field(text, "path")
    if not text:
        raise InputError("give the path of a picture under the folder")
    relative = Path(text)
    if relative.is_absolute() or text.startswith(("/", "\\")) or ".." in relative.parts or "\\" in text:
        raise InputError(f"{text!r}: give a path relative to the folder, without ..")
    path = root
    for part in relative.parts:
        path = path / part
        if path.is_symlink():
            raise InputError(f"{text!r} passes a symbolic link: copy the picture into the folder")
    if not path.resolve().is_relative_to(root.resolve()) or not path.is_file():
        raise InputError(f"{text!r} is not a file under the folder")
    if path.stat().st_size > max_picture_bytes():
        raise InputError(f"{text!r} is {path.stat().st_size} bytes, more than the {max_picture_bytes()} allowed")
    check_image_file(path, "image")
    return path
