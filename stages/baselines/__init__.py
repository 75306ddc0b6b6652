"""Diffusion baselines of the paper's comparisons, by name (:data:`stages.baselines.common.BASELINES`):
``text2video_zero`` and ``animatediff`` (text-to-video, :mod:`stages.baselines.text_to_video`) and ``svd``
(image-to-video, :mod:`stages.baselines.svd`); :mod:`stages.baselines.run` runs them (docs/baselines.md)."""
