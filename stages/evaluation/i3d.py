"""Inception-I3D (Carreira & Zisserman, CVPR 2017): the video classifier whose logits FVD compares.

``InceptionI3d`` maps videos float32 (B, 3, T, 224, 224) in [-1, 1] to Kinetics-400 logits (B, 400),
averaged over time; it needs T >= 9. Layer and parameter names follow the widely used PyTorch port of the
Kinetics-400 checkpoints (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``,
``logits.conv3d.bias``), so a state dict with those names loads as it is.

The detector comes from a local file (nothing is downloaded):

- a **TorchScript** module taking (B, 3, T, 224, 224) in [-1, 1] and returning (B, 400) logits. If its
  ``forward`` has ``rescale``, ``resize`` and ``return_features`` arguments (the TorchScript I3D that
  reproduces the TF-Hub FVD detector, usually named ``i3d_torchscript.pt``), it is called with
  ``rescale=False, resize=False, return_features=True``: our own preprocessing already resized and
  rescaled the frames, and the features are the 400 logits before the softmax;
- a **state dict** for ``InceptionI3d`` (``.pt``/``.pth`` written by ``torch.save``, or ``.safetensors``),
  optionally nested under ``"state_dict"`` and with ``module.`` prefixes.

Default location: ``$CINEMAGRAPH_MODELS/i3d/i3d_kinetics400.pt`` (``CINEMAGRAPH_MODELS`` defaults to
``~/.cache/cinemagraph/models``). ``"random"`` builds a seeded, randomly initialised detector: it exercises
the whole FVD computation offline, but its scores mean nothing next to published FVDs.
Every detector carries the sha256 of its file (or of its random weights), recorded beside each score.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from stages.errors import InputError
from stages.files import file_digest, load_tensors
from stages.diffusion.local_models import models_dir

FEATURE_DIM = 400
SIZE = 224
RANDOM = "random"


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension → (before, after)."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: list[int], stride: list[int]) -> torch.Tensor:
    """Zero-pad (B, C, T, H, W) so a conv/pool with ``kernel``/``stride`` keeps ceil(size / stride)."""
    t0, t1 = _same_padding(x.shape[2], kernel[0], stride[0])
    h0, h1 = _same_padding(x.shape[3], kernel[1], stride[1])
    w0, w1 = _same_padding(x.shape[4], kernel[2], stride[2])
    return F.pad(x, [w0, w1, h0, h1, t0, t1])


class Unit3D(nn.Module):
    """SAME-padded 3-D convolution (no bias), then batch norm (eps 1e-3) and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.kernel = list(kernel)
        self.stride = list(stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv3d(pad_same(x, self.kernel, self.stride))))


def max_pool_1d(x: torch.Tensor, dim: int, kernel: int, stride: int) -> torch.Tensor:
    """Max over windows of ``kernel`` steps every ``stride`` steps along ``dim`` (no padding): the elementwise
    maximum of ``kernel`` strided views of ``x``."""
    count = (x.shape[dim] - kernel) // stride + 1
    span = (count - 1) * stride + 1
    result = x.narrow(dim, 0, span).unfold(dim, 1, stride).squeeze(-1)
    for start in range(1, kernel):
        result = torch.maximum(result, x.narrow(dim, start, span).unfold(dim, 1, stride).squeeze(-1))
    return result


class MaxPoolSame(nn.Module):
    """SAME-padded 3-D max pooling (zero padding is exact: its inputs come out of a ReLU).

    Computed one axis after the other (time, height, width): a maximum over a box is the maximum of the maxima
    along each axis, so the result equals ``F.max_pool3d`` exactly, several times faster on a CPU.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel = list(kernel)
        self.stride = list(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_same(x, self.kernel, self.stride)
        for axis in range(3):
            x = max_pool_1d(x, 2 + axis, self.kernel[axis], self.stride[axis])
        return x


class InceptionBlock(nn.Module):
    """Four parallel branches (1³; 1³→3³; 1³→3³; pool→1³) concatenated along channels."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, widths[0])
        self.b1a = Unit3D(in_channels, widths[1])
        self.b1b = Unit3D(widths[1], widths[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, widths[3])
        self.b2b = Unit3D(widths[3], widths[4], (3, 3, 3))
        self.b3a = MaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, widths[5])
        self.out_channels = widths[0] + widths[2] + widths[4] + widths[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class LogitsHead(nn.Module):
    """7×7 (×2 in time) average pool, 1³ classifier convolution, mean over the remaining time steps."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.conv3d = nn.Conv3d(in_channels, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.avg_pool3d(x, (2, 7, 7), (1, 1, 1)))
        return x.mean(dim=(2, 3, 4))


# (name, input channels, branch widths) of the nine Inception blocks, and the pools between them.
_BLOCKS = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)), "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)), "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)), "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)), "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Sequential):
    """Inception-I3D: (B, 3, T >= 9, 224, 224) in [-1, 1] → time-averaged logits (B, num_classes)."""

    def __init__(self, num_classes: int = FEATURE_DIM):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["Conv3d_1a_7x7"] = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        layers["MaxPool3d_2a_3x3"] = MaxPoolSame((1, 3, 3), (1, 2, 2))
        layers["Conv3d_2b_1x1"] = Unit3D(64, 64)
        layers["Conv3d_2c_3x3"] = Unit3D(64, 192, (3, 3, 3))
        layers["MaxPool3d_3a_3x3"] = MaxPoolSame((1, 3, 3), (1, 2, 2))
        for name, (channels, widths) in _BLOCKS.items():
            if name == "Mixed_4b":
                layers["MaxPool3d_4a_3x3"] = MaxPoolSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                layers["MaxPool3d_5a_2x2"] = MaxPoolSame((2, 2, 2), (2, 2, 2))
            layers[name] = InceptionBlock(channels, widths)
        layers["logits"] = LogitsHead(1024, num_classes)
        super().__init__(layers)


@dataclass(frozen=True)
class Detector:
    """A loaded FVD detector: ``model`` maps (B, 3, T, 224, 224) in [-1, 1] to (B, 400) logits."""

    model: Callable[[torch.Tensor], torch.Tensor]
    source: str
    sha256: str

    @torch.no_grad()
    def __call__(self, videos: torch.Tensor) -> torch.Tensor:
        """Logits float32 (B, 400) of ``videos`` float32 (B, 3, T, 224, 224) in [-1, 1]."""
        logits = self.model(videos)
        if logits.ndim != 2 or logits.shape[0] != videos.shape[0]:
            raise InputError(f"detector {self.source} returned shape {tuple(logits.shape)}, expected (B, 400): "
                             "use an I3D that outputs Kinetics-400 logits")
        return logits.float()


def default_detector_path() -> Path:
    """Where the I3D detector is looked for when none is named."""
    return models_dir() / "i3d" / "i3d_kinetics400.pt"


@lru_cache(maxsize=2)
def random_detector(seed: int = 0) -> Detector:
    """A seeded random-weight InceptionI3d (He-normal convolutions, so activations neither vanish nor explode).

    Memoised per process: treat the returned detector as read-only.
    """
    generator = torch.Generator().manual_seed(seed)
    model = InceptionI3d()
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            fan_in = module.weight[0].numel()
            with torch.no_grad():
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return Detector(model.eval(), f"{RANDOM} (seed {seed})", digest.hexdigest())


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold a ``code/`` folder; ``torch.save`` state dicts do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _torchscript_model(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """Load a TorchScript detector; pass the TF-Hub port's keyword arguments when its forward has them."""
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as error:
        raise InputError(f"cannot load the TorchScript detector {path}: {error}") from error
    arguments = {argument.name for argument in module.forward.schema.arguments}
    if {"rescale", "resize", "return_features"} <= arguments:
        return lambda videos: module(videos, rescale=False, resize=False, return_features=True)
    return module


def _state_dict_model(path: Path) -> InceptionI3d:
    """Load an InceptionI3d state dict (torch.save or safetensors); mismatched keys → InputError."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as error:
            raise InputError(f"cannot read {path} as a safetensors state dict: {error}") from error
    else:
        state = load_tensors(path, f"the I3D detector {path} (a TorchScript file or a state dict)",
                             map_location="cpu")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or "logits.conv3d.weight" not in {k.removeprefix("module.") for k in state}:
        raise InputError(f"{path} is not an InceptionI3d state dict (no 'logits.conv3d.weight'): give a "
                         "TorchScript I3D or a state dict with the layer names documented in stages/evaluation/i3d.py")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = InceptionI3d(num_classes=state["logits.conv3d.weight"].shape[0])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path} does not fit InceptionI3d: missing {sorted(missing)[:4]}, "
                         f"unexpected {sorted(unexpected)[:4]}")
    return model.eval()


@lru_cache(maxsize=4)
def _load_file(path: str, size: int, mtime_ns: int) -> Detector:
    """Load a detector file (memoised on its path, size and modification time)."""
    file = Path(path)
    model = _torchscript_model(file) if _is_torchscript(file) else _state_dict_model(file)
    return Detector(model, str(file), file_digest(file))


def detector_file(spec: str | Path | None) -> Path | None:
    """The file a detector ``spec`` names (None: the default path), or None for a random detector."""
    if spec is not None and str(spec).split(":")[0] == RANDOM:
        return None
    return Path(spec).expanduser() if spec is not None else default_detector_path()


def load_detector(spec: str | Path | None = None) -> Detector:
    """The detector named by ``spec``: a file path, ``"random"`` / ``"random:SEED"``, or None (default path).

    A missing file raises InputError saying where to put one. Loaded files are memoised per process.
    """
    path = detector_file(spec)
    if path is None:
        seed = str(spec).partition(":")[2] or "0"
        if not seed.isdigit():
            raise InputError(f"bad detector {spec!r}: write 'random' or 'random:SEED' with a whole number")
        return random_detector(int(seed))
    if not path.is_file():
        raise InputError(
            f"no I3D detector at {path}. FVD needs the Kinetics-400 Inception-I3D: put a TorchScript I3D "
            f"(e.g. i3d_torchscript.pt) or an InceptionI3d state dict at {default_detector_path()} "
            "(set CINEMAGRAPH_MODELS to move that folder) or pass its path; 'random' runs a random-weight "
            "detector for pipeline checks only")
    stat = path.stat()
    return _load_file(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
