"""The procedural profile: scenes from prompts, painterly looks, the warp, exact truth and Ā."""

import csv
import hashlib
import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import ndimage
from sklearn.cluster import KMeans

from stages.diffusion.procedural import ProceduralOptions, procedural_twins, self_attention, world_kinds
from stages.errors import InputError
from stages.masks.clustering import cluster_attention
from stages.masks.segmenters import Segmentation
from stages.masks.selection import MaskOptions, select_mask
from stages.images import iou, load_mask, load_rgb
from stages.scenes.landscapes import WORLD_KINDS, make_scene, scene_for
from stages.scenes.styles import LOOKS, Style, apply_palette, apply_warp, choose_style, render, smooth_warp
from stages.text.directions import vector_to_angle, angle_difference
from stages.text.prompts import rewrite_prompt

from tests.paths import ROOT
WARP = ProceduralOptions().warp_px


def sample_prompts() -> list[dict]:
    lines = [line for line in (ROOT / "data/prompts.csv").read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


@pytest.fixture(scope="module")
def sample_rewrites():
    return [(row["id"], rewrite_prompt(row["prompt"], row["region"] or None, row["direction"] or None))
            for row in sample_prompts()]


def test_make_scene_draws_the_synth_datasets_exactly_as_before():
    # Digest of make_scene's frames, flows and captions before scene_for was added: the synth stage's
    # outputs must not change.
    digest = hashlib.sha256()
    for seed in range(12):
        for kind in (None, "river", "waterfall", "lake"):
            scene = make_scene(seed, 64, 96, 30, kind)
            for part in (scene.frame(0), scene.frame(7), scene.caption.encode(), scene.flow()):
                digest.update(part if isinstance(part, bytes) else part.tobytes())
    scene = make_scene(3)
    digest.update(scene.frame(11).tobytes())
    digest.update(scene.caption.encode())
    assert digest.hexdigest() == "f5ad7d6cfba80312af8fd2f240800936b9503277b5784ee0f85fd353d076621e"


def test_scene_for_draws_every_kind_disjoint_looping_and_moving_by_default_or_direction():
    scene = scene_for(list(WORLD_KINDS), None, 4, 128, 128, period=20)
    assert [region.name for region in scene.regions] == list(WORLD_KINDS)
    coverage = np.sum([region.mask for region in scene.regions], axis=0)
    assert coverage.max() == 1 and all(region.mask.any() for region in scene.regions)
    np.testing.assert_array_equal(scene.frame(20), scene.frame(0))
    velocity = {region.name: region.velocity for region in scene.regions}
    assert velocity["waterfall"][0] == 0 and velocity["waterfall"][1] > 0  # falls
    for name in ("sky", "clouds", "sea", "lake"):
        assert velocity[name][1] == 0 and velocity[name][0] != 0  # drift sideways
    assert abs(velocity["river"][0]) > 5 * abs(velocity["river"][1])  # runs along its course
    sea = scene_for(["sea"], None, 1, 128, 128).regions[0].mask
    assert sea[-1].all() and sea.mean() > 0.4  # a wide band from the horizon down
    sky = scene_for(["sky"], None, 1, 128, 128).regions[0].mask
    assert sky[0].all() and not sky[-1].any()
    directed = scene_for(["waterfall", "clouds"], 30.0, 4, 128, 128)
    assert angle_difference(vector_to_angle(*directed.regions[0].velocity), 30.0) < 1e-6
    assert directed.regions[1].velocity[1] == 0  # the other kinds keep their default


def test_world_kinds_read_region_and_nouns_and_refuse_what_the_world_cannot_draw():
    assert world_kinds("lake", ["lake", "cloudy", "sky"]) == ["lake", "clouds", "sky"]
    assert world_kinds("ocean", ["ocean", "waves", "palm"]) == ["sea"]
    assert world_kinds("stream", ["stream", "forest"]) == ["river"]
    for region in ("smoke", "fountain", "puddle", "thunderstorm", "castle"):
        with pytest.raises(InputError, match=r"cannot draw a '\w+': it draws .*sea.*waterfall"):
            world_kinds(region, [region])


def test_style_words_pick_looks_and_palettes_and_unknown_styles_fall_back():
    assert choose_style("a mountain lake, charcoal sketch").look == "sketch"
    assert choose_style("waterfalls, traditional chinese ink painting").look == "sketch"  # before "painting"
    assert choose_style("a waterfall in a jungle, pixel art").look == "pixel"
    style = choose_style("a calm sea at sunset in pointillism style by Georges Seurat")
    assert (style.look, style.palette) == ("pointillism", "sunset")
    fallback = choose_style("a river, digital render")
    assert fallback.is_default and fallback.look == "oil" and fallback.to_dict()["default"] is True


@pytest.fixture(scope="module")
def styled():
    """The same warped scene in every look: {look: artistic image}, the realistic twin."""
    realistic = scene_for(["lake", "clouds"], None, 2, 256, 256).frame(0)
    warped = apply_warp(realistic, smooth_warp(2, WARP, 256, 256))
    return {look: render(warped, Style(look, None, "test", None), 2) for look in LOOKS}, realistic


def canny(image: np.ndarray) -> np.ndarray:
    return cv2.Canny(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 50, 150) > 0


def edge_coverage(realistic: np.ndarray, artistic: np.ndarray, tolerance: float) -> float:
    """Fraction of the realistic twin's Canny edges within ``tolerance`` pixels of an artistic edge."""
    distance = cv2.distanceTransform((~canny(artistic)).astype(np.uint8), cv2.DIST_L2, 5)
    return float((distance[canny(realistic)] <= tolerance).mean())


@pytest.mark.parametrize("look", LOOKS)
def test_the_realistic_twins_edges_are_covered_by_the_artistic_image(look, styled):
    images, realistic = styled
    assert edge_coverage(realistic, images[look], WARP + 1) >= 0.8


def test_the_edge_criterion_fails_for_edges_moved_further_than_the_warp(styled):
    images, realistic = styled
    # Looks without edges everywhere (pixel art's blocks and the sketch's hatching put an edge within the
    # tolerance of almost every pixel).
    for look in ("woodblock", "watercolour"):
        moved = np.roll(images[look], 4 * int(WARP + 1), axis=0)
        assert edge_coverage(realistic, moved, WARP + 1) < 0.8, look


def colour_function_residual(source: np.ndarray, target: np.ndarray) -> float:
    """RMS error of the best prediction of ``target`` from ``source``'s colour (32 levels per channel),
    relative to ``target``'s spread: ~0 when ``target`` is any palette (colour map) of ``source``."""
    quantised = (source // 8).astype(np.int64)
    key = ((quantised[..., 0] * 32 + quantised[..., 1]) * 32 + quantised[..., 2]).ravel()
    values = target.reshape(-1, 3).astype(np.float64)
    counts = np.maximum(np.bincount(key, minlength=32 ** 3), 1)[:, None]
    means = np.stack([np.bincount(key, values[:, c], minlength=32 ** 3) for c in range(3)], axis=1) / counts
    return float(np.sqrt(((values - means[key]) ** 2).mean()) / values.std())


def test_every_look_differs_from_every_other_beyond_a_palette(styled):
    images, _ = styled
    assert colour_function_residual(images["oil"], apply_palette(images["oil"], "night")) < 0.05  # the control
    for first, second in itertools.combinations(LOOKS, 2):
        residual = min(colour_function_residual(images[first], images[second]),
                       colour_function_residual(images[second], images[first]))
        assert residual > 0.1, (first, second, residual)


def test_the_truth_is_the_realistic_regions_moved_by_the_recorded_warp_only():
    rewrite = rewrite_prompt("a calm lake under a cloudy sky, ukiyo-e woodblock print")
    twins = procedural_twins(rewrite, 3, 256, 256)
    warp = smooth_warp(twins.warp_seed, WARP, 256, 256)
    np.testing.assert_array_equal(warp, twins.warp)
    assert np.hypot(*warp).max() == pytest.approx(WARP, rel=1e-5)
    for region, (name, truth) in zip(twins.scene.regions, twins.truth_masks().items()):
        assert name == region.name
        np.testing.assert_array_equal(truth, apply_warp(region.mask.astype(np.uint8), warp, nearest=True) > 0)
        assert 0 < (truth != region.mask).mean() < 0.05  # moved, by a few pixels
        np.testing.assert_array_equal(twins.truth_flow[:, truth], np.array(region.velocity, np.float32)[:, None]
                                      * np.ones((1, truth.sum()), np.float32))
    unwarped = procedural_twins(rewrite, 3, 256, 256, ProceduralOptions(warp_px=0.0))
    for region, truth in zip(unwarped.scene.regions, unwarped.truth_masks().values()):
        np.testing.assert_array_equal(truth, region.mask)


def test_procedural_twins_are_seeded():
    rewrite = rewrite_prompt("a river flowing from right to left past a castle, baroque oil painting")
    first, again, other = (procedural_twins(rewrite, seed, 128, 128) for seed in (5, 5, 6))
    for name in ("artistic", "realistic", "attention", "truth_labels", "truth_flow"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.realistic, other.realistic)
    assert angle_difference(first.scene.regions[0].angle, 180.0) <= 5.0  # right to left: 170–190, jitter 0.5


def test_self_attention_is_row_stochastic_on_the_sixteenth_size_grid():
    image = scene_for(["sea"], None, 0, 128, 192).frame(0)
    attention = self_attention(image)
    assert attention.shape == (8 * 12, 8 * 12) and attention.dtype == np.float32
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    # cells attend most to cells like themselves: a sea cell's row weighs sea cells above sky cells
    sea_row, sky_row = 7 * 12 + 5, 0
    assert attention[sea_row, sea_row] > attention[sea_row, sky_row]
    assert attention[sky_row, sky_row] > attention[sky_row, sea_row]


def cluster_selection(attention: np.ndarray, grid: tuple[int, int], segmentation: np.ndarray,
                      clusters: int = 10, keep: float = 0.7) -> np.ndarray:
    """The method's mask at the attention grid, bool (h, w): k-means of Ā's rows, each cluster split into
    connected components, a component kept when ≥ ``keep`` of its pixels lie in ``segmentation``."""
    labels = KMeans(clusters, n_init=5, random_state=0).fit_predict(attention).reshape(grid)
    covered = cell_fraction(segmentation, grid)
    selected = np.zeros(grid, bool)
    for cluster in range(clusters):
        components, count = ndimage.label(labels == cluster)
        for component in range(1, count + 1):
            cells = components == component
            if covered[cells].mean() >= keep:
                selected |= cells
    return selected


def cell_fraction(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Fraction of each 16×16 cell of ``mask`` that is set, (h, w)."""
    return mask.reshape(grid[0], 16, grid[1], 16).mean(axis=(1, 3))


def clustering_ious(rewrites, warp_px: float) -> np.ndarray:
    """Per sample prompt: (IoU of the cluster selection, IoU of the realistic twin's exact mask) with the
    artistic truth of the named region, both at the attention grid (a cell is in a mask when most of it is)."""
    results = []
    for seed, (_, rewrite) in enumerate(rewrites):
        twins = procedural_twins(rewrite, seed, 256, 256, ProceduralOptions(warp_px=warp_px))
        segmentation, truth = twins.scene.regions[0].mask, twins.truth_labels == 1
        grid = twins.attention_grid
        truth_cells, segmentation_cells = cell_fraction(truth, grid) > 0.5, cell_fraction(segmentation, grid) > 0.5
        selected = cluster_selection(twins.attention, grid, segmentation)
        results.append((iou(selected, truth_cells), iou(segmentation_cells, truth_cells)))
    return np.array(results)


def test_the_selected_mask_is_closer_to_the_artistic_truth_than_the_realistic_twins_mask(sample_rewrites):
    """The method's selection (stages.masks.selection, erosion off) with the realistic twin's exact region mask
    as the segmentation, scored at full resolution against the artistic image's truth."""
    scores = []
    for seed, (_, rewrite) in enumerate(sample_rewrites):
        twins = procedural_twins(rewrite, seed, 256, 256, ProceduralOptions())
        segmentation, truth = twins.scene.regions[0].mask, twins.truth_labels == 1
        clusters = cluster_attention(twins.attention, twins.attention_grid, 10, "kmeans", 0)
        labels = Segmentation(np.where(segmentation, 0, -1).astype(np.int32), (rewrite.region,))
        selected = select_mask(clusters, labels, MaskOptions(erode=0), rewrite.region, twins.artistic).mask
        scores.append((iou(selected, truth), iou(segmentation, truth)))
    selected_iou, segmentation_iou = np.mean(scores, axis=0)
    assert selected_iou >= 0.9 and selected_iou > segmentation_iou, (selected_iou, segmentation_iou)


def test_clustering_the_attention_repairs_a_misalignment_of_a_cell(sample_rewrites):
    ious = clustering_ious(sample_rewrites, 16.0)
    assert ious[:, 0].mean() >= 0.85 and ious[:, 0].mean() > ious[:, 1].mean(), ious.mean(axis=0)


def test_make_twins_writes_the_pair_attention_meta_and_truth(tmp_path):
    from flows.twin_flows import write_twin_gallery
    from tasks.twins import describe_attention, make_twins

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["models"]["profile"] == "procedural"
    rewrite = rewrite_prompt("clouds moving upwards over a lavender field, digital render")
    result, meta = make_twins(rewrite, 9, params, tmp_path / "a")
    assert (meta["twins"]["height"], meta["twins"]["width"], meta["attention_grid"]) == (256, 256, [16, 16])
    assert meta["model"]["profile"] == "procedural" and meta["files"]["attention"] == "attention.npy"
    assert meta["procedural"]["style"]["default"] is True and meta["procedural"]["warp"]["amplitude_px"] == WARP
    assert meta["procedural"]["kinds"] == ["clouds"] and meta["direction"] == "upwards"
    assert angle_difference(meta["procedural"]["regions"][0]["angle_degrees"], 90.0) <= 5.0
    folder = tmp_path / "a"
    np.testing.assert_array_equal(load_rgb(folder / "artistic.png"), result.artistic)
    np.testing.assert_array_equal(load_mask(folder / "truth_mask.png"), result.truth_labels > 0)
    np.testing.assert_array_equal(load_mask(folder / meta["truth"]["classes"]["clouds"]), result.truth_labels == 1)
    np.testing.assert_array_equal(np.load(folder / "truth_flow.npy"), result.truth_flow)
    summary = describe_attention(np.load(folder / "attention.npy"), tuple(meta["attention_grid"]), (256, 256), folder)
    assert summary["grid"] == [16, 16]
    with pytest.raises(InputError, match="cannot draw a 'smoke'"):
        make_twins(rewrite_prompt("smoke rising from a chimney, oil painting"), 0, params, tmp_path / "b")
    (tmp_path / "gallery").mkdir()
    manifest = pd.DataFrame({"id": ["a", "b"], "status": ["ok", "failed"], "error": ["", "cannot draw"]})
    write_twin_gallery(manifest, tmp_path, tmp_path / "gallery")
    sheet = load_rgb(tmp_path / "gallery/contact_sheet.png")
    assert sheet.shape[1] == 3 * (2 * 160 + 6) and "contact_sheet.png" in (tmp_path / "gallery/index.html").read_text()
    assert json.loads((folder / "meta.json").read_text())["truth"]["flow"] == "truth_flow.npy"
