"""``cinemagraph rewrite PROMPT [--region NAME] [--direction TEXT]``: the twin prompt, region and direction
as JSON, without generating anything."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stages import values


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``rewrite`` sub-command."""
    parser = subparsers.add_parser("rewrite", help="print a prompt's twin prompt, region and direction as JSON",
                                   description="Rewrite an artistic prompt into its realistic twin prompt, the "
                                               "region to animate and the motion direction; print them as JSON.")
    parser.add_argument("prompt", help='the artistic prompt, e.g. "a river in the style of Monet"')
    parser.add_argument("--region", type=values.text_option("--region", 40),
                        help="the region to animate (default: the first animatable noun)")
    parser.add_argument("--direction", type=values.text_option("--direction", 200),
                        help='e.g. "left to right", "downwards" (default: read from the prompt)')
    parser.add_argument("--keep", choices=("all", "animatable"),
                        help="nouns in the twin prompt: all (the paper) or animatable only (default: rewrite.keep)")
    parser.add_argument("--params", type=Path,
                        help="parameters file whose rewrite section applies (default: params.yaml here if present, "
                             "else built-in defaults), as for cinemagraph twins")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the rewriting as one JSON object."""
    from flows.params import read_params
    from stages.pipeline import CinemagraphPipeline

    section = dict(read_params(args.params, ("rewrite",)).get("rewrite") or {})
    if args.keep is not None:
        section["keep"] = args.keep
    rewrite = CinemagraphPipeline.from_params({"rewrite": section}).rewrite(args.prompt, args.region, args.direction)
    fields = rewrite.to_dict()
    ordered = {key: fields[key] for key in ("twin_prompt", "region", "direction", "direction_range", "prompt",
                                            "nouns", "notes", "water_kind")}
    print(json.dumps(ordered, indent=2))
    return 0
