"""Selection (method §5): keep the parts of Ā's clusters that the segmentation of the realistic twin covers.

A cluster part is kept when the segmentation covers at least ``overlap`` of its pixels (``class_overlap``
overrides it per class: 0.9 for waterfalls), judged by the threshold of the class the segmentation gives
most of its covered pixels. The kept parts are upsampled (nearest) to the image size, optionally eroded,
and every connected part of the result keeps its class, so a waterfall and the lake below it can move
differently. Following the clusters, not the segmentation, fixes the boundary misalignment between twins.

Two additions to the paper's selection, both off with ``boundary_overlap: 1`` and ``refine_px: 0``: Ā's
cells are 16 pixels wide, so a part straddling the region's edge mixes both sides and is dropped whole; a
part the segmentation covers at least ``boundary_overlap`` gives the segmentation's own pixels inside it
(segmentation errors in parts it barely covers stay out). Then the band of ``refine_px`` pixels around
the mask's edge, and every pixel a boundary part added, is re-decided from the artistic image's own colours
(GrabCut: a colour model of each side, a graph cut along the artistic edges; only kept parts are sure), so
the edge follows the picture being animated rather than the 16-pixel grid or the other twin, and a false
blob of the segmentation inside a boundary part goes when it has the colours of its surroundings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from stages.errors import InputError
from stages.masks.clustering import cluster_attention, connected_parts
from stages.masks.segmenters import Segmentation, Segmenter, Vocabulary
from stages.values import FRACTION, SEED, Range, ruled

PAPER_EROSION, PAPER_SIZE = 5, 512
"""The paper's erosion kernel (5 × 5) and the image side it was chosen for (512²)."""

DEFAULT_CLUSTERS = {"kmeans": 10, "spectral": 5}
"""Clusters per method when ``n_clusters`` is auto (the authors' configs; the paper says 10)."""


@dataclass(frozen=True)
class MaskOptions:
    """Knobs of clustering and selection (params.yaml ``mask``)."""

    method: str = "kmeans"
    """kmeans or spectral."""
    n_clusters: int | str = "auto"
    """Clusters of Ā's rows; auto = 10 for kmeans, 5 for spectral. Thin structures need more."""
    seed: int = ruled(0, SEED)
    """Seed of the clustering."""
    overlap: float = ruled(0.7, FRACTION)
    """A cluster part is kept when the segmentation covers at least this fraction of its pixels."""
    class_overlap: dict = field(default_factory=lambda: {"waterfall": 0.9})
    """Per-class thresholds replacing ``overlap`` for parts the segmentation gives that class."""
    erode: int | str = "auto"
    """Side of the square erosion kernel applied to the image-size mask, pixels; 0 = no erosion; auto = the
    paper's 5 at 512 pixels, scaled with the image's shorter side and kept odd (3 at 256)."""
    boundary_overlap: float = ruled(0.2, FRACTION)
    """Parts covered at least this much (but under their threshold) contribute the segmentation's pixels
    inside them; 1 = never (the paper's selection)."""
    refine_px: int = ruled(4, Range(0, 1024, integer=True))
    """Half-width of the band around the mask's edge re-decided from the artistic image's colours, pixels;
    0 = no refinement (the paper's nearest upsampling)."""

    def clusters(self) -> int:
        """The number of clusters, ``auto`` resolved by method."""
        if self.n_clusters == "auto":
            if self.method not in DEFAULT_CLUSTERS:
                raise InputError(f"unknown clustering method {self.method!r}; methods: {', '.join(DEFAULT_CLUSTERS)}")
            return DEFAULT_CLUSTERS[self.method]
        if isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, int):
            raise InputError(f"mask.n_clusters must be a whole number or auto, got {self.n_clusters!r}")
        return self.n_clusters

    def erosion(self, size: tuple[int, int]) -> int:
        """The erosion kernel's side for an image of ``size`` (H, W) pixels, ``auto`` resolved."""
        if self.erode == "auto":
            return max(1, int(PAPER_EROSION * min(size) / PAPER_SIZE) // 2 * 2 + 1)
        if isinstance(self.erode, bool) or not isinstance(self.erode, int) or self.erode < 0:
            raise InputError(f"mask.erode must be a whole number ≥ 0 or auto, got {self.erode!r}")
        return self.erode


@dataclass
class MaskResult:
    """The region mask and how it was chosen.

    mask: bool (H, W); classes: int32 (H, W), index into ``class_names`` of every mask pixel, −1 elsewhere;
    clusters / parts: int32 (h, w) on the attention grid; segmentation: what the segmenter said;
    part_records: one dict per cluster part (overlap, class, threshold, kept); regions: one dict per
    connected part of the mask (id, class, pixels, box [x0, y0, x1, y1]); region_ids: int32 (H, W), 1… for
    the regions, 0 outside the mask.
    """

    mask: np.ndarray
    classes: np.ndarray
    class_names: tuple[str, ...]
    clusters: np.ndarray
    parts: np.ndarray
    segmentation: Segmentation
    part_records: list[dict]
    regions: list[dict]
    region_ids: np.ndarray


def upsample_nearest(grid_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (h, w) map repeated to (H, W) = ``size`` by nearest-neighbour sampling (pixel centres)."""
    rows = (np.arange(size[0]) * grid_map.shape[0]) // size[0]
    cols = (np.arange(size[1]) * grid_map.shape[1]) // size[1]
    return grid_map[rows][:, cols]


def judge_parts(parts: np.ndarray, clusters: np.ndarray, segmentation: Segmentation,
                options: MaskOptions) -> list[dict]:
    """One record per cluster part: its cluster, pixels, the fraction the segmentation covers, the class it
    gives most of them, that class's threshold and whether the part is kept."""
    size = segmentation.labels.shape
    upsampled = upsample_nearest(parts, size).ravel()
    labels = segmentation.labels.ravel()
    records = []
    for part in range(int(parts.max()) + 1):
        inside = labels[upsampled == part]
        covered = inside[inside >= 0]
        overlap = covered.size / max(inside.size, 1)
        name = segmentation.classes[int(np.bincount(covered).argmax())] if covered.size else None
        threshold = float(options.class_overlap.get(name, options.overlap))
        cluster = int(clusters[parts == part][0])
        records.append({"part": part, "cluster": cluster, "pixels": int(inside.size),
                        "overlap": round(float(overlap), 4), "class": name, "threshold": threshold,
                        "kept": bool(covered.size and overlap >= threshold)})
    return records


def select_mask(clusters: np.ndarray, segmentation: Segmentation, options: MaskOptions,
                region: str, artistic: np.ndarray | None = None) -> MaskResult:
    """The image-size mask of the cluster parts the segmentation covers (module docstring).

    clusters: int (h, w) cluster labels on the attention grid; segmentation at the image size (H, W);
    artistic: uint8 (H, W, 3), the picture whose edges the mask's boundary band follows (None: no
    refinement). InputError when no part is covered enough, not even as a boundary part (or the erosion
    removes every pixel).
    """
    parts = connected_parts(clusters)
    records = judge_parts(parts, clusters, segmentation, options)
    classes, names, unsure = selected_classes(parts, records, segmentation, options.boundary_overlap)
    if not names:
        raise InputError(f"no cluster overlaps the {region} segmentation by ≥ {options.overlap * 100:g} %: try another "
                         "segmenter, more clusters (mask.n_clusters) or a lower mask.overlap")
    if artistic is not None and options.refine_px > 0:
        classes = refined_classes(classes, artistic, options.refine_px, unsure)
    mask = classes >= 0
    erosion = options.erosion(mask.shape)
    if erosion > 1:
        mask = cv2.erode(mask.astype(np.uint8), np.ones((erosion, erosion), np.uint8)).astype(bool)
        if not mask.any():
            raise InputError(f"the {region} mask is empty after a {erosion}x{erosion} erosion: lower mask.erode")
    classes = np.where(mask, classes, -1).astype(np.int32)
    regions, region_ids = connected_regions(classes, names)
    return MaskResult(mask, classes, names, clusters, parts, segmentation, records, regions, region_ids)


def selected_classes(parts: np.ndarray, records: list[dict], segmentation: Segmentation, boundary_overlap: float
                     ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """The class map int32 (H, W) of the kept parts (their records' classes), plus the segmentation's own
    pixels and classes inside the parts it covers at least ``boundary_overlap``; −1 elsewhere. Returns it
    with the class names it indexes and the pixels that are unsure, bool (H, W): every pixel those boundary
    parts added (a segmentation error inside one looks like them)."""
    size = segmentation.labels.shape
    part_pixels = upsample_nearest(parts, size)
    kept = {record["part"]: record["class"] for record in records if record["kept"]}
    mixed = [record["part"] for record in records if not record["kept"] and record["class"] is not None
             and record["overlap"] >= boundary_overlap]
    mixed_pixels = np.isin(part_pixels, mixed) & (segmentation.labels >= 0)
    names = tuple(dict.fromkeys([*kept.values(), *(segmentation.classes[label] for label in
                                                  np.unique(segmentation.labels[mixed_pixels]))]))
    classes = np.full(size, -1, np.int32)
    for part, name in kept.items():
        classes[part_pixels == part] = names.index(name)
    lookup = np.array([names.index(name) if name in names else -1 for name in segmentation.classes], np.int32)
    classes[mixed_pixels] = lookup[segmentation.labels[mixed_pixels]]
    return classes, names, mixed_pixels


def refined_classes(classes: np.ndarray, artistic: np.ndarray, band_px: int, unsure: np.ndarray) -> np.ndarray:
    """``classes`` (int32 (H, W), −1 = outside) with the pixels within ``band_px`` of the mask's edge, and the
    ``unsure`` ones (bool (H, W)), re-decided by GrabCut on ``artistic`` (uint8 (H, W, 3)); a pixel joining
    the mask takes the class of the nearest mask pixel. Unchanged when the mask leaves no sure inside or no
    outside to learn colours from."""
    mask = (classes >= 0).astype(np.uint8)
    kernel = np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8)
    inner, outer = cv2.erode(mask, kernel).astype(bool) & ~unsure, cv2.dilate(mask, kernel).astype(bool)
    if not inner.any() or outer.all():
        return classes
    labels = np.full(mask.shape, cv2.GC_BGD, np.uint8)
    labels[outer] = cv2.GC_PR_BGD
    labels[mask.astype(bool)] = cv2.GC_PR_FGD
    labels[inner] = cv2.GC_FGD
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: deterministic results
    cv2.grabCut(np.ascontiguousarray(artistic[..., ::-1]), labels, None, np.zeros((1, 65)), np.zeros((1, 65)),
                GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    refined = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    nearest = ndimage.distance_transform_edt(classes < 0, return_distances=False, return_indices=True)
    return np.where(refined, classes[nearest[0], nearest[1]], -1).astype(np.int32)


GRABCUT_ITERATIONS = 4
"""Rounds of colour-model fitting and graph cut in the boundary refinement."""


def connected_regions(classes: np.ndarray, names: tuple[str, ...]) -> tuple[list[dict], np.ndarray]:
    """The 8-connected parts of each class of ``classes`` (int (H, W), −1 = none) → their records and an
    id map int32 (H, W) (1… for the parts, 0 elsewhere)."""
    ids = np.zeros(classes.shape, np.int32)
    regions = []
    for index, name in enumerate(names):
        count, components, stats, _ = cv2.connectedComponentsWithStats((classes == index).astype(np.uint8),
                                                                       connectivity=8)
        for component in range(1, count):
            x, y, width, height, pixels = (int(v) for v in stats[component])
            ids[components == component] = len(regions) + 1
            regions.append({"id": len(regions) + 1, "class": name, "pixels": pixels,
                            "box": [x, y, x + width, y + height]})
    return regions, ids


def region_mask(attention: np.ndarray, grid: tuple[int, int], image: np.ndarray, segmenter: Segmenter,
                vocabulary: Vocabulary, options: MaskOptions, artistic: np.ndarray | None = None) -> MaskResult:
    """Cluster Ā (float (h·w, h·w) over the ``grid``), segment ``image`` (uint8 (H, W, 3), the realistic
    twin) for ``vocabulary`` and select the covered cluster parts, their edge following ``artistic``
    (uint8 (H, W, 3); default ``image``)."""
    clusters = cluster_attention(attention, grid, options.clusters(), options.method, options.seed)
    segmentation = segmenter.segment(image, vocabulary)
    return select_mask(clusters, segmentation, options, vocabulary.region,
                       image if artistic is None else artistic)
