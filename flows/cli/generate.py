"""``cinemagraph generate PROMPT -o OUT/``: text in, artistic cinemagraph out (twins, Ā, mask, flow, video).

Knobs come from params.yaml (sections rewrite, models, twins, attention, inversion, mask, flow, video; synth_train
and train_flow for G_flow when it must be trained first) when it is here or given with --params; options given
here override them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from flows.params import read_params
from stages import values
from stages.motion.sources import SOURCE_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` sub-command."""
    parser = subparsers.add_parser("generate", help="make an artistic cinemagraph from a text prompt",
                                   description="Generate the artistic image of PROMPT and its realistic twin, "
                                               "find the region to animate, predict its motion and render a "
                                               "seamless loop; OUT/index.html shows every step.")
    parser.add_argument("prompt", help='e.g. "a watercolor painting of a waterfall, high definition"')
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--image", type=Path, help="animate this picture instead of generating one")
    parser.add_argument("--mask", type=Path, help="a PNG of the picture's size, white where things move "
                                                  "(instead of clustering and segmentation)")
    parser.add_argument("--region", help="the region to animate (default: read from the prompt)")
    parser.add_argument("--direction", help='e.g. "left to right" (default: read from the prompt, else each '
                                            "part moves as its kind does)")
    parser.add_argument("--seed", type=values.SEED.option("--seed"), help="seed of the twins and of the direction's "
                                                                          "angle")
    parser.add_argument("--motion", choices=SOURCE_NAMES,
                        help="what moves the mask's parts (flow.source; default g_flow: the learned motion, trained "
                             "once on first use outside the repository)")
    parser.add_argument("--frames", type=values.FRAMES.option("--frames"), help="frames per loop (default 120)")
    parser.add_argument("--speed", type=values.SPEED.option("--speed"),
                        help="pixels per frame of the fastest parts (default 1)")
    parser.add_argument("--format", help="comma-separated: mp4, gif, webm, npz (default mp4)")
    parser.add_argument("--profile", help="models.profile: procedural, tiny, sd-random, sd14 or sd15")
    parser.add_argument("--inversion-steps", type=values.STEPS.option("--inversion-steps"),
                        help="DDIM inversion steps of --image on a diffusion profile (default 50; the authors: 999)")
    parser.add_argument("--params", type=Path,
                        help="parameters file (default: params.yaml here if present, else built-in defaults)")
    parser.set_defaults(handler=run)


SECTIONS = ("rewrite", "models", "twins", "attention", "inversion", "mask", "flow", "video", "synth_train", "train_flow")
"""The params sections a cinemagraph is made with (the pipeline's settings, and how G_flow is trained when it is
not: tasks.offline_models)."""


def with_overrides(params: dict, args: argparse.Namespace) -> dict:
    """``params`` with the command-line options written into their sections."""
    params = {name: dict(params.get(name) or {}) for name in SECTIONS}
    params["rewrite"].pop("prompts", None)
    overrides = {("models", "profile"): args.profile, ("inversion", "steps"): args.inversion_steps,
                 ("video", "frames"): args.frames, ("flow", "speed"): args.speed, ("flow", "source"): args.motion,
                 ("video", "formats"): args.format and [name.strip() for name in args.format.split(",")]}
    for (section, key), value in overrides.items():
        if value is not None:
            params[section][key] = value
    return params


def run(args: argparse.Namespace) -> int:
    """Generate and say where everything is."""
    from stages.files import check_outputs, check_writable_folder
    from stages.threads import use_cpu_share
    from tasks.one_prompt import generate, output_files

    use_cpu_share()
    started = time.perf_counter()
    check_writable_folder(args.output, "-o")
    check_outputs({f"-o {args.output}/{name}": args.output / name for name in output_files()},
                  {"--image": args.image, "--mask": args.mask, "--params": args.params})
    params = with_overrides(read_params(args.params, SECTIONS), args)
    meta = generate(args.prompt, args.output, params, args.region, args.direction, args.seed, args.image, args.mask)
    parts = ", ".join(f"{part['class']}: {part['source']}" for part in meta["motion"]["parts"])
    print(f"twin prompt: {meta['twin_prompt']}")
    print(f"region: {meta['region']}; moving parts: {parts}")
    print(f"wrote {args.output / meta['video']} ({meta['frames']} frames) and {args.output / 'index.html'} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0
