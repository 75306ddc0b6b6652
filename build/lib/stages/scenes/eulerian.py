"""The Eulerian dataset layout (Holynski et al. 2021), shared by the real dataset and our synthetic scenes.

A dataset folder holds, per clip ``<id>``: ``<id>_input.jpg`` (or ``.png``), ``<id>_gt.mp4`` (the looping
ground-truth video), ``<id>_motion.pth`` (the average flow: an lz4-frame-compressed pickle of a float32
array or tensor of shape (1, 2, H, W), pixels per frame) and, for synthetic scenes, ``<id>_mask.png``.
Clips may sit directly in the folder or in split sub-folders (``train/``, ``validation/``), or the folder
may hold ``splits.json`` ({split: [ids]}) as our synthetic scenes do.
Captions come from ``captions.json`` ({id: caption}) or ``captions.txt`` (lines ``<id>: caption``, split at
the first colon, so captions may contain colons), at the root or in the split folder (which wins).
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import lz4.frame
import numpy as np
import torch

from stages.errors import InputError
from stages.files import load_tensors
from stages.images import MAX_PIXELS_SETTING, max_pixels


@dataclass(frozen=True)
class Clip:
    """The files of one clip; ``mask`` and ``caption`` may be missing."""

    id: str
    image: Path
    video: Path
    motion: Path
    mask: Path | None
    caption: str | None


def list_clips(root: str | Path, split: str | None = None) -> list[Clip]:
    """Every clip under ``root`` (or of one split: ``root/split`` or the ids in ``root/splits.json``), by id."""
    folder = Path(root) / split if split else Path(root)
    wanted = None
    if split and not folder.is_dir() and (Path(root) / "splits.json").is_file():
        folder, wanted = Path(root), set(json.loads((Path(root) / "splits.json").read_text()).get(split, []))
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    captions = read_captions(*dict.fromkeys((Path(root), folder)))
    clips = []
    for motion in sorted(folder.rglob("*_motion.pth")):
        stem = motion.name[: -len("_motion.pth")]
        if wanted is not None and stem not in wanted:
            continue
        image = next((p for p in (motion.with_name(f"{stem}_input{s}") for s in (".jpg", ".png")) if p.is_file()), None)
        video = motion.with_name(f"{stem}_gt.mp4")
        if image is None or not video.is_file():
            continue
        mask = motion.with_name(f"{stem}_mask.png")
        clips.append(Clip(stem, image, video, motion, mask if mask.is_file() else None, captions.get(stem)))
    return clips


def read_captions(*folders: Path) -> dict[str, str]:
    """Captions from ``captions.json`` and ``captions.txt`` in ``folders`` (later folders win)."""
    captions: dict[str, str] = {}
    for folder in folders:
        json_path, text_path = Path(folder) / "captions.json", Path(folder) / "captions.txt"
        if json_path.is_file():
            captions.update({str(k): str(v) for k, v in json.loads(json_path.read_text()).items()})
        if text_path.is_file():
            for line in text_path.read_text().splitlines():
                clip_id, colon, caption = line.partition(":")
                if colon and clip_id.strip():
                    captions[clip_id.strip()] = caption.strip()
    return captions


class _FlowUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays and torch tensors (tensors through torch's weights-only loader)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda data: load_tensors(io.BytesIO(data), "a tensor of the motion file")
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a motion file")


def _decompress(data: bytes, path: str | Path) -> bytes:
    """The lz4 frame ``data``, decompressed no further than a flow of the largest picture read
    (stages.images.max_pixels) could need, so a small file expanding to gigabytes is refused early."""
    limit = max_pixels() * 2 * 4 + (1 << 20)  # float32 (2, H, W) and the pickle's own bytes
    decompressor = lz4.frame.LZ4FrameDecompressor()
    raw = decompressor.decompress(data, max_length=limit + 1)
    if len(raw) > limit:
        raise InputError(f"motion file {path} expands to more than {limit} bytes, more than a flow of the largest "
                         f"picture allowed ({MAX_PIXELS_SETTING}) needs")
    if not decompressor.eof:
        raise EOFError("the compressed data ends early")
    return raw


MOTION_HOLDS = ("a motion file must hold an lz4-frame-compressed pickle of one float array or tensor of shape "
                "(1, 2, H, W) or (2, H, W): the flow in pixels per frame")


def read_motion(path: str | Path) -> np.ndarray:
    """Read a ``*_motion.pth`` file safely → float32 (2, H, W), pixels per frame; anything else it holds (another
    type, shape or dtype, non-finite values) → InputError saying what a motion file must hold."""
    try:
        raw = _decompress(Path(path).read_bytes(), path)
        value = _FlowUnpickler(io.BytesIO(raw)).load()
    except InputError:
        raise
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InputError(f"cannot read motion file {path} ({reason}): {MOTION_HOLDS}") from None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy() if value.dtype != torch.bfloat16 else value.float().numpy()
    if not isinstance(value, np.ndarray):
        raise InputError(f"motion file {path} holds a {type(value).__name__}: {MOTION_HOLDS}")
    if value.dtype.kind not in "fiu":
        raise InputError(f"motion file {path} holds {value.dtype} values: {MOTION_HOLDS}")
    if value.ndim not in (3, 4) or value.shape[-3] != 2 or (value.ndim == 4 and value.shape[0] != 1):
        raise InputError(f"motion file {path} holds shape {value.shape}: {MOTION_HOLDS}")
    flow = value.reshape(value.shape[-3:]).astype(np.float32)
    if not np.isfinite(flow).all():
        raise InputError(f"motion file {path} holds NaN or infinite values: {MOTION_HOLDS}")
    return flow


def write_motion(path: str | Path, flow: np.ndarray) -> None:
    """Write a flow (2, H, W) as an lz4-frame-compressed pickle of float32 (1, 2, H, W)."""
    data = pickle.dumps(np.asarray(flow, np.float32)[None], protocol=4)
    Path(path).write_bytes(lz4.frame.compress(data))
