"""Benchmark of the learned networks: training throughput and inference time, per size preset.

For each preset (``small``: the offline networks; ``paper``: the paper-sized ones) prints G_flow's and
G_frame's training throughput (samples/s over full steps: generator, discriminators, losses, at the
training crop), G_flow's time per flow and G_frame's time per video (whole loop) at ``--size``², under
``torch.inference_mode()``. Networks are untrained (timing does not depend on the weights); data are a few
synthetic scenes written to a temporary folder. On a GPU, training uses the ``auto`` mixed precision.

    python benchmarks/learned.py [--presets small paper] [--size 512] [--frames 120] [--device auto]
                                 [--threads 2] [--steps 4] [--batch 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from stages.learned.inference import FlowPredictor, LearnedRenderer, load_frame_model
from stages.learned.train_flow import FlowTraining
from stages.learned.train_frame import FrameTraining
from stages.devices import resolve_device
from stages.learned.training import endless, make_loader, to_device
from stages.scenes.landscapes import make_scene
from tasks.batch import Item
from tasks.synth import synth_item

TRAINING_CROP = {"small": 64, "paper": 512}


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def write_dataset(root: Path, size: int, count: int) -> Path:
    """``count`` training scenes and one held out, size × (size + 64) pixels, 16 frames each."""
    params = dict(height=size, width=size + 64, frames=16, fps=30, crf=18)
    splits = {"train": [], "validation": []}
    captions = {}
    for index in range(count + 1):
        split = "validation" if index == count else "train"
        item = Item(f"scene{index}", values={"seed": index, "split": split})
        captions[item.id] = synth_item(item, params, root / item.id)["caption"]
        splits[split].append(item.id)
    (root / "splits.json").write_text(json.dumps(splits))
    (root / "captions.json").write_text(json.dumps(captions))
    return root


def training_throughput(training, batch_size: int, steps: int) -> float:
    """Samples per second over ``steps`` training steps (after one warm-up step)."""
    trainer = training.trainer
    batches = endless(make_loader(training.train_set, trainer.options))
    batch = to_device(next(batches), trainer.device)
    training.step(batch, 0)
    synchronise(trainer.device)
    started = time.perf_counter()
    for iteration in range(steps):
        training.step(to_device(next(batches), trainer.device), iteration + 1)
    synchronise(trainer.device)
    return steps * batch_size / (time.perf_counter() - started)


def timed(function, device: torch.device, repeats: int = 1, warm_up: bool = True) -> float:
    """Mean seconds of ``function`` over ``repeats`` calls (after one untimed call if ``warm_up``)."""
    if warm_up:
        function()
    synchronise(device)
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    synchronise(device)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: small on CPU, small and paper on GPU")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps")
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    presets = args.presets or (["small", "paper"] if device.type == "cuda" else ["small"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {name}; inference at {args.size}x{args.size}, videos of {args.frames} frames")
    scene = make_scene(0, args.size, args.size, kind="lake")
    image, mask, flow = scene.frame(0), scene.mask, scene.flow()
    with tempfile.TemporaryDirectory() as folder:
        data = write_dataset(Path(folder) / "data", max(TRAINING_CROP[p] for p in presets), args.batch)
        for preset in presets:
            loop = dict(network=preset, crop=TRAINING_CROP[preset], batch_size=args.batch, device=str(device),
                        iterations=args.steps + 1, precision="auto")
            flow_training = FlowTraining(data, loop, Path(folder) / f"work_flow_{preset}")
            flow_rate = training_throughput(flow_training, args.batch, args.steps)
            frame_training = FrameTraining(data, loop, Path(folder) / f"work_frame_{preset}")
            frame_rate = training_throughput(frame_training, args.batch, args.steps)
            flow_dir, frame_dir = Path(folder) / f"g_flow_{preset}", Path(folder) / f"g_frame_{preset}"
            flow_training.export(flow_dir, {})
            frame_training.export(frame_dir, {})
            predictor = FlowPredictor(flow_dir, device)
            per_flow = timed(lambda: predictor.predict(image, mask, caption=scene.caption), device, repeats=3)
            model = load_frame_model(frame_dir, device)
            per_video = timed(lambda: list(LearnedRenderer(model, image, mask, flow, args.frames)), device,
                              warm_up=False)
            print(f"-- {preset}: G_flow {sum(p.numel() for p in predictor.model.parameters()) / 1e6:.2f} M "
                  f"parameters, G_frame {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M")
            print(f"   training  G_flow  {flow_rate:8.2f} samples/s   ({loop['crop']}² crops, batch {args.batch})")
            print(f"   training  G_frame {frame_rate:8.2f} samples/s")
            print(f"   inference G_flow  {per_flow:8.3f} s per {args.size}² flow")
            print(f"   inference G_frame {per_video:8.2f} s per {args.frames}-frame {args.size}² video "
                  f"({args.frames / per_video:.1f} frames/s)")


if __name__ == "__main__":
    main()
