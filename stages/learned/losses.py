"""Losses of the learned networks: end-point error, LSGAN, GAN feature matching, L1, perceptual."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stages.errors import InputError
from stages.files import load_tensors


def endpoint_error(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean distance between flows (B, 2, H, W), over all pixels or where ``mask`` (B, 1, H, W) is 1."""
    distance = torch.linalg.vector_norm(predicted - target, dim=1, keepdim=True)
    if mask is None:
        return distance.mean()
    return (distance * mask).sum() / mask.sum().clamp_min(1.0)


def sign_free_endpoint_error(predicted: torch.Tensor, target: torch.Tensor, sign_free: torch.Tensor,
                             mask: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`endpoint_error`, except that each sample's pixels in ``sign_free`` (B, 1, H, W) in {0, 1} — where
    the truth's sign was left to chance — are compared with whichever of ±``target`` is closer over them."""
    weight = torch.ones_like(predicted[:, :1]) if mask is None else mask
    direct = torch.linalg.vector_norm(predicted - target, dim=1, keepdim=True) * weight
    flipped = torch.linalg.vector_norm(predicted + target, dim=1, keepdim=True) * weight
    free = torch.minimum((direct * sign_free).sum((1, 2, 3)), (flipped * sign_free).sum((1, 2, 3)))
    return ((direct * (1 - sign_free)).sum() + free.sum()) / weight.sum().clamp_min(1.0)


def lsgan_generator_loss(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Least-squares GAN loss of the generator: mean over discriminators of mean((D(fake) − 1)²)."""
    return torch.stack([(outputs[-1] - 1).pow(2).mean() for outputs in fake]).mean()


def lsgan_discriminator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Least-squares GAN loss of the discriminators: ½ (mean((D(real) − 1)²) + mean(D(fake)²)), averaged."""
    return torch.stack([0.5 * ((r[-1] - 1).pow(2).mean() + f[-1].pow(2).mean()) for r, f in zip(real, fake)]).mean()


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminators' intermediate features of real and generated inputs (real detached)."""
    terms = [F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1])]
    return torch.stack(terms).mean()


def psnr(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR in dB of images in [0, 1] (B, 3, H, W), over all pixels or where ``mask`` (B, 1, H, W) is 1."""
    error = (predicted.float() - target.float()).pow(2)
    if mask is not None:
        mask = mask.expand_as(error)
        mse = (error * mask).sum() / mask.sum().clamp_min(1.0)
    else:
        mse = error.mean()
    return float(10 * torch.log10(1.0 / mse.clamp_min(1e-10)))


# VGG-16's convolutional part: channels per 3×3 convolution, "M" = 2×2 max-pooling.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG16_TAPS = (3, 8, 15, 22)  # module indices of relu1_2, relu2_2, relu3_3, relu4_3
VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet weights, found in $TORCH_HOME/hub/checkpoints


def vgg16_features() -> nn.Sequential:
    """VGG-16's feature layers, numbered as in torchvision (so its weight files load as they are)."""
    layers: list[nn.Module] = []
    channels = 3
    for entry in VGG16_LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, entry, 3, padding=1), nn.ReLU()]
            channels = entry
    return nn.Sequential(*layers)


def find_vgg16_weights(path: str | None = None) -> Path | None:
    """The VGG-16 weight file: ``path`` if given, else torchvision's file in the torch hub cache, or None."""
    if path:
        if not Path(path).is_file():
            raise InputError(f"VGG-16 weights not found at {path}: give torchvision's {VGG16_FILE} or null")
        return Path(path)
    home = Path(os.environ.get("TORCH_HOME", Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "torch"))
    candidate = home.expanduser() / "hub" / "checkpoints" / VGG16_FILE
    return candidate if candidate.is_file() else None


class PerceptualLoss(nn.Module):
    """L1 distance between VGG-16 features (relu1_2 … relu4_3) of images in [0, 1] (B, 3, H, W).

    Needs ImageNet VGG-16 weights on disk; :func:`make_perceptual_loss` falls back to :class:`GradientLoss`.
    """

    def __init__(self, weights: Path):
        super().__init__()
        self.features = vgg16_features()[: VGG16_TAPS[-1] + 1]
        state = load_tensors(weights, f"the VGG-16 weights {weights}", map_location="cpu")
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        self.features.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) <= VGG16_TAPS[-1]})
        self.features.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = torch.cat([predicted, target]).sub(self.mean).div(self.std)
        loss = x.new_zeros(())
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in VGG16_TAPS:
                a, b = x.chunk(2)
                loss = loss + F.l1_loss(a, b.detach())
        return loss / len(VGG16_TAPS)


class GradientLoss(nn.Module):
    """L1 between horizontal and vertical image differences at full and half resolution: a cheap sharpness
    term used in place of the perceptual loss when no VGG-16 weights are available."""

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = predicted.new_zeros(())
        for _ in range(2):
            for dim in (2, 3):
                loss = loss + F.l1_loss(torch.diff(predicted, dim=dim), torch.diff(target, dim=dim))
            predicted, target = F.avg_pool2d(predicted, 2), F.avg_pool2d(target, 2)
        return loss / 4


def make_perceptual_loss(weights: str | None = None) -> tuple[nn.Module, str]:
    """The perceptual loss (VGG-16 when its weights are on disk, else the gradient loss) and its name."""
    found = find_vgg16_weights(weights)
    if found is None:
        return GradientLoss(), "image gradients (no VGG-16 weights found)"
    return PerceptualLoss(found), f"VGG-16 features ({found.name})"
