"""``cinemagraph dataset`` measured against exact truth: synthetic clips as plain videos, their flows re-measured.

1. Scenes of params.yaml ``synth_train`` (the project's procedural world, exact flow known) are written to a
   temporary folder; only their ground-truth videos are copied, as ``<id>.mp4``, into a folder of plain
   videos, with their captions in a CSV.
2. The training set is built from that folder (:func:`stages.learned.video_dataset.build_dataset`) and its
   average flows are compared with the true flows: end-point error (px/frame) inside the true moving region
   and over the whole picture, and the intersection over union of the masks.
3. G_flow is trained twice by the training stage's entry point (``tasks.train.train_flow_network``, params.yaml
   ``train_flow`` with the same seed): on the built set, and on the same set with each motion file replaced by
   the true flow (same scenes, pictures, videos, captions and splits). Both are scored on the held-out scenes
   against the true flows (EPE inside the true mask, the trainer's ``epe``); the built set passes when its
   G_flow's EPE is within 20 % of the true-flow G_flow's.

    nice -n 10 python benchmarks/dataset.py [--count 96] [--iterations 300] [--seed 0] [--threads 2]
                                            [--scenes landscapes] [--size 96x128]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from flows.params import load_params
from stages.images import load_rgb
from stages.learned.data import motion_mask
from stages.learned.inference import FlowPredictor
from stages.learned.video_clips import VideoClipOptions
from stages.learned.video_dataset import build_dataset
from stages.scenes.eulerian import read_motion, write_motion
from tasks.synth import synth_item, synth_items
from tasks.batch import Item


def plain_videos(params: dict, count: int, root: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """Write ``count`` synth_train scenes under ``root/synth``; copy their videos alone to ``root/videos`` and
    their captions to ``root/captions.csv`` → (videos folder, CSV, {id: true flow (2, H, W)})."""
    section = {**params["synth_train"], "count": count}
    videos, truth = root / "videos", {}
    videos.mkdir(parents=True)
    with (root / "captions.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "caption"])
        for item in synth_items(section):
            scene = root / "synth" / item.id
            record = synth_item(Item(item.id, values=item.values), section, scene)
            shutil.copyfile(scene / f"{item.id}_gt.mp4", videos / f"{item.id}.mp4")
            writer.writerow([item.id, record["caption"]])
            truth[item.id] = read_motion(scene / f"{item.id}_motion.pth")
    return videos, root / "captions.csv", truth


def flow_errors(built: Path, truth: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """Pixel-weighted EPE of the built set's flows against the truth, inside the true mask and overall, and
    the masks' IoU (true mask: speed above ``threshold``)."""
    inside = everywhere = overlap = union = 0.0
    moving = pixels = 0
    for clip_id in json.loads((built / "captions.json").read_text()):
        video = clip_id.rsplit("-", 1)[0]
        flow, true = read_motion(built / clip_id / f"{clip_id}_motion.pth"), truth[video]
        error = np.hypot(*(flow - true))
        mask, estimated = motion_mask(true, threshold), motion_mask(flow, threshold)
        inside, moving = inside + float(error[mask].sum()), moving + int(mask.sum())
        everywhere, pixels = everywhere + float(error.sum()), pixels + error.size
        overlap, union = overlap + float((mask & estimated).sum()), union + float((mask | estimated).sum())
    return {"epe_inside": inside / moving, "epe_all": everywhere / pixels, "mask_iou": overlap / union}


def true_twin(built: Path, truth: dict[str, np.ndarray], out: Path) -> Path:
    """A copy of the built set with every motion file holding its scene's true flow."""
    shutil.copytree(built, out)
    for clip_id in json.loads((out / "captions.json").read_text()):
        write_motion(out / clip_id / f"{clip_id}_motion.pth", truth[clip_id.rsplit("-", 1)[0]])
    return out


def held_out_epe(model_dir: Path, truth_set: Path, threshold: float) -> float:
    """EPE (px/frame) of the G_flow in ``model_dir`` on ``truth_set``'s validation clips inside the true masks."""
    predictor = FlowPredictor(model_dir)
    captions = json.loads((truth_set / "captions.json").read_text())
    total, count = 0.0, 0
    with torch.inference_mode():
        for clip_id in json.loads((truth_set / "splits.json").read_text())["validation"]:
            flow = read_motion(truth_set / clip_id / f"{clip_id}_motion.pth")
            mask = motion_mask(flow, threshold)
            image = load_rgb(truth_set / clip_id / f"{clip_id}_input.png")
            predicted = predictor.predict(image, mask, caption=captions[clip_id])
            total += float(np.hypot(*(predicted - flow))[mask].sum())
            count += int(mask.sum())
    return total / count


def train(params: dict, data: Path, work: Path, iterations: int, seed: int) -> tuple[Path, dict]:
    """G_flow trained on ``data`` by the training stage's entry point → (checkpoint folder, its metrics)."""
    from tasks.train import train_flow_network

    section = {**params["train_flow"], "data": str(data), "iterations": iterations, "seed": seed}
    run = {**params, "train_flow": section, "run": {**params["run"], "store": str(work / "store")}}
    metrics = train_flow_network(run, work / "g_flow", work / "metrics.json", work / "plots")
    return work / "g_flow", metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=None, help="scenes (default: synth_train.count)")
    parser.add_argument("--iterations", type=int, default=None, help="G_flow iterations (default: train_flow's)")
    parser.add_argument("--seed", type=int, default=0, help="G_flow's training seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", choices=("world", "landscapes"), help="synth_train.scenes (default: params.yaml's)")
    parser.add_argument("--size", help="HEIGHTxWIDTH of the scenes (default: synth_train's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("params.yaml")
    if args.scenes:
        params["synth_train"]["scenes"] = args.scenes
    if args.size:
        height, width = (int(side) for side in args.size.split("x"))
        params["synth_train"].update(height=height, width=width)
    count = args.count or params["synth_train"]["count"]
    iterations = args.iterations or params["train_flow"]["iterations"]
    threshold = params["train_flow"]["mask_threshold"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        videos, captions, truth = plain_videos(params, count, root)
        height, width = next(iter(truth.values())).shape[1:]
        options = VideoClipOptions(frames=params["synth_train"]["frames"], size=min(height, width), clips=1,
                                   mask_threshold=threshold)
        started = time.perf_counter()
        summary = build_dataset(videos, root / "built", options, captions, validation=0.125)
        seconds = time.perf_counter() - started
        print(f"built {summary['clips']} clips from {count} videos ({width}x{height}, {options.frames} frames) in "
              f"{seconds:.1f} s; refused: {summary['refused'] or 'none'}")
        errors = flow_errors(root / "built", truth, threshold)
        print("average flow against the true flow: " + ", ".join(f"{k} {v:.4f}" for k, v in errors.items()))
        true_set = true_twin(root / "built", truth, root / "true")
        results = {}
        for name, data in (("built", root / "built"), ("true", true_set)):
            started = time.perf_counter()
            model, metrics = train(params, data, root / f"work_{name}", iterations, args.seed)
            results[name] = held_out_epe(model, true_set, threshold)
            print(f"G_flow trained on the {name} flows ({iterations} iterations, seed {args.seed}, "
                  f"{time.perf_counter() - started:.0f} s): held-out EPE against the true flows {results[name]:.4f} "
                  f"px/frame (its own validation: epe {metrics['epe']:.4f}, epe_zero {metrics['epe_zero']:.4f})")
        ratio = results["built"] / results["true"]
        print(f"built / true: {ratio:.3f} ({'within' if ratio <= 1.2 else 'NOT within'} 20 %)")


if __name__ == "__main__":
    main()
