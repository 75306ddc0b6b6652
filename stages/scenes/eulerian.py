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
            return lambda data: torch.load(io.BytesIO(data), weights_only=True)
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a motion file")


def read_motion(path: str | Path) -> np.ndarray:
    """Read a ``*_motion.pth`` file safely → float32 (2, H, W), pixels per frame."""
    try:
        raw = lz4.frame.decompress(Path(path).read_bytes())
        value = _FlowUnpickler(io.BytesIO(raw)).load()
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise InputError(f"cannot read motion file {path}: {error}") from error
    flow = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    flow = flow.reshape(flow.shape[-3:]).astype(np.float32)
    if flow.shape[0] != 2:
        raise InputError(f"motion file {path} holds shape {flow.shape}, expected (1, 2, H, W)")
    return flow


def write_motion(path: str | Path, flow: np.ndarray) -> None:
    """Write a flow (2, H, W) as an lz4-frame-compressed pickle of float32 (1, 2, H, W)."""
    data = pickle.dumps(np.asarray(flow, np.float32)[None], protocol=4)
    Path(path).write_bytes(lz4.frame.compress(data))
