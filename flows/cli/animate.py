"""``cinemagraph animate IMAGE --mask MASK (--direction TEXT | --hint X,Y,DX,DY ... | --flow F.npy |
--flow-model DIR (--prompt TEXT | --direction TEXT)) [--frame-model DIR] -o OUT``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stages.errors import InputError
from stages.images import load_mask, load_rgb
from stages.motion.flowfield import Hint
from stages.motion.render import Motion, make_renderer, motion_flow, stream_frames, write_cinemagraph
from stages.threads import use_cpu_share
from stages.video import VIDEO_SUFFIXES, check_video_path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``animate`` sub-command."""
    parser = subparsers.add_parser("animate", help="animate a picture inside a mask as a seamless loop",
                                   description="Animate the masked region of IMAGE as a seamless loop.")
    parser.add_argument("image", type=Path, help="the picture (PNG or JPEG; gray and RGBA are converted)")
    parser.add_argument("--mask", type=Path, required=True, help="PNG of the same size; white = moving region")
    parser.add_argument("--direction", help='e.g. "flowing from left to right", "downwards", "to the left"')
    parser.add_argument("--hint", action="append", type=Hint.parse, metavar="X,Y,DX,DY",
                        help="an arrow at pixel (X, Y) moving (DX, DY) pixels per frame (y down); repeatable")
    parser.add_argument("--flow", type=Path, help="a flow .npy of shape (2, H, W), pixels per frame")
    parser.add_argument("--flow-model", type=Path, metavar="DIR",
                        help="predict the flow with a trained G_flow (checkpoint folder, e.g. data/models/g_flow); "
                             "give --prompt (text variant) or --direction (directional variant)")
    parser.add_argument("--prompt", help="the caption or prompt G_flow reads (with --flow-model)")
    parser.add_argument("--max-flow", type=float, default=1.0,
                        help="clamp G_flow's flow to ±this many pixels per frame before --speed (default 1, "
                             "as in the paper)")
    parser.add_argument("--frame-model", type=Path, metavar="DIR",
                        help="render with a trained G_frame (checkpoint folder, e.g. data/models/g_frame) instead "
                             "of the motion engine's splatting")
    parser.add_argument("--speed", type=float, default=1.0, help="flow multiplier; pixels per frame (default 1)")
    parser.add_argument("--frames", type=int, default=120, help="frames per loop (default 120)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the direction's angle (default 0)")
    parser.add_argument("--save-flow", type=Path, help="also save the dense flow as .npy (2, H, W)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help=f"output video; format by suffix: {', '.join(VIDEO_SUFFIXES)}")
    parser.set_defaults(handler=run)


def requested_motion(args: argparse.Namespace) -> Motion:
    """The source of motion the arguments ask for (G_flow loaded when --flow-model is given)."""
    if args.flow_model is None and args.prompt is not None:
        raise InputError("--prompt is read by G_flow only: add --flow-model DIR")
    flow = flow_model = None
    if args.flow is not None:
        try:
            flow = np.load(args.flow, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read flow file {args.flow}: {error}") from error
    if args.flow_model is not None:
        from stages.learned.inference import FlowPredictor

        flow_model = FlowPredictor(args.flow_model, args.device)
    return Motion(hints=tuple(args.hint) if args.hint else None, direction=args.direction, flow=flow,
                  flow_model=flow_model, caption=args.prompt, speed=args.speed, seed=args.seed,
                  max_flow=args.max_flow)


def run(args: argparse.Namespace) -> int:
    """Animate and write the video, its flow picture and meta.json."""
    output = check_video_path(args.output)
    if args.frames < 2:
        raise InputError(f"--frames must be at least 2, got {args.frames}")
    if args.fps <= 0:
        raise InputError(f"--fps must be positive, got {args.fps}")
    image = load_rgb(args.image)
    mask = load_mask(args.mask, image.shape[:2])
    flow, motion = motion_flow(requested_motion(args), image, mask)
    if args.flow is not None:
        motion["motion"] = f"flow file {args.flow.name}"
    if args.flow_model is not None:
        motion["flow_model"] = str(args.flow_model)
    if args.save_flow:
        args.save_flow.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_flow, flow)
    model = None
    if args.frame_model is not None:
        from stages.learned.inference import load_frame_model

        model = load_frame_model(args.frame_model, args.device)
    use_cpu_share()
    renderer, rendering = make_renderer(image, mask, flow, args.frames, device=args.device, model=model)
    if model is not None:
        rendering["frame_model"] = str(args.frame_model)
    meta = {"input": args.image.name, "mask": args.mask.name, "seed": args.seed, "speed": args.speed,
            **rendering, **motion}
    write_cinemagraph(output, stream_frames(renderer), flow, args.fps, meta)
    print(f"wrote {output} ({args.frames} frames at {args.fps:g} fps, {image.shape[1]}x{image.shape[0]})")
    return 0
