"""``cinemagraph animate IMAGE --mask MASK (--direction TEXT | --hint X,Y,DX,DY ... | --flow F.npy |
--flow-model DIR (--prompt TEXT | --direction TEXT)) [--frame-model DIR] -o OUT``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stages.text.directions import parse_direction
from stages.errors import InputError
from stages.motion.flowfield import Hint, check_flow, dense_flow, region_hints
from stages.images import load_mask, load_rgb
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


def motion_flow(args: argparse.Namespace, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """The dense flow (2, H, W) requested by the arguments, and what to record about it."""
    given = [name for name in ("direction", "hint", "flow", "flow_model") if getattr(args, name) is not None]
    if args.flow_model is not None:
        return learned_flow(args, image, mask)
    if len(given) != 1:
        raise InputError("give exactly one of --direction, --hint (repeatable), --flow or --flow-model")
    if args.prompt is not None:
        raise InputError("--prompt is read by G_flow only: add --flow-model DIR")
    if args.flow is not None:
        try:
            flow = np.load(args.flow, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read flow file {args.flow}: {error}") from error
        return check_flow(flow, mask.shape) * mask * args.speed, {"motion": f"flow file {args.flow.name}"}
    if args.direction is not None:
        direction = parse_direction(args.direction)
        angle = direction.sample(args.seed)
        hints = region_hints(mask, angle, args.speed)
        return dense_flow(mask, hints), {"motion": "direction", "direction": direction.name,
                                         "angle_degrees": round(angle, 3)}
    hints = [Hint(h.x, h.y, h.dx * args.speed, h.dy * args.speed) for h in args.hint]
    return dense_flow(mask, hints), {"motion": "hints", "hints": [h.__dict__ for h in args.hint]}


def learned_flow(args: argparse.Namespace, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    """G_flow's flow for the picture: the text variant reads --prompt, the directional one --direction."""
    from stages.learned.inference import FlowPredictor

    if args.hint is not None or args.flow is not None:
        raise InputError("--flow-model predicts the flow: drop --hint and --flow")
    predictor = FlowPredictor(args.flow_model, args.device)
    record = {"motion": f"G_flow ({predictor.conditioning}-conditioned)", "flow_model": str(args.flow_model),
              "max_flow": args.max_flow}
    if predictor.conditioning == "text":
        if not args.prompt:
            raise InputError(f"{args.flow_model} is a text-conditioned G_flow: give --prompt \"...\"")
        flow = predictor.predict(image, mask, caption=args.prompt, speed=args.speed, max_flow=args.max_flow)
        return flow, {**record, "prompt": args.prompt}
    if not args.direction:
        raise InputError(f"{args.flow_model} is a directional G_flow: give --direction \"...\"")
    direction = parse_direction(args.direction)
    angle = direction.sample(args.seed)
    flow = predictor.predict(image, mask, angle=angle, speed=args.speed, max_flow=args.max_flow)
    return flow, {**record, "direction": direction.name, "angle_degrees": round(angle, 3)}


def run(args: argparse.Namespace) -> int:
    """Animate and write the video, its flow picture and meta.json."""
    from tasks.animate import make_renderer, render_frames, write_cinemagraph

    output = check_video_path(args.output)
    if args.frames < 2:
        raise InputError(f"--frames must be at least 2, got {args.frames}")
    if args.fps <= 0:
        raise InputError(f"--fps must be positive, got {args.fps}")
    image = load_rgb(args.image)
    mask = load_mask(args.mask, image.shape[:2])
    flow, motion = motion_flow(args, image, mask)
    if args.save_flow:
        args.save_flow.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.save_flow, flow)
    model = None
    if args.frame_model is not None:
        from stages.learned.inference import load_frame_model

        model = load_frame_model(args.frame_model, args.device)
    renderer, rendering = make_renderer(image, mask, flow, args.frames, device=args.device, model=model)
    if model is not None:
        rendering["frame_model"] = str(args.frame_model)
    frames = render_frames(renderer)
    meta = {"input": args.image.name, "mask": args.mask.name, "seed": args.seed, "speed": args.speed,
            **rendering, **motion}
    write_cinemagraph(output, frames, flow, args.fps, meta)
    print(f"wrote {output} ({args.frames} frames at {args.fps:g} fps, {image.shape[1]}x{image.shape[0]})")
    return 0
