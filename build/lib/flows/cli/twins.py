"""``cinemagraph twins PROMPT -o OUT``: the artistic image, its realistic twin and the averaged
self-attention, with meta.json. Knobs come from params.yaml (sections models, rewrite, twins, attention);
options given here override them."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from flows.params import read_params
from stages import values
from stages.errors import shorten
from stages.devices import check_device
from stages.files import check_outputs, check_writable_folder

SIDE = values.Range(64, 2048, integer=True)
"""Sides of a generated picture, pixels (a multiple of 64; Ā alone holds (side/16)⁴ float32 numbers)."""
OUTPUT_FILES = ("artistic.png", "realistic.png", "attention.npy", "attention.png", "attention.json", "meta.json")


def parse_size(text: str) -> tuple[int, int]:
    """"WIDTHxHEIGHT" (or one number for a square) → (height, width) in pixels, each side a multiple of 64
    from 64 to 2048."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*(?:[xX]\s*(\d{1,6}))?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"size {shorten(text)} must look like 512 or 768x512 "
                                         "(width x height)")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    for name, side in (("width", width), ("height", height)):
        if side % 64:
            raise argparse.ArgumentTypeError(f"{name} {side} is not a multiple of 64")
        if not SIDE.low <= side <= SIDE.high:
            raise argparse.ArgumentTypeError(f"{name} {side} is outside {SIDE.low}..{SIDE.high} pixels")
    return (height, width)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``twins`` sub-command."""
    parser = subparsers.add_parser("twins", help="generate an artistic image, its realistic twin and Ā",
                                   description="Generate the artistic image of PROMPT, its pixel-aligned "
                                               "realistic twin and the averaged self-attention matrix.")
    parser.add_argument("prompt", help='the artistic prompt, e.g. "a river in the style of starry nights painting"')
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--region", type=values.text_option("--region", 40),
                        help="the region to animate (default: the first animatable noun)")
    parser.add_argument("--direction", type=values.text_option("--direction", 200),
                        help='e.g. "left to right" (default: read from the prompt)')
    parser.add_argument("--seed", type=values.SEED.option("--seed"),
                        help="seed of the shared starting noise (default: twins.seed)")
    parser.add_argument("--profile", help="models.profile: tiny, sd-random, sd14 or sd15")
    parser.add_argument("--model-dir", help="models.local_dir: a diffusers-format Stable Diffusion folder")
    parser.add_argument("--device", type=values.option(check_device, "--device"),
                        help="models.device: auto, cpu, cuda or cuda:N")
    parser.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT in pixels, multiples of 64 (e.g. 768x512)")
    parser.add_argument("--steps", type=values.Range(1, 1000, integer=True).option("--steps"),
                        help="DDIM steps (default: 50; 10 for the tiny profile)")
    parser.add_argument("--mode", choices=("lockstep", "two-pass"), help="twins.mode (default lockstep)")
    parser.add_argument("--params", type=Path,
                        help="parameters file (default: params.yaml here if present, else built-in defaults)")
    parser.set_defaults(handler=run)


def with_overrides(params: dict, args: argparse.Namespace) -> dict:
    """``params`` with the command-line options written into their sections."""
    params = {name: dict(params.get(name) or {}) for name in ("models", "rewrite", "twins", "attention")}
    overrides = {("models", "profile"): args.profile, ("models", "local_dir"): args.model_dir,
                 ("models", "device"): args.device, ("twins", "steps"): args.steps, ("twins", "mode"): args.mode}
    if args.size is not None:
        overrides[("twins", "height")], overrides[("twins", "width")] = args.size
    for (section, key), value in overrides.items():
        if value is not None:
            params[section][key] = value
    return params


def run(args: argparse.Namespace) -> int:
    """Rewrite, generate, write the files, print where they are."""
    from stages.pipeline import CinemagraphPipeline
    from tasks.twins import describe_attention, make_twins

    params = with_overrides(read_params(args.params, ("models", "rewrite", "twins", "attention")), args)
    rewrite = CinemagraphPipeline.from_params(params).rewrite(args.prompt, args.region, args.direction)
    check_outputs({f"-o {args.output}/{name}": args.output / name for name in OUTPUT_FILES},
                  {"--params": args.params, "--model-dir": args.model_dir})
    check_writable_folder(args.output, "-o")
    seed = args.seed if args.seed is not None else int(params["twins"].get("seed", 0))
    started = time.perf_counter()
    result, meta = make_twins(rewrite, seed, params, args.output)
    describe_attention(result.attention, result.attention_grid, result.artistic.shape[:2], args.output)
    print(f"twin prompt: {rewrite.twin_prompt}")
    print(f"region: {rewrite.region}; direction: {rewrite.direction or 'none named'}; seed: {seed}")
    print(f"wrote artistic.png, realistic.png, attention.npy, attention.png, meta.json to {args.output} "
          f"({meta['twins']['width']}x{meta['twins']['height']}, {meta['twins']['steps']} steps, profile "
          f"{meta['model']['profile']}, {time.perf_counter() - started:.1f} s)")
    return 0
