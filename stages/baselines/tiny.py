"""Tiny random components of the video baselines (the ``tiny`` profile): the real pipelines' code runs on them,
in about a second on one CPU core, and their videos are noise.

AnimateDiff's motion adapter matches the tiny Stable Diffusion of :mod:`stages.diffusion.models` (its channels
and layers per block); Stable Video Diffusion gets a two-level spatio-temporal UNet, a four-level temporal-decoder
VAE (factor 8, as SVD's) and a one-layer CLIP vision encoder. Each is drawn from ``init_seed`` alone.
"""

from __future__ import annotations

import torch

from stages.diffusion.models import random_architecture

# Stable Video Diffusion's scheduler (its scheduler/scheduler_config.json).
SVD_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    prediction_type="v_prediction", interpolation_type="linear", use_karras_sigmas=True,
                    sigma_min=0.002, sigma_max=700.0, steps_offset=1, timestep_spacing="leading",
                    timestep_type="continuous")
SVD_FRAMES = 14
"""Frames of stable-video-diffusion-img2vid (its UNet config's num_frames)."""
CLIP_IMAGE_SIZE = 224
"""SVD resizes the conditioning image to 224² for its CLIP encoder, whatever the encoder."""


def tiny_motion_adapter(init_seed: int) -> torch.nn.Module:
    """A random MotionAdapter for the tiny Stable Diffusion UNet (float32, CPU)."""
    from diffusers import MotionAdapter

    unet = random_architecture("tiny")["unet"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        return MotionAdapter(block_out_channels=unet["block_out_channels"],
                             motion_layers_per_block=unet["layers_per_block"], motion_num_attention_heads=2,
                             motion_norm_num_groups=unet["norm_num_groups"], motion_max_seq_length=32)


def tiny_svd(init_seed: int) -> dict:
    """Random components of a StableVideoDiffusionPipeline: unet, vae, image_encoder, feature_extractor,
    scheduler (float32, CPU). SVD's blocks normalise in 32 groups, so 32 channels is the least."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    width = 32
    time_ids = 3  # fps, motion bucket, noise augmentation: SVD's added time embeddings
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        unet = UNetSpatioTemporalConditionModel(
            in_channels=8, out_channels=4, block_out_channels=(width, 2 * width), layers_per_block=1,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            addition_time_embed_dim=8, projection_class_embeddings_input_dim=8 * time_ids,
            cross_attention_dim=width, num_attention_heads=(2, 4), num_frames=SVD_FRAMES)
        vae = AutoencoderKLTemporalDecoder(block_out_channels=(width,) * 4, layers_per_block=1, latent_channels=4,
                                           down_block_types=("DownEncoderBlock2D",) * 4)
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1, num_attention_heads=4,
            image_size=CLIP_IMAGE_SIZE, patch_size=32, projection_dim=width))
    return dict(unet=unet, vae=vae, image_encoder=encoder, scheduler=EulerDiscreteScheduler(**SVD_SCHEDULE),
                feature_extractor=CLIPImageProcessor(size=CLIP_IMAGE_SIZE, crop_size=CLIP_IMAGE_SIZE))
