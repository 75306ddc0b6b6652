"""The ``mask`` step over the twins, and the ``train_segment`` stage of its offline segmenter.

Per item (one twins folder: artistic.png, realistic.png, attention.npy, meta.json), with ``<stem>`` = mask:
- ``mask.png``: the region to animate (white), the artistic image's size;
- ``mask_overlay.png``: the mask tinted over the artistic image;
- ``mask_regions.png``: 8-bit ids of the mask's connected parts (0 = static, 1… as listed in mask.json);
- ``clusters.png``: Ā's clusters in colours; ``segmentation.png``: the segmenter's classes in colours;
- ``segmentation_mask.png``: what the segmentation alone says moves (any class of the region's vocabulary);
- ``mask.json``: the segmenter and vocabulary, every cluster part with its overlap and class, which were
  kept, and the class of every connected part of the mask (a waterfall and its lake move differently).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from stages.errors import InputError
from stages.images import load_rgb, save_png
from stages.masks.clustering import grid_for
from stages.masks.pictures import label_picture, overlay
from stages.masks.maker import MaskSettings, mask_of_twins
from stages.masks.segmenters import SegmenterOptions, vocabulary_for
from stages.masks.selection import MaskOptions, MaskResult
from stages.masks.training import SegmentTrainingOptions, train_segmenter
from stages.options import options_from
from tasks.batch import Item, ItemStep


def output_paths(mask_path: Path) -> dict[str, Path]:
    """Every file written for the mask file ``mask_path`` (its siblings are named after its stem)."""
    folder, stem = mask_path.parent, mask_path.stem
    return {"mask": mask_path, "overlay": folder / f"{stem}_overlay.png", "regions": folder / f"{stem}_regions.png",
            "clusters": folder / "clusters.png", "segmentation": folder / "segmentation.png",
            "segmentation_mask": folder / "segmentation_mask.png",
            "record": folder / f"{stem}.json"}


def make_mask(attention_path: Path, image_path: Path, region: str, section: dict, mask_path: Path,
              artistic_path: Path | None = None, grid: tuple[int, int] | None = None) -> dict:
    """Cluster Ā, segment the realistic twin for ``region``, write the mask files (module docstring) for
    ``mask_path`` and return the mask.json record. ``artistic_path``: the picture under the overlay (default
    ``image_path``); ``grid``: Ā's (h, w) (default: from its size and the image's aspect ratio).

    Refuses to write over any input file.
    """
    paths = output_paths(Path(mask_path))
    inputs = {Path(p).resolve() for p in (attention_path, image_path, artistic_path) if p is not None}
    clashing = [str(p) for p in paths.values() if p.resolve() in inputs]
    if clashing:
        raise InputError(f"the output {clashing[0]} would overwrite an input: choose another -o")
    settings = MaskSettings.from_section(section)
    image = load_rgb(image_path)
    artistic = load_rgb(artistic_path) if artistic_path is not None else image
    if artistic.shape != image.shape:
        raise InputError(f"{artistic_path} and {image_path} must have the same size (they are twins)")
    attention = load_attention(attention_path)
    grid = tuple(grid) if grid is not None else grid_for(attention.shape[0], image.shape[:2])
    result = mask_of_twins(settings, attention, grid, image, artistic, region)
    record = mask_record(result, grid, image.shape[:2], vocabulary_for(region), settings.selection,
                         settings.segmenter)
    write_outputs(result, artistic, record, paths)
    return record


def load_attention(path: Path) -> np.ndarray:
    """Ā from a .npy file (shape and values are checked by the clustering)."""
    if not Path(path).is_file():
        raise InputError(f"attention matrix not found: {path} (the attention.npy of `cinemagraph twins`)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise InputError(f"{path} is not a NumPy .npy matrix ({error})") from error


def mask_record(result: MaskResult, grid: tuple[int, int], size: tuple[int, int], vocabulary, options: MaskOptions,
                segmenter_options: SegmenterOptions) -> dict:
    """What mask.json says about one mask."""
    return {"region": vocabulary.region, "family": vocabulary.family, "vocabulary": list(vocabulary.classes),
            "segmenter": segmenter_options.segmenter, "segmenter_options": dataclasses.asdict(segmenter_options),
            "method": options.method, "n_clusters": options.clusters(), "erosion": options.erosion(size),
            "options": dataclasses.asdict(options),
            "grid": list(grid), "image_size": list(size), "mask_fraction": round(float(result.mask.mean()), 4),
            "kept_parts": [record for record in result.part_records if record["kept"]],
            "parts": result.part_records, "regions": result.regions}


def write_outputs(result: MaskResult, artistic: np.ndarray, record: dict, paths: dict[str, Path]) -> None:
    """Write the mask files of ``result`` at ``paths``."""
    size = result.mask.shape
    if len(result.regions) > 255:
        raise InputError(f"the mask has {len(result.regions)} separate parts, more than mask_regions.png holds: "
                         "raise mask.erode or lower mask.n_clusters")
    save_png(paths["mask"], result.mask)
    save_png(paths["overlay"], overlay(artistic, result.mask))
    save_png(paths["regions"], result.region_ids.astype(np.uint8))
    save_png(paths["clusters"], label_picture(result.clusters, size))
    save_png(paths["segmentation"], label_picture(result.segmentation.labels, size))
    save_png(paths["segmentation_mask"], result.segmentation.mask)
    paths["record"].write_text(json.dumps(record, indent=2))


# --- batch steps ---------------------------------------------------------------------------------------


def mask_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The mask of one twins folder (region from its meta.json)."""
    meta = json.loads(Path(item.inputs["meta"]).read_text())
    record = make_mask(item.inputs["attention"], item.inputs["realistic"], meta["region"], params,
                       out_dir / "mask.png", item.inputs["artistic"], tuple(meta["attention_grid"]))
    return {"region": record["region"], "segmenter": record["segmenter"], "mask_fraction": record["mask_fraction"],
            "kept_parts": len(record["kept_parts"]), "regions": len(record["regions"])}


def small_segmenter(section: dict) -> bool:
    """Whether the ``mask`` section's segmenter is the small synthetic one or a given picture (the step is
    light), not a real segmentation network."""
    return (section or {}).get("segmenter", SegmenterOptions.segmenter) in ("synthetic", "png")


MASK = ItemStep("mask", mask_item, holds_models=True, light=small_segmenter)


def segmenter_inputs(section: dict) -> dict[str, Path]:
    """The synthetic segmenter's checkpoint files, inputs of every mask item (``section``: the ``mask`` section),
    so retraining it re-keys every item; none for other segmenters."""
    segmenter = MaskSettings.from_section(section).segmenter
    if segmenter.segmenter != "synthetic":
        return {}
    folder = Path(segmenter.checkpoint)
    return {"segmenter_config": folder / "config.json", "segmenter_weights": folder / "model.safetensors"}


def train_segment(section: dict, out_dir: str | Path, metrics_path: str | Path) -> dict:
    """Train the synthetic segmenter per params.yaml ``train_segment`` into ``out_dir``; write its held-out
    metrics (IoU per class and family, the colour baseline's) to ``metrics_path`` and return them."""
    metrics = train_segmenter(options_from(SegmentTrainingOptions, section, "train_segment"), out_dir)
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2))
    return metrics
