"""``cinemagraph animate IMAGE --mask MASK (--direction TEXT | --hint X,Y,DX,DY ... | --flow F.npy |
--flow-model DIR (--prompt TEXT | --direction TEXT)) [--frame-model DIR] -o OUT``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stages import values
from stages.devices import check_device
from stages.errors import InputError, shorten
from stages.files import check_outputs, check_writable_folder
from stages.images import check_image_file, load_mask, load_rgb
from stages.motion.flowfield import Hint
from stages.video import VIDEO_SUFFIXES, check_video_path

if TYPE_CHECKING:
    from stages.motion.render import Motion

PHRASE_CHARS = 200
"""Longest --direction or --prompt accepted (a direction phrase is a few words; G_flow reads 77 tokens)."""
MAX_FLOW_VALUE = 10000.0
"""Largest flow component accepted, pixels per frame (beyond it every moving pixel leaves any picture)."""
HINT_POSITION = values.Range(-1e6, 1e6)
HINT_STEP = values.Range(-MAX_FLOW_VALUE, MAX_FLOW_VALUE)


def _hint(text: str) -> Hint:
    """``--hint X,Y,DX,DY`` → a Hint (argparse type): positions within ±10⁶ pixels, steps within
    ±:data:`MAX_FLOW_VALUE` pixels per frame; a long or malformed value is quoted shortened."""
    try:
        hint = Hint.parse(values.text(text, "--hint", 100))
        for position in (hint.x, hint.y):
            HINT_POSITION.check(position, "--hint")
        for step in (hint.dx, hint.dy):
            HINT_STEP.check(step, "--hint")
    except InputError:
        raise argparse.ArgumentTypeError(
            f"must be X,Y,DX,DY (finite numbers: a pixel position within ±1000000 and a step within "
            f"±{MAX_FLOW_VALUE:g} pixels per frame, e.g. 120,80,1.5,0), got {shorten(text)}") from None
    return hint


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``animate`` sub-command."""
    parser = subparsers.add_parser("animate", help="animate a picture inside a mask as a seamless loop",
                                   description="Animate the masked region of IMAGE as a seamless loop.")
    parser.add_argument("image", type=Path, help="the picture (PNG or JPEG; gray and RGBA are converted)")
    parser.add_argument("--mask", type=Path, required=True, help="PNG of the same size; white = moving region")
    parser.add_argument("--direction", type=values.text_option("--direction", PHRASE_CHARS),
                        help='e.g. "flowing from left to right", "downwards", "to the left"')
    parser.add_argument("--hint", action="append", type=_hint, metavar="X,Y,DX,DY",
                        help="an arrow at pixel (X, Y) moving (DX, DY) pixels per frame (y down); repeatable")
    parser.add_argument("--flow", type=Path, help="a flow .npy of shape (2, H, W), pixels per frame")
    parser.add_argument("--flow-model", type=Path, metavar="DIR",
                        help="predict the flow with a trained G_flow (checkpoint folder, e.g. data/models/g_flow); "
                             "give --prompt (text variant) or --direction (directional variant)")
    parser.add_argument("--prompt", type=values.text_option("--prompt", PHRASE_CHARS),
                        help="the caption or prompt G_flow reads (with --flow-model)")
    parser.add_argument("--max-flow", type=values.MAX_FLOW.option("--max-flow"), default=1.0,
                        help="clamp G_flow's flow to ±this many pixels per frame before --speed (default 1, "
                             "as in the paper)")
    parser.add_argument("--frame-model", type=Path, metavar="DIR",
                        help="render with a trained G_frame (checkpoint folder, e.g. data/models/g_frame) instead "
                             "of the motion engine's splatting")
    parser.add_argument("--speed", type=values.SPEED.option("--speed"), default=1.0,
                        help="flow multiplier; pixels per frame (default 1)")
    parser.add_argument("--frames", type=values.FRAMES.option("--frames"), default=120,
                        help="frames per loop (default 120)")
    parser.add_argument("--fps", type=values.FPS.option("--fps"), default=30.0,
                        help="frames per second (default 30)")
    parser.add_argument("--seed", type=values.SEED.option("--seed"), default=0,
                        help="seed of the direction's angle (default 0)")
    parser.add_argument("--save-flow", type=Path, help="also save the dense flow as .npy (2, H, W)")
    parser.add_argument("--device", default="cpu", type=values.option(check_device, "--device"),
                        help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help=f"output video; format by suffix: {', '.join(VIDEO_SUFFIXES)}")
    parser.set_defaults(handler=run)


def read_flow_file(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A ``--flow`` file: a .npy of real numbers, shape (2, H, W) or (1, 2, H, W) for an (H, W) picture →
    float32 (2, H, W). The header is checked before the values are read (memory-mapped), so a file declaring
    a huge or wrong array costs nothing."""
    expected = f"a .npy file holding one float array of shape (2, {shape[0]}, {shape[1]}) in pixels per frame"
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = " ".join(str(error).split())[:200]
        if "pickle" in reason:  # numpy's advice to load it unsafely is wrong for a file that may be hostile
            reason = "it holds pickled Python objects, which are never loaded"
        raise InputError(f"cannot read flow file {path} ({reason}): give {expected}") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"flow file {path} holds several arrays: give {expected}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InputError(f"flow file {path} holds {array.dtype} values: give {expected}")
    if array.shape not in ((2, *shape), (1, 2, *shape)):
        raise InputError(f"flow file {path} holds shape {array.shape}: give {expected}")
    flow = np.asarray(array, np.float32).reshape(2, *shape)  # NaN is refused with the other flows' checks
    if np.abs(flow).max() > MAX_FLOW_VALUE:
        raise InputError(f"flow file {path} holds values beyond ±{MAX_FLOW_VALUE:g} pixels per frame: give "
                         f"{expected}")
    return flow


def render_memory(shape: tuple[int, int], moving: int, frames: int, suffix: str) -> int:
    """Bytes the render holds at its peak beyond the process itself, for an (H, W) picture with ``moving``
    masked pixels written as ``suffix``. Frames stream to the writer, so only a few are in flight (float32
    working images included) — except for ``.gif``, whose palette pass holds every frame (ours and ffmpeg's
    copy) — and the backward displacements (x, y float32 per moving pixel) are kept at √N checkpoints plus
    one re-integrated segment: about 3√N of them.
    """
    height, width = shape
    picture = height * width * 3
    held = 2 * frames * picture if suffix == ".gif" else 0
    in_flight = 16 * picture * 4
    return held + in_flight + 3 * (math.isqrt(frames) + 1) * moving * 2 * 4


def requested_motion(args: argparse.Namespace, shape: tuple[int, int]) -> "Motion":
    """The source of motion the arguments ask for, for an (H, W) picture (G_flow loaded when --flow-model is
    given)."""
    if args.flow_model is None and args.prompt is not None:
        raise InputError("--prompt is read by G_flow only: add --flow-model DIR")
    from stages.motion.render import Motion

    flow = flow_model = None
    if args.flow is not None:
        flow = read_flow_file(args.flow, shape)
    if args.flow_model is not None:
        from stages.learned.inference import FlowPredictor

        flow_model = FlowPredictor(args.flow_model, args.device)
    return Motion(hints=tuple(args.hint) if args.hint else None, direction=args.direction, flow=flow,
                  flow_model=flow_model, caption=args.prompt, speed=args.speed, seed=args.seed,
                  max_flow=args.max_flow)


def check_paths(args: argparse.Namespace, output: Path) -> None:
    """Refuse, before any work, outputs that would replace an input or one another, and output folders that
    cannot be written."""
    from stages.motion.render import sidecar_paths

    if args.save_flow is not None and args.save_flow.suffix != ".npy":
        raise InputError(f"--save-flow {args.save_flow} must end in .npy (the flow is saved as a NumPy array)")
    sidecars = sidecar_paths(output)
    outputs = {"-o": output, "the flow picture written beside -o": sidecars["flow_picture"],
               "the meta file written beside -o": sidecars["meta"], "--save-flow": args.save_flow}
    outputs = {name: path for name, path in outputs.items() if path is not None}
    check_outputs(outputs, {"IMAGE": args.image, "--mask": args.mask, "--flow": args.flow,
                            "--flow-model": args.flow_model, "--frame-model": args.frame_model})
    check_writable_folder(output.parent, "-o")
    if args.save_flow is not None:
        check_writable_folder(args.save_flow.parent, "--save-flow")


def run(args: argparse.Namespace) -> int:
    """Animate and write the video, its flow picture and meta.json."""
    output = check_video_path(args.output)
    check_image_file(args.image, "image")  # headers only, before torch is imported
    check_image_file(args.mask, "mask")
    check_paths(args, output)
    image = load_rgb(args.image)
    mask = load_mask(args.mask, image.shape[:2])
    values.check_memory(render_memory(image.shape[:2], int(mask.sum()), args.frames, output.suffix.lower()),
                        f"--frames {args.frames} at {image.shape[1]}x{image.shape[0]}",
                        "lower --frames, or animate a smaller picture")
    from stages.motion.render import make_renderer, motion_flow, stream_frames, write_cinemagraph
    from stages.threads import use_cpu_share

    flow, motion = motion_flow(requested_motion(args, image.shape[:2]), image, mask)
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
