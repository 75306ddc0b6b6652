"""``cinemagraph rewrite PROMPT [--region NAME] [--direction TEXT]``: the twin prompt, region and direction
as JSON, without generating anything."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``rewrite`` sub-command."""
    parser = subparsers.add_parser("rewrite", help="print a prompt's twin prompt, region and direction as JSON",
                                   description="Rewrite an artistic prompt into its realistic twin prompt, the "
                                               "region to animate and the motion direction; print them as JSON.")
    parser.add_argument("prompt", help='the artistic prompt, e.g. "a river in the style of Monet"')
    parser.add_argument("--region", help="the region to animate (default: the first animatable noun)")
    parser.add_argument("--direction", help='e.g. "left to right", "downwards" (default: read from the prompt)')
    parser.add_argument("--keep", choices=("all", "animatable"), default="all",
                        help="nouns in the twin prompt: all (the paper, default) or animatable only")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the rewriting as one JSON object."""
    from stages.prompts import RewriteOptions, rewrite_prompt

    rewrite = rewrite_prompt(args.prompt, args.region, args.direction, RewriteOptions(keep=args.keep))
    fields = rewrite.to_dict()
    ordered = {key: fields[key] for key in ("twin_prompt", "region", "direction", "direction_range", "prompt",
                                            "nouns", "notes")}
    print(json.dumps(ordered, indent=2))
    return 0
