"""Training G_flow (method §6): end-point error ×10, LSGAN with two multi-scale discriminators, feature matching.

Held-out metrics, in pixels per frame inside the masks (pixel-weighted over the validation clips):
``epe`` of G_flow, ``epe_zero`` of predicting zero flow, ``epe_mean`` of predicting the training set's mean
flow vector, and ``speed_outside`` — G_flow's mean speed outside the masks, which should be about zero.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stages.learned.checkpoint import save_checkpoint
from stages.learned.data import FLOW_SCALE, EulerianClips, StageDataOptions, mirror_caption, motion_mask
from stages.learned.flow_net import FLOW_PRESETS, FlowNet, FlowNetConfig
from stages.learned.layers import MultiScaleDiscriminator
from stages.learned.losses import (endpoint_error, feature_matching_loss, lsgan_discriminator_loss,
                                   lsgan_generator_loss)
from stages.learned.text import TextEncoderOptions, encode_captions, text_width
from stages.learned.training import (LoopOptions, Trainer, as_batch, endless, make_loader,
                                     to_device, update_average)
from stages.errors import InputError
from stages.options import check_keys, pick

DISCRIMINATOR_FLOW_GAIN = 16.0  # flows / 64 are ~0.02: the discriminators see them ×16, closer to the image's scale
MEAN_FLOW_CLIPS = 500  # the training mean flow is estimated from at most this many clips


@dataclass(frozen=True)
class FlowTrainingOptions(StageDataOptions):
    """G_flow's training knobs besides the loop's (params.yaml ``train_flow``)."""

    conditioning: str = "text"
    """text (caption cross-attention) or hint (dense direction hint)."""
    hint_smoothness: float = 0.25
    epe_weight: float = 10.0
    gan_weight: float = 1.0
    feature_matching_weight: float = 10.0

    @classmethod
    def from_params(cls, section: dict) -> "FlowTrainingOptions":
        options = pick(cls, section)
        if options.network not in FLOW_PRESETS:
            raise InputError(f"train_flow.network must be one of {', '.join(FLOW_PRESETS)}, got {options.network!r}")
        return options

    def clip_extras(self) -> dict:
        return {"hint": self.conditioning == "hint", "hint_smoothness": self.hint_smoothness}


def training_mean_flow(dataset: EulerianClips, threshold: float, limit: int = MEAN_FLOW_CLIPS) -> np.ndarray:
    """Mean flow vector (2,) in pixels per frame over the moving pixels of (up to ``limit``) training clips."""
    chosen = range(0, len(dataset), max(1, len(dataset) // limit))[:limit]
    total, count = np.zeros(2), 0
    for index in chosen:
        flow = dataset.load_clip(index)["flow"]  # resized as training sees it
        mask = motion_mask(flow, threshold)
        total += flow[:, mask].sum(axis=1)
        count += int(mask.sum())
    return total / max(count, 1)


class FlowTraining:
    """G_flow, its discriminators and optimisers, with the training step and validation."""

    def __init__(self, data_root: str | Path, section: dict, models: dict | None, work_dir: str | Path):
        check_keys(section, "train_flow", FlowTrainingOptions, LoopOptions, extra=("data",))
        self.options = FlowTrainingOptions.from_params(section)
        self.loop = LoopOptions.from_params(section)
        self.text = TextEncoderOptions.from_params(models) if self.options.conditioning == "text" else None
        width = text_width(self.text) if self.text else 0
        self.config = FlowNetConfig(**FLOW_PRESETS[self.options.network], conditioning=self.options.conditioning,
                                    text_width=width or FlowNetConfig.text_width)
        self.train_set = EulerianClips(data_root, "train", self.options.clips(self.options.crop), True, self.loop.seed)
        self.validation_set = EulerianClips(data_root, "validation", self.options.clips(None), False)
        missing = self.train_set.captions_missing() if self.text else []
        if missing:
            raise InputError(f"{len(missing)} training clips have no caption (e.g. {missing[0]}): add captions.json "
                             "or captions.txt, or train the directional variant (conditioning: hint)")
        torch.manual_seed(self.loop.seed)
        self.generator = FlowNet(self.config)
        if self.text:
            captions = sorted({c.caption for c in self.train_set.clips})
            captions += [mirror_caption(c) for c in captions]
            self.generator.fit_text_normaliser(encode_captions(captions, self.text))
        small = self.options.network == "small"
        condition_channels = 4 + (2 if self.options.conditioning == "hint" else 0)  # image, mask (, hint)
        self.discriminator = MultiScaleDiscriminator(condition_channels + 2, width=32 if small else 64,
                                                     layers=2 if small else 3, scales=2)
        self.average = copy.deepcopy(self.generator).requires_grad_(False)
        betas = (self.loop.beta1, self.loop.beta2)
        signature = json.dumps({"section": section, "models": models, "data": str(data_root)}, sort_keys=True,
                               default=str)
        modules = {"g": self.generator, "d": self.discriminator, "average": self.average}
        self.trainer = Trainer(self.loop, work_dir, modules,
                               {"g": torch.optim.Adam(self.generator.parameters(), self.loop.lr_g, betas=betas),
                                "d": torch.optim.Adam(self.discriminator.parameters(), self.loop.lr_d, betas=betas)},
                               signature)
        for module in modules.values():
            module.to(self.trainer.device)
        self.mean_flow = training_mean_flow(self.train_set, self.options.mask_threshold)

    @property
    def adversarial(self) -> bool:
        return self.options.gan_weight > 0 or self.options.feature_matching_weight > 0

    def predict(self, batch: dict, model: FlowNet) -> torch.Tensor:
        """``model``'s output (flow / 64) for a batch on the device."""
        text = encode_captions(batch["caption"], self.text, self.trainer.device) if self.text else None
        return model(batch["image"], batch["mask"], text, batch.get("hint"))

    def step(self, batch: dict, iteration: int) -> dict[str, float]:
        """One generator (and discriminator) update → losses."""
        trainer, weights = self.trainer, self.options
        target = batch["flow"] / FLOW_SCALE
        condition = torch.cat([batch["image"] * 2 - 1, batch["mask"]] + ([batch["hint"]] if "hint" in batch else []), 1)
        with trainer.autocast():
            predicted = self.predict(batch, self.generator)
        losses = {}
        if self.adversarial:
            with trainer.autocast():
                real = self.discriminator(torch.cat([condition, target * DISCRIMINATOR_FLOW_GAIN], 1))
                fake = self.discriminator(torch.cat([condition, predicted.detach() * DISCRIMINATOR_FLOW_GAIN], 1))
                loss_d = lsgan_discriminator_loss(real, fake)
            trainer.optimise(loss_d, "d")
            losses["d"] = float(loss_d.detach())
        with trainer.autocast():
            epe = endpoint_error(predicted.float(), target)
            loss_g = weights.epe_weight * epe
            if self.adversarial:
                fake = self.discriminator(torch.cat([condition, predicted * DISCRIMINATOR_FLOW_GAIN], 1))
                with torch.no_grad():
                    real = self.discriminator(torch.cat([condition, target * DISCRIMINATOR_FLOW_GAIN], 1))
                gan, matching = lsgan_generator_loss(fake), feature_matching_loss(real, fake)
                loss_g = loss_g + weights.gan_weight * gan + weights.feature_matching_weight * matching
                losses.update(gan=float(gan.detach()), feature_matching=float(matching.detach()))
        trainer.optimise(loss_g, "g")
        update_average(self.average, self.generator, self.loop.ema_decay)
        losses["epe_px"] = float(epe.detach()) * FLOW_SCALE
        return losses

    def validate(self) -> dict[str, float]:
        """Held-out EPEs (pixels per frame) of the averaged generator inside the masks, and its mean speed outside."""
        sums = dict(epe=0.0, epe_zero=0.0, epe_mean=0.0, speed_outside=0.0)
        inside = outside = 0.0
        mean = torch.tensor(self.mean_flow, dtype=torch.float32, device=self.trainer.device).view(1, 2, 1, 1)
        for index in range(len(self.validation_set)):
            batch = to_device(as_batch(self.validation_set[index]), self.trainer.device)
            with self.trainer.autocast():
                predicted = self.predict(batch, self.average).float() * FLOW_SCALE
            flow, mask = batch["flow"], batch["mask"]
            moving, still = float(mask.sum()), float((1 - mask).sum())
            sums["epe"] += float(endpoint_error(predicted, flow, mask)) * moving
            sums["epe_zero"] += float(endpoint_error(torch.zeros_like(flow), flow, mask)) * moving
            sums["epe_mean"] += float(endpoint_error(mean.expand_as(flow), flow, mask)) * moving
            sums["speed_outside"] += float(endpoint_error(predicted, torch.zeros_like(flow), 1 - mask)) * still
            inside, outside = inside + moving, outside + still
        metrics = {k: v / max(outside if k == "speed_outside" else inside, 1.0) for k, v in sums.items()}
        metrics["epe_vs_zero"] = metrics["epe"] / max(metrics["epe_zero"], 1e-12)
        return metrics

    def run(self) -> dict[str, float]:
        """Train (resuming when possible) → final held-out metrics."""
        batches = endless(make_loader(self.train_set, self.loop))
        description = f"G_flow ({self.options.network}, {self.options.conditioning})"
        return self.trainer.run(batches, self.step, self.validate, description)

    def export(self, out_dir: str | Path, metrics: dict) -> Path:
        """Write the (averaged) generator's checkpoint (safetensors + JSON) into ``out_dir``."""
        return save_checkpoint(out_dir, "g_flow", self.average, self.config.to_dict(),
                               text_encoder=self.text.to_dict() if self.text else None,
                               flow_scale=FLOW_SCALE, mask_threshold=self.options.mask_threshold,
                               hint_smoothness=self.options.hint_smoothness, iterations=self.trainer.iteration,
                               mean_flow=[float(v) for v in self.mean_flow],
                               metrics={k: round(v, 6) for k, v in metrics.items()})

