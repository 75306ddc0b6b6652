"""Reading, writing and converting images and masks (uint8 (H, W, 3) RGB at the edges).

Every image is measured from its header before a pixel is decoded: pictures of more than
``CINEMAGRAPH_MAX_PIXELS`` pixels (environment; default :data:`DEFAULT_MAX_PIXELS`) are refused, so a small
file declaring a huge picture (a decompression bomb) never allocates its pixels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from stages.errors import InputError

if TYPE_CHECKING:
    import torch

DEFAULT_MAX_PIXELS = 4096 * 4096
"""Largest picture read, in pixels (16.8 megapixels: 48 MB as uint8 RGB, 134 MB as a float32 flow)."""
MAX_PIXELS_SETTING = "CINEMAGRAPH_MAX_PIXELS"


def max_pixels() -> int:
    """The pixel limit of every image read: ``$CINEMAGRAPH_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    from stages.values import Range

    value = os.environ.get(MAX_PIXELS_SETTING)
    return DEFAULT_MAX_PIXELS if value is None else Range(1, integer=True).check(value, MAX_PIXELS_SETTING)


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) in pixels from the file's header alone, or None when no known format matches."""
    from PIL import Image, UnidentifiedImageError

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the size is wanted, whatever it is; :func:`check_pixels` judges it
    try:
        with Image.open(path) as picture:  # lazy: reads the header, decodes nothing
            width, height = picture.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    return height, width


def check_pixels(height: int, width: int, what: str) -> None:
    """InputError when a ``what`` of height × width pixels is over :func:`max_pixels`."""
    limit = max_pixels()
    if height * width > limit:
        raise InputError(f"{what} is {width}x{height} = {height * width} pixels, more than the {limit} allowed: "
                         f"scale it down, or raise the limit with the environment variable {MAX_PIXELS_SETTING}")


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 (H, W, 3) RGB; grayscale is replicated, alpha is dropped."""
    data = _read_image_file(path, "image")
    return as_rgb(data, bgr=True)


HINTS = {"image": "give the path of a PNG or JPEG file",
         "mask": "give a PNG or JPEG where white marks the region to animate"}


def check_image_file(path: str | Path, what: str = "image") -> tuple[int, int]:
    """(height, width) of an image file from its header, refusing (InputError) a missing file, an unknown
    format or a picture over :func:`max_pixels`; ``what`` ("image" or "mask") words the message. Decodes
    nothing, so a command can check its inputs before loading anything heavy."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path} ({HINTS[what]})")
    size = image_size(path)
    if size is None:
        raise InputError(f"cannot read {path} as an image ({HINTS[what]})")
    check_pixels(*size, f"{what} {path}")
    return size


def _read_image_file(path: str | Path, what: str) -> np.ndarray:
    """The pixels of an image file as cv2 reads them (BGR order, any depth, alpha kept), checked first by
    :func:`check_image_file`."""
    check_image_file(path, what)
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise InputError(f"cannot read {path} as an image ({HINTS[what]})")
    return data


def as_rgb(data: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Convert gray (H, W), gray+alpha, RGB or RGBA arrays of uint8/uint16/float to uint8 (H, W, 3) RGB."""
    if data.dtype == np.uint16:
        data = (data / 257.0).round().astype(np.uint8)
    elif data.dtype != np.uint8:
        data = (np.clip(data, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if data.ndim == 2:
        data = data[:, :, None]
    channels = data.shape[2]
    if channels in (1, 2):
        return np.repeat(data[:, :, :1], 3, axis=2)
    rgb = data[:, :, :3]
    if bgr:
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def load_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask image as bool (H, W): pixels brighter than half-scale (or opaque alpha) are True.

    ``shape`` (H, W), when given, must match the mask's size.
    """
    data = _read_image_file(path, "mask")
    if data.ndim == 3 and data.shape[2] == 4 and data[:, :, 3].min() < 255:
        mask = data[:, :, 3] > 127
    else:
        mask = as_rgb(data, bgr=True).max(axis=2) > 127
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(
            f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}: "
            "the mask must have the same width and height as the image"
        )
    return mask


def save_png(path: str | Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write uint8 (H, W, 3) RGB, uint8 (H, W) gray or bool (H, W) mask as PNG; ``text``: tEXt chunks it
    carries (provenance, :func:`png_text`)."""
    if text:
        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8) * 255 if image.dtype == bool else image).save(path, pnginfo=info)
        return
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 3:
        image = image[:, :, ::-1]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise OSError(f"could not write {path}")


def png_text(path: str | Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file (none for other files or unreadable ones), read without decoding pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            return dict(getattr(picture, "text", {}) or {}) if picture.format == "PNG" else {}
    except (OSError, UnidentifiedImageError):
        return {}


def to_tensor(image: np.ndarray, device: "torch.device | str" = "cpu") -> "torch.Tensor":
    """uint8 (H, W, 3) → float32 (1, 3, H, W) in [0, 1]."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return tensor.permute(2, 0, 1)[None].float().div_(255.0)


def to_uint8(tensor: "torch.Tensor") -> np.ndarray:
    """float (1, 3, H, W) or (3, H, W) in [0, 1] → uint8 (H, W, 3), rounded."""
    if tensor.ndim == 4:
        tensor = tensor[0]
    return tensor.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks of one shape (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
