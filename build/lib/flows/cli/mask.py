"""``cinemagraph mask``: the region to animate, from Ā's clusters and a segmentation of the realistic twin.

    cinemagraph mask TWIN_DIR -o mask.png
    cinemagraph mask --attention A.npy --image realistic.png [--segmentation seg.png] [--segmenter NAME]
                     [--region NAME] [--clusters K] [--method kmeans|spectral] [--erode PX] -o mask.png

Knobs come from params.yaml ``mask`` (when present); options given here override them. Beside the mask it
writes ``<stem>_overlay.png``, ``<stem>_regions.png``, ``clusters.png``, ``segmentation.png`` and
``<stem>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stages.errors import InputError
from flows.params import load_params


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mask`` sub-command."""
    parser = subparsers.add_parser("mask", help="the mask of the region to animate, from a twins folder",
                                   description="Cluster the averaged self-attention Ā, segment the realistic "
                                               "twin for the region and keep the clusters it covers.")
    parser.add_argument("twin_dir", nargs="?", type=Path,
                        help="a `cinemagraph twins` folder (artistic.png, realistic.png, attention.npy, meta.json)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the mask PNG to write")
    parser.add_argument("--attention", type=Path, help="Ā as .npy (h·w, h·w), instead of TWIN_DIR")
    parser.add_argument("--image", type=Path, help="the realistic twin the segmenter reads, instead of TWIN_DIR")
    parser.add_argument("--segmentation", type=Path, help="a mask PNG (white = the region) used as the segmentation")
    parser.add_argument("--segmenter", help="synthetic (default), ade20k, clipseg or png")
    parser.add_argument("--segmenter-dir", help="ade20k/clipseg: a transformers folder of real weights")
    parser.add_argument("--region", help="the region to segment (default: the region in meta.json)")
    parser.add_argument("--clusters", type=int, help="number of clusters (default: 10 k-means, 5 spectral)")
    parser.add_argument("--method", choices=("kmeans", "spectral"), help="clustering method (default kmeans)")
    parser.add_argument("--erode", type=int,
                        help="side of the erosion kernel in pixels (default: 5 at 512², scaled with the image; 0 = none)")
    parser.add_argument("--params", type=Path, help="parameters file (default: params.yaml here if present)")
    parser.set_defaults(handler=run)


def mask_section(args: argparse.Namespace) -> dict:
    """params.yaml ``mask`` with the command-line options written in."""
    path = args.params or (Path("params.yaml") if Path("params.yaml").is_file() else None)
    section = dict((load_params(path, ("mask",)) or {}).get("mask") or {}) if path else {}
    overrides = {"segmenter": args.segmenter, "local_dir": args.segmenter_dir, "n_clusters": args.clusters,
                 "method": args.method, "erode": args.erode}
    if args.segmentation is not None:
        overrides.update(segmenter="png", segmentation=str(args.segmentation))
    section.update({key: value for key, value in overrides.items() if value is not None})
    return section


def inputs(args: argparse.Namespace) -> dict:
    """The files and region of the run: from TWIN_DIR, or from --attention and --image."""
    if args.twin_dir is None:
        if args.attention is None or args.image is None:
            raise InputError("give a twins folder, or both --attention A.npy and --image realistic.png")
        if args.region is None:
            raise InputError("--region NAME is needed without a twins folder (e.g. --region river)")
        return {"attention_path": args.attention, "image_path": args.image, "region": args.region}
    meta_path = args.twin_dir / "meta.json"
    if not meta_path.is_file():
        raise InputError(f"{args.twin_dir} is not a twins folder (no meta.json): run `cinemagraph twins` first")
    meta = json.loads(meta_path.read_text())
    return {"attention_path": args.attention or args.twin_dir / "attention.npy",
            "image_path": args.image or args.twin_dir / "realistic.png",
            "artistic_path": args.twin_dir / "artistic.png", "region": args.region or meta["region"],
            "grid": meta.get("attention_grid") if args.attention is None else None}


def run(args: argparse.Namespace) -> int:
    """Make the mask and print what was kept."""
    from tasks.masks import make_mask

    if args.output.suffix.lower() != ".png":
        raise InputError(f"the output {args.output} must be a .png file")
    record = make_mask(mask_path=args.output, section=mask_section(args), **inputs(args))
    parts = ", ".join(f"{region['class']} ({region['pixels']} px)" for region in record["regions"])
    print(f"{record['region']}: kept {len(record['kept_parts'])} of {len(record['parts'])} cluster parts "
          f"({record['method']}, {record['n_clusters']} clusters, segmenter {record['segmenter']}); "
          f"mask {record['mask_fraction']:.1%} of the image: {parts}")
    print(f"wrote {args.output} and its overlay, regions, clusters, segmentation and JSON beside it")
    return 0
