"""Training G_frame (method §7): L1 ×10, perceptual, LSGAN; ground-truth flows first, then G_flow's predictions.

Periodic validation: ``psnr_sample``, PSNR on the moving region of one fixed target frame per held-out clip.
Final evaluation (:func:`compare_renderers`): each held-out clip is rendered as a seamless loop of as many
frames as its ground-truth video, from its input image and flow, by G_frame and by the motion engine's
non-learned renderer; ``psnr_learned`` and ``psnr_renderer`` are their PSNRs against the ground-truth
frames on the moving region (every ``eval_stride``-th frame, the same frames for both), averaged over clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stages.motion.engine import LoopRenderer
from stages.errors import InputError
from stages.motion.flowfield import mean_flow_angle
from stages.images import to_uint8
from stages.learned.data import EulerianClips, StageDataOptions, motion_mask
from stages.learned.frame_net import FRAME_PRESETS, FrameNet, FrameNetConfig
from stages.learned.inference import FlowPredictor, LearnedRenderer
from stages.learned.layers import MultiScaleDiscriminator
from stages.evaluation.video_metrics import psnr
from stages.learned.losses import lsgan_discriminator_loss, lsgan_generator_loss, make_perceptual_loss
from stages.learned.training import GanTraining, as_batch, to_device
from stages.values import COUNT, FEATHER, Range, ruled


@dataclass(frozen=True)
class FrameTrainingOptions(StageDataOptions):
    """G_frame's training knobs besides the loop's (params.yaml ``train_frame``)."""

    feather_px: float = ruled(3.0, FEATHER)
    l1_weight: float = ruled(10.0, Range(0))
    perceptual_weight: float = ruled(1.0, Range(0))
    gan_weight: float = ruled(1.0, Range(0))
    vgg_weights: str | None = None
    """VGG-16 weight file for the perceptual loss; None: torchvision's file in the torch hub cache if present,
    else an image-gradient loss stands in."""
    flow_model: str | None = None
    """G_flow checkpoint folder for the second phase; None: ground-truth flows throughout."""
    predicted_flow_iterations: int = ruled(0, Range(0, 10**9, integer=True))
    """The last this-many iterations train on G_flow's predicted flows (second phase)."""
    eval_stride: int = ruled(4, COUNT)
    """The final evaluation compares every this-many-th frame of each loop."""

    SECTION, PRESETS = "train_frame", FRAME_PRESETS

    @classmethod
    def from_params(cls, section: dict) -> "FrameTrainingOptions":
        options = super().from_params(section)
        if options.predicted_flow_iterations and not options.flow_model:
            raise InputError("train_frame.predicted_flow_iterations needs train_frame.flow_model (a G_flow checkpoint)")
        return options

    def clip_extras(self) -> dict:
        return {"frames": True, "feather_px": self.feather_px}


def compare_renderers(model: FrameNet, dataset: EulerianClips, stride: int, feather_px: float,
                      flow_predictor: FlowPredictor | None = None) -> dict[str, float]:
    """Mean PSNR (dB, moving region) of G_frame and of the engine's renderer over ``dataset``'s clips.

    With ``flow_predictor``, also both renderers given G_flow's flow (``*_predicted_flow``).
    """
    scores: dict[str, list[float]] = {}
    for index in range(len(dataset)):
        clip = dataset.clips[index]
        arrays = dataset.load_clip(index)
        image, flow, video = arrays["image"], arrays["flow"], arrays["video"]
        mask = motion_mask(flow, dataset.options.mask_threshold)
        if not mask.any():
            continue
        flows = {"": flow * mask}
        if flow_predictor is not None:
            flows["_predicted_flow"] = flow_predictor.predict(image, mask, caption=clip.caption,
                                                              angle=mean_flow_angle(flow, mask))
        chosen = list(range(0, len(video), stride))
        for suffix, motion in flows.items():
            for name, renderer in (("learned", LearnedRenderer(model, image, mask, motion, len(video), feather_px)),
                                   ("renderer", LoopRenderer(image, mask, motion, len(video), feather_px))):
                frames = np.stack([renderer.frame(n) for n in chosen])
                scores.setdefault(f"psnr_{name}{suffix}", []).append(psnr(frames, video[chosen], mask))
    return {name: float(np.mean(values)) for name, values in scores.items()}


class FrameTraining(GanTraining):
    """G_frame, its discriminators, losses and optimisers, with the training step and validation."""

    section_name, options_type = "train_frame", FrameTrainingOptions

    def __init__(self, data_root: str | Path, section: dict, work_dir: str | Path):
        super().__init__(data_root, section, work_dir)
        self.config = FrameNetConfig(**FRAME_PRESETS[self.options.network])
        small = self.options.network == "small"
        self.perceptual, self.perceptual_name = make_perceptual_loss(self.options.vgg_weights)
        self.setup(lambda: (FrameNet(self.config),
                            MultiScaleDiscriminator(3, width=32 if small else 64, layers=2 if small else 3)),
                   self.perceptual)
        self.flow_predictor = (FlowPredictor(self.options.flow_model, self.trainer.device)
                               if self.options.flow_model else None)

    def _flows(self, batch: dict, iteration: int) -> torch.Tensor:
        """Ground-truth flows, or G_flow's (masked) predictions in the second phase."""
        second_phase = iteration >= self.loop.iterations - self.options.predicted_flow_iterations
        if self.flow_predictor is None or not second_phase:
            return batch["flow"]
        predicted = []
        for b in range(len(batch["flow"])):
            image = to_uint8(batch["image"][b])
            mask = batch["mask"][b, 0].bool().cpu().numpy()
            if not mask.any():
                predicted.append(batch["flow"][b])
                continue
            flow = batch["flow"][b].cpu().numpy()
            predicted.append(torch.from_numpy(self.flow_predictor.predict(
                image, mask, caption=batch["caption"][b], angle=mean_flow_angle(flow, mask))).to(batch["flow"].device))
        return torch.stack(predicted)

    def step(self, batch: dict, iteration: int) -> dict[str, float]:
        """One generator (and discriminator) update → losses."""
        trainer, weights = self.trainer, self.options
        flow = self._flows(batch, iteration)
        with trainer.autocast():
            frame = self.generator(batch["image"], batch["last"], flow, batch["step"], batch["span"], batch["feather"])
        target = batch["target"]
        losses = {}
        if weights.gan_weight > 0:
            with trainer.autocast():
                loss_d = lsgan_discriminator_loss(self.discriminator(target * 2 - 1),
                                                  self.discriminator(frame.detach() * 2 - 1))
            trainer.optimise(loss_d, "d")
            losses["d"] = float(loss_d.detach())
        with trainer.autocast():
            l1 = (frame - target).abs().mean()
            loss = weights.l1_weight * l1
            if weights.perceptual_weight > 0:
                perceptual = self.perceptual(frame.float(), target)
                loss = loss + weights.perceptual_weight * perceptual
                losses["perceptual"] = float(perceptual.detach())
            if weights.gan_weight > 0:
                gan = lsgan_generator_loss(self.discriminator(frame * 2 - 1))
                loss = loss + weights.gan_weight * gan
                losses["gan"] = float(gan.detach())
        self.optimise_generator(loss)
        losses["l1"] = float(l1.detach())
        return losses

    def validate(self) -> dict[str, float]:
        """PSNR (dB) of the averaged generator on the moving region of each held-out clip's fixed target frame."""
        values = []
        for index in range(len(self.validation_set)):
            batch = to_device(as_batch(self.validation_set[index]), self.trainer.device)
            with self.trainer.autocast():
                frame = self.average(batch["image"], batch["last"], batch["flow"], batch["step"], batch["span"],
                                     batch["feather"])
            values.append(psnr(to_uint8(frame), to_uint8(batch["target"]), batch["mask"][0, 0].bool().cpu().numpy()))
        return {"psnr_sample": float(np.mean(values))}

    def run(self) -> dict[str, float]:
        """Train (resuming when possible), then compare with the engine's renderer → held-out metrics."""
        metrics = self.fit(self.step, self.validate, f"G_frame ({self.options.network})")
        self.average.eval()
        metrics.update(compare_renderers(self.average, self.validation_set, self.options.eval_stride,
                                         self.options.feather_px, self.flow_predictor))
        return metrics

    def export(self, out_dir: str | Path, metrics: dict) -> Path:
        """Write the (averaged) generator's checkpoint (safetensors + JSON) into ``out_dir``."""
        return super().export(out_dir, "g_frame", self.config.to_dict(), metrics, feather_px=self.options.feather_px,
                              perceptual_loss=self.perceptual_name)
