"""Clustering Ā and selecting the cluster parts a segmentation covers, against a known label map."""

from __future__ import annotations

import numpy as np
import pytest

from stages.errors import InputError
from stages.masks.clustering import check_attention, cluster_attention, connected_parts, grid_for
from stages.masks.segmenters import Segmentation
from stages.masks.selection import MaskOptions, select_mask, upsample_nearest
from stages.images import iou

RIVER = 1


def truth_grid(height: int, width: int) -> np.ndarray:
    """Labels on the attention grid: sky (2) at the top, a wavy river band (1), land (0)."""
    rows, cols = np.mgrid[0:height, 0:width]
    centre = height * 0.62 + 1.5 * np.sin(cols / width * 2 * np.pi)
    labels = np.zeros((height, width), np.int64)
    labels[rows < height * 0.3] = 2
    labels[np.abs(rows - centre) < height * 0.13] = RIVER
    return labels


def attention_from(labels: np.ndarray, seed: int = 0, locality: float = 5.0, noise: float = 0.3) -> np.ndarray:
    """A row-stochastic Ā: pixels attend to nearby pixels of their own label (1/20 as much across labels),
    plus uniform noise of ``noise`` × the mean entry."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:labels.shape[0], 0:labels.shape[1]]
    points = np.stack([rows.ravel(), cols.ravel()], axis=1).astype(np.float64)
    distance = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
    same = labels.ravel()[:, None] == labels.ravel()[None, :]
    attention = np.exp(-distance / (2 * locality ** 2)) * np.where(same, 1.0, 0.05)
    attention += noise * attention.mean() * rng.random(attention.shape)
    return (attention / attention.sum(axis=1, keepdims=True)).astype(np.float32)


def noisy_segmentation(truth: np.ndarray, seed: int = 0) -> np.ndarray:
    """The true region (bool (H, W)) shifted down 10 px, with ragged edges (±6 px per column) and a false
    blob of radius 40 px in the land."""
    rng = np.random.default_rng(seed)
    height, width = truth.shape
    shifted = np.roll(truth, 10, axis=0)
    rows = np.arange(height)[:, None]
    top = np.argmax(shifted, axis=0) + rng.integers(-6, 7, width)
    bottom = height - np.argmax(shifted[::-1], axis=0) + rng.integers(-6, 7, width)
    ragged = (rows >= top[None, :]) & (rows < bottom[None, :])
    yy, xx = np.mgrid[0:height, 0:width]
    blob = (yy - height * 0.9) ** 2 + (xx - width * 0.2) ** 2 < 40 ** 2
    return ragged | blob


@pytest.mark.parametrize("method, clusters", [("kmeans", 10), ("spectral", 5), ("spectral", 10)])
def test_selected_mask_beats_the_noisy_segmentation(method, clusters):
    """The acceptance check, at the authors' cluster counts (k-means 10, spectral 5) and the paper's 10."""
    labels = truth_grid(32, 32)
    truth = upsample_nearest(labels, (512, 512)) == RIVER
    segmentation = noisy_segmentation(truth)
    seg_iou = iou(segmentation, truth)
    assert 0.6 < seg_iou < 0.85  # the segmentation is really off
    grid_clusters = cluster_attention(attention_from(labels), (32, 32), clusters, method, seed=0)
    labelled = Segmentation(np.where(segmentation, 0, -1).astype(np.int32), ("river",))
    paper = MaskOptions(method=method, n_clusters=clusters, boundary_overlap=1.0, refine_px=0)
    result = select_mask(grid_clusters, labelled, paper, "river")
    assert iou(result.mask, truth) >= 0.9
    assert iou(result.mask, truth) > seg_iou
    assert not result.mask[int(512 * 0.9), int(512 * 0.2)]  # the false blob is gone
    assert [region["class"] for region in result.regions] == ["river"]
    # With the additions (boundary parts, GrabCut on a picture of the scene) the mask stays as good and the blob,
    # which lies in a part the segmentation covers 39 %, still goes.
    picture = np.array([[70, 140, 60], [40, 90, 200], [200, 220, 240]], np.uint8)[np.minimum(
        upsample_nearest(labels, (512, 512)), 2)]
    refined = select_mask(grid_clusters, labelled, MaskOptions(method=method, n_clusters=clusters), "river", picture)
    assert iou(refined.mask, truth) >= 0.9 and iou(refined.mask, truth) > seg_iou
    assert not refined.mask[int(512 * 0.9), int(512 * 0.2)]  # decided by its colour: land


def test_clustering_is_seeded_and_finds_the_labels():
    labels = truth_grid(32, 32)
    attention = attention_from(labels, seed=3)
    first = cluster_attention(attention, (32, 32), 3, "spectral", seed=1)
    assert np.array_equal(first, cluster_attention(attention, (32, 32), 3, "spectral", seed=1))
    # three clusters are the three labels, up to renaming
    pairs = set(zip(first.ravel(), labels.ravel()))
    assert len(pairs) == 3


def test_non_square_grid_keeps_rows_and_columns_apart():
    height, width = 24, 40  # a 384 × 640 image
    assert grid_for(height * width, (384, 640)) == (24, 40)
    labels = np.zeros((height, width), np.int64)
    labels[:, 28:] = RIVER  # a vertical band at the right: transposing the grid would misplace it
    truth = upsample_nearest(labels, (384, 640)) == RIVER
    grid_clusters = cluster_attention(attention_from(labels), (height, width), 6, "kmeans")
    segmentation = Segmentation(np.where(truth, 0, -1).astype(np.int32), ("river",))
    result = select_mask(grid_clusters, segmentation, MaskOptions(erode=0), "river")
    assert result.mask.shape == (384, 640)
    assert iou(result.mask, truth) == 1.0


def test_connected_parts_split_a_cluster_in_two():
    labels = np.array([[0, 1, 0],
                       [0, 1, 0],
                       [1, 1, 1]])
    assert connected_parts(labels).tolist() == [[0, 1, 2], [0, 1, 2], [1, 1, 1]]


def test_a_waterfall_needs_ninety_percent_and_classes_move_apart():
    clusters = np.zeros((4, 4), np.int64)
    clusters[:, :2] = 1  # left half: a waterfall covered 80 %; right half: a lake covered fully
    labels = np.full((64, 64), -1, np.int32)
    labels[:, 32:] = 1
    labels[:51, :32] = 0
    segmentation = Segmentation(labels, ("waterfall", "lake"))
    result = select_mask(clusters, segmentation, MaskOptions(erode=0), "waterfall")
    judged = {record["class"]: record for record in result.part_records}
    assert judged["waterfall"]["overlap"] == pytest.approx(51 / 64, abs=1e-3)
    assert not judged["waterfall"]["kept"] and judged["lake"]["kept"]
    relaxed = select_mask(clusters, segmentation, MaskOptions(erode=0, class_overlap={"waterfall": 0.75}), "water")
    assert sorted(region["class"] for region in relaxed.regions) == ["lake", "waterfall"]
    assert relaxed.region_ids.max() == 2


def test_erosion_takes_two_pixels_off_each_side():
    clusters = np.zeros((4, 4), np.int64)
    clusters[1:3, 1:3] = 1
    truth = upsample_nearest(clusters, (64, 64)) == 1
    segmentation = Segmentation(np.where(truth, 0, -1).astype(np.int32), ("lake",))
    result = select_mask(clusters, segmentation, MaskOptions(erode=5), "lake")
    assert result.mask.sum() == (32 - 4) ** 2


def test_nothing_covered_is_a_clear_error():
    clusters = np.zeros((4, 4), np.int64)
    clusters[:, 2:] = 1
    labels = np.full((64, 64), -1, np.int32)
    labels[:10, :10] = 0
    with pytest.raises(InputError, match="no cluster overlaps the sea segmentation by ≥ 70 %"):
        select_mask(clusters, Segmentation(labels, ("sea",)), MaskOptions(), "sea")


@pytest.mark.parametrize("attention, message", [
    (np.zeros((16, 15)), "must be square"),
    (np.zeros((9, 9)), "grid of the image has 16 pixels"),
    (np.full((16, 16), np.nan), "non-finite"),
])
def test_bad_attention_is_refused(attention, message):
    with pytest.raises(InputError, match=message):
        check_attention(attention, (4, 4))


def test_aspect_ratio_that_fits_no_grid_is_refused():
    with pytest.raises(InputError, match="fits no grid"):
        grid_for(1024, (512, 1536))


def test_auto_erosion_is_the_papers_at_512_and_scales_with_the_image():
    assert [MaskOptions().erosion((side, side)) for side in (128, 256, 512, 1024)] == [1, 3, 5, 11]
    assert MaskOptions(erode=7).erosion((256, 256)) == 7
    with pytest.raises(InputError, match="mask.erode must be a whole number"):
        MaskOptions(erode=-2).erosion((256, 256))
