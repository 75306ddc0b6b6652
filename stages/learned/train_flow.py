"""Training G_flow (method §6): end-point error ×10, LSGAN with two multi-scale discriminators, feature matching.

Held-out metrics, in pixels per frame inside the masks (pixel-weighted over the validation clips):
``epe`` of G_flow, ``epe_zero`` of predicting zero flow, ``epe_mean`` of predicting the training set's mean
flow vector, ``epe_caption_direction`` of moving the whole mask uniformly in the direction its caption names
(``stages.text.directions``; zero flow where it names none) at the training set's mean speed, and
``speed_outside`` — G_flow's mean speed outside the masks, which should be about zero. Where a clip says the sign
of its motion was left to chance (``sign_free``: the offline world's scenes), errors there — and the training
loss — take whichever sign of the truth is closer, per clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stages.learned.data import FLOW_SCALE, EulerianClips, StageDataOptions, mirror_caption, motion_mask
from stages.learned.flow_net import FLOW_PRESETS, FlowNet, FlowNetConfig
from stages.learned.layers import MultiScaleDiscriminator
from stages.learned.losses import (endpoint_error, feature_matching_loss, lsgan_discriminator_loss,
                                   lsgan_generator_loss, sign_free_endpoint_error)
from stages.learned.text import TextEncoderOptions, caption_direction, encode_captions, text_width
from stages.learned.training import GanTraining, as_batch, to_device
from stages.errors import InputError
from stages.values import SMOOTHNESS, Range, ruled

DISCRIMINATOR_FLOW_GAIN = 16.0  # flows / 64 are ~0.02: the discriminators see them ×16, closer to the image's scale
MEAN_FLOW_CLIPS = 500  # the training mean flow is estimated from at most this many clips


@dataclass(frozen=True)
class FlowTrainingOptions(StageDataOptions):
    """G_flow's training knobs besides the loop's (params.yaml ``train_flow``)."""

    conditioning: str = "text"
    """text (caption cross-attention) or hint (dense direction hint)."""
    text_encoder: str = "tiny"
    """The caption encoder (text variant): tiny or sd-random (randomly initialised CLIP text transformers),
    sd14 or sd15 (Stable Diffusion's CLIP text encoder). Recorded in the checkpoint, so inference keeps it."""
    text_encoder_dir: str | None = None
    """Diffusers-format Stable Diffusion folder holding the sd14/sd15 text encoder; None: the Hugging Face cache."""
    caption_direction: bool = True
    """Text variant: the direction the caption names also enters every SPADE block, as a 2-channel map over
    the mask (carried by the embedding's direction token, ``stages.learned.text``)."""
    text_input: bool = True
    """G_flow reads the caption (the directional variant: the hint); false: nothing derived from it, the
    w/o text ablation (``FlowNetConfig.text_input``, recorded in the checkpoint)."""
    mask_input: bool = True
    """G_flow reads the mask; false: no mask channel, the w/o mask ablation (``FlowNetConfig.mask_input``)."""
    hint_smoothness: float = ruled(0.25, SMOOTHNESS)
    epe_weight: float = ruled(10.0, Range(0))
    gan_weight: float = ruled(1.0, Range(0))
    feature_matching_weight: float = ruled(10.0, Range(0))

    SECTION, PRESETS = "train_flow", FLOW_PRESETS

    def text_options(self) -> TextEncoderOptions | None:
        """The caption encoder of the text variant; None for the directional one and without text input."""
        if self.conditioning != "text" or not self.text_input:
            return None
        return TextEncoderOptions(self.text_encoder, self.text_encoder_dir, direction_token=self.caption_direction)

    def clip_extras(self) -> dict:
        return {"hint": self.conditioning == "hint" and self.text_input, "hint_smoothness": self.hint_smoothness}


def training_motion(dataset: EulerianClips, threshold: float, limit: int = MEAN_FLOW_CLIPS) -> tuple[np.ndarray, float]:
    """Mean flow vector (2,) and mean speed, pixels per frame, over the moving pixels of (up to ``limit``)
    training clips."""
    chosen = range(0, len(dataset), max(1, len(dataset) // limit))[:limit]
    total, speed, count = np.zeros(2), 0.0, 0
    for index in chosen:
        flow = dataset.load_clip(index)["flow"]  # resized as training sees it
        mask = motion_mask(flow, threshold)
        total += flow[:, mask].sum(axis=1)
        speed += float(np.hypot(*flow[:, mask]).sum())
        count += int(mask.sum())
    return total / max(count, 1), speed / max(count, 1)


class FlowTraining(GanTraining):
    """G_flow, its discriminators and optimisers, with the training step and validation."""

    section_name, options_type = "train_flow", FlowTrainingOptions

    def __init__(self, data_root: str | Path, section: dict, work_dir: str | Path):
        super().__init__(data_root, section, work_dir)
        self.text = self.options.text_options()
        missing = self.train_set.captions_missing() if self.text else []
        if missing:
            raise InputError(f"{len(missing)} training clips have no caption (e.g. {missing[0]}): add captions.json "
                             "or captions.txt, or train the directional variant (conditioning: hint)")
        width = text_width(self.text) if self.text else 0
        self.config = FlowNetConfig(**FLOW_PRESETS[self.options.network], conditioning=self.options.conditioning,
                                    text_width=width or FlowNetConfig.text_width,
                                    caption_direction=bool(self.text and self.text.direction_token),
                                    text_input=self.options.text_input, mask_input=self.options.mask_input)
        self.setup(self._networks)
        self.mean_flow, self.mean_speed = training_motion(self.train_set, self.options.mask_threshold)

    def _networks(self) -> tuple[FlowNet, MultiScaleDiscriminator]:
        """A fresh G_flow (its caption standardisation fitted to the training captions) and its discriminators."""
        generator = FlowNet(self.config)
        if self.text:
            captions = sorted({c.caption for c in self.train_set.clips})
            captions += [mirror_caption(c) for c in captions]
            generator.fit_text_normaliser(encode_captions(captions, self.text))
        small = self.options.network == "small"
        condition_channels = 3 + int(self.config.mask_input) + 2 * self.config.reads_hint  # G_flow's own inputs
        return generator, MultiScaleDiscriminator(condition_channels + 2, width=32 if small else 64,
                                                  layers=2 if small else 3, scales=2)

    def condition(self, batch: dict) -> torch.Tensor:
        """What the discriminators are conditioned on: G_flow's own pixel inputs (image in [−1, 1], the mask and
        the hint where it reads them), (B, C, H, W)."""
        parts = [batch["image"] * 2 - 1] + [batch[name] for name, read in
                                             (("mask", self.config.mask_input), ("hint", self.config.reads_hint)) if read]
        return torch.cat(parts, 1)

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
        condition = self.condition(batch)
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
            epe = sign_free_endpoint_error(predicted.float(), target, batch["sign_free"])
            loss_g = weights.epe_weight * epe
            if self.adversarial:
                fake = self.discriminator(torch.cat([condition, predicted * DISCRIMINATOR_FLOW_GAIN], 1))
                with torch.no_grad():
                    real = self.discriminator(torch.cat([condition, target * DISCRIMINATOR_FLOW_GAIN], 1))
                gan, matching = lsgan_generator_loss(fake), feature_matching_loss(real, fake)
                loss_g = loss_g + weights.gan_weight * gan + weights.feature_matching_weight * matching
                losses.update(gan=float(gan.detach()), feature_matching=float(matching.detach()))
        self.optimise_generator(loss_g)
        losses["epe_px"] = float(epe.detach()) * FLOW_SCALE
        return losses

    def validate(self) -> dict[str, float]:
        """Held-out EPEs (pixels per frame) of the averaged generator inside the masks, and its mean speed outside."""
        sums = dict(epe=0.0, epe_zero=0.0, epe_mean=0.0, epe_caption_direction=0.0, speed_outside=0.0)
        inside = outside = 0.0
        mean = torch.tensor(self.mean_flow, dtype=torch.float32, device=self.trainer.device).view(1, 2, 1, 1)
        for index in range(len(self.validation_set)):
            batch = to_device(as_batch(self.validation_set[index]), self.trainer.device)
            with self.trainer.autocast():
                predicted = self.predict(batch, self.average).float() * FLOW_SCALE
            flow, mask, free = batch["flow"], batch["mask"], batch["sign_free"]
            moving, still = float(mask.sum()), float((1 - mask).sum())
            uniform = torch.tensor(np.multiply(caption_direction(batch["caption"][0]), self.mean_speed), dtype=torch.float32,
                                   device=flow.device).view(1, 2, 1, 1).expand_as(flow)
            for name, guess in (("epe", predicted), ("epe_zero", torch.zeros_like(flow)),
                                ("epe_mean", mean.expand_as(flow)), ("epe_caption_direction", uniform)):
                sums[name] += float(sign_free_endpoint_error(guess, flow, free, mask)) * moving
            sums["speed_outside"] += float(endpoint_error(predicted, torch.zeros_like(flow), 1 - mask)) * still
            inside, outside = inside + moving, outside + still
        metrics = {k: v / max(outside if k == "speed_outside" else inside, 1.0) for k, v in sums.items()}
        metrics["epe_vs_zero"] = metrics["epe"] / max(metrics["epe_zero"], 1e-12)
        return metrics

    def run(self) -> dict[str, float]:
        """Train (resuming when possible) → final held-out metrics."""
        return self.fit(self.step, self.validate, f"G_flow ({self.options.network}, {self.options.conditioning})")

    def export(self, out_dir: str | Path, metrics: dict) -> Path:
        """Write the (averaged) generator's checkpoint (safetensors + JSON) into ``out_dir``."""
        return super().export(out_dir, "g_flow", self.config.to_dict(), metrics,
                              text_encoder=self.text.to_dict() if self.text else None, flow_scale=FLOW_SCALE,
                              mask_threshold=self.options.mask_threshold,
                              hint_smoothness=self.options.hint_smoothness,
                              mean_flow=[float(v) for v in self.mean_flow])

