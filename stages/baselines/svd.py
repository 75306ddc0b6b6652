"""Image-to-video baseline: Stable Video Diffusion animates our artistic image."""

from __future__ import annotations

import numpy as np
import torch

from stages.baselines.common import BASELINES, Geometry, PipelineBaseline, load_failure, model_folder
from stages.errors import InputError
from stages.registry import registry


def crop_to_aspect(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centred crop of ``image`` (H, W, …) with the aspect ratio ``width / height`` (whole rows or columns
    dropped evenly from both sides), so that resizing it to height × width does not stretch it."""
    rows, cols = image.shape[:2]
    if cols * height > rows * width:  # wider than the target
        keep = max(1, round(rows * width / height))
        start = (cols - keep) // 2
        return image[:, start:start + keep]
    keep = max(1, round(cols * height / width))
    start = (rows - keep) // 2
    return image[start:start + keep]


@registry(BASELINES, "svd")
class StableVideoDiffusion(PipelineBaseline):
    """Stable Video Diffusion (Blattmann et al.): image-to-video, conditioned on the image's CLIP embedding and
    latent. diffusers' StableVideoDiffusionPipeline with its defaults (fps 7, motion bucket 127, noise
    augmentation 0.02, guidance 1 → 3 across frames); the image is centre-cropped to the video's aspect first."""

    name = "svd"
    reference = ("StableVideoDiffusionPipeline's own default: its UNet's frames (14; 25 for -img2vid-xt) at "
                 "576×1024, 25 steps")
    fps = 7  # the frame rate SVD is conditioned on by default, and shown at
    native = Geometry(None, 576, 1024, 25)
    small = Geometry(None, 64, 112, 3)

    def build(self) -> tuple[object, tuple[str, ...]]:
        """StableVideoDiffusionPipeline: tiny random on the tiny profile, else read from its folder or the cache."""
        from diffusers import StableVideoDiffusionPipeline

        from stages.baselines.tiny import tiny_svd

        models = self.settings.models
        if models.profile == "tiny":
            pipeline = StableVideoDiffusionPipeline(**tiny_svd(models.init_seed))
            weights = f"tiny random Stable Video Diffusion (models.init_seed {models.init_seed})"
        else:
            options = self.settings.baselines
            folder = model_folder(self.name, "Stable Video Diffusion", options.svd_model, options.svd_dir,
                                  "model_index.json", "baselines.svd_dir")
            try:
                pipeline = StableVideoDiffusionPipeline.from_pretrained(folder, dtype=self.dtype,
                                                                        local_files_only=True)
            except (OSError, ValueError, KeyError) as error:  # a missing or damaged component or model index
                raise load_failure(self.name, folder, error) from error
            weights = f"Stable Video Diffusion {options.svd_model} from {folder}"
        return pipeline.to(device=self.device, dtype=self.dtype), (weights,)

    def run(self, prompt: str, image: np.ndarray | None, generator: torch.Generator) -> np.ndarray:
        """The video of ``image``, uint8 (H, W, 3) (``prompt`` is not used)."""
        from PIL import Image

        if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InputError("svd animates a picture: give the artistic image as uint8 (H, W, 3)")
        geometry = self.geometry
        picture = Image.fromarray(crop_to_aspect(image, geometry.height, geometry.width))
        return self.pipeline(picture, height=geometry.height, width=geometry.width, num_frames=geometry.frames,
                             fps=self.fps, num_inference_steps=geometry.steps, generator=generator,
                             output_type="np").frames[0]
