"""The mask step: Ā's clusters that the segmentation of the realistic twin covers (method §4–5), or a user's
mask; its settings (params ``mask``) and the segmenter loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.errors import InputError
from stages.masks.segmenters import Segmenter, SegmenterOptions, create_segmenter, vocabulary_for
from stages.masks.selection import MaskOptions, MaskResult, region_mask
from stages.memo import loaded_once
from stages.options import check_keys, pick


@dataclass(frozen=True)
class MaskSettings:
    """The settings of the mask step (params section ``mask``)."""

    selection: MaskOptions = field(default_factory=MaskOptions)
    """clustering of Ā and the selection of its parts."""
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    """the segmenter of the realistic twin."""

    @classmethod
    def from_section(cls, section: dict | None) -> MaskSettings:
        """The settings of the ``mask`` section (every key checked; missing keys: defaults)."""
        check_keys(section, "mask", MaskOptions, SegmenterOptions)
        return cls(pick(MaskOptions, section, "mask"), pick(SegmenterOptions, section, "mask"))


@loaded_once(maxsize=2)
def segmenter_for(options: SegmenterOptions) -> Segmenter:
    """The segmenter of ``options``, built once per process (each Ray worker keeps its own)."""
    return create_segmenter(options)


@dataclass
class GivenMask:
    """A user's mask as the region mask: every connected part gets the prompt's region as its class."""

    mask: np.ndarray
    """bool (H, W)."""
    region_ids: np.ndarray
    """int32 (H, W): 1… for the connected parts, 0 outside the mask."""
    regions: list[dict]
    """one dict per part: id, class, pixels."""


def given_mask(mask: np.ndarray, size: tuple[int, int], region: str) -> GivenMask:
    """A bool mask (its top-left part of ``size`` (H, W), for a picture cropped to the artistic image) with
    every connected part (8-connectivity) of class ``region``; InputError past 255 parts."""
    import cv2

    mask = mask[: size[0], : size[1]]
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count > 256:
        raise InputError(f"the mask has {count - 1} separate white parts; at most 255 are supported")
    return GivenMask(mask, labels, [{"id": label, "class": region, "pixels": int((labels == label).sum())}
                                    for label in range(1, count)])


def mask_of_twins(settings: MaskSettings, attention: np.ndarray, grid: tuple[int, int], realistic: np.ndarray,
              artistic: np.ndarray, region: str) -> MaskResult:
    """Ā's clusters (float32 (h·w, h·w) over ``grid``) that the segmentation of ``realistic`` (uint8 (H, W, 3))
    for ``region`` covers, the mask's edge following ``artistic``."""
    return region_mask(attention, grid, realistic, segmenter_for(settings.segmenter), vocabulary_for(region),
                       settings.selection, artistic)
