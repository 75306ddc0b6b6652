"""``cinemagraph dataset VIDEOS/ -o DIR``: your own short videos of water, clouds or smoke → a training set.

    cinemagraph dataset VIDEOS/ -o DIR [--captions captions.csv] [--frames 60] [--size 256] [--fps N]
                        [--clips 4] [--validation 0.1] [--mask-threshold 0.1]

DIR is in the Eulerian layout G_flow and G_frame train on (``stages.learned.video_dataset``); then
``dvc exp run -S train_flow.data=DIR`` trains G_flow on it. Videos that cannot give a clip (unreadable, too
short, static, too large) are listed with their reason; a re-run skips the videos already done.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.values import Range
from stages.learned.video_clips import VideoClipOptions

RULES = VideoClipOptions.RANGES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dataset`` sub-command."""
    parser = subparsers.add_parser("dataset", help="turn a folder of your own videos into a training set",
                                   description="Cut your videos into clips, measure each clip's average optical "
                                               "flow (OpenCV DIS) and its moving pixels, and write a training set "
                                               "G_flow and G_frame read, with captions and train/validation splits.")
    parser.add_argument("videos", type=Path, help="a folder of videos (.mp4, .mov, .webm, …; sub-folders ignored)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the training-set folder to write")
    parser.add_argument("--captions", type=Path,
                        help="a CSV of rows id,caption (id: the file name or its stem); default: the file names")
    defaults = VideoClipOptions()
    for name, help_text in (("frames", "frames per clip"), ("size", "shorter side of the clips, pixels"),
                            ("fps", "resample to this frame rate first (default: the video's own)"),
                            ("clips", "at most this many clips per video"),
                            ("mask_threshold", "px/frame above which a pixel counts as moving")):
        option = f"--{name.replace('_', '-')}"
        parser.add_argument(option, type=RULES[name].option(option), default=getattr(defaults, name),
                            help=f"{help_text} (default {getattr(defaults, name)})")
    parser.add_argument("--validation", type=Range(0, 1).option("--validation"), default=0.1,
                        help="fraction of the videos held out for validation (default 0.1)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the set and print one line per refused video and a summary."""
    from tqdm import tqdm

    from stages.learned.video_dataset import build_dataset

    options = VideoClipOptions(frames=args.frames, size=args.size, fps=args.fps, clips=args.clips,
                               mask_threshold=args.mask_threshold)
    summary = build_dataset(args.videos, args.output, options, args.captions, args.validation,
                            progress=lambda videos: tqdm(videos, desc="videos", unit="video", disable=None))
    for name, reason in summary["refused"].items():
        print(f"skipped {name}: {reason}")
    clips = summary["clips"]
    named = len(summary["captioned_from_names"])
    print(f"wrote {clips['train']} training and {clips['validation']} validation clips from "
          f"{summary['videos'] - len(summary['refused'])} of {summary['videos']} videos to {args.output}"
          + (f" ({named} captioned from file names)" if named and args.captions else "")
          + f"; look at {args.output / 'contact_sheet.png'}; train: dvc exp run -S train_flow.data={args.output}")
    return 0
