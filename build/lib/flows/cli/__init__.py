"""The ``cinemagraph`` command line. Each sub-command lives in its own module of this package.

Run ``cinemagraph --help`` for the list; ``cinemagraph COMMAND --help`` for one command's options.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from stages.cpu_paths import pin_cpu_paths
from stages.errors import InputError

# Modules defining ``register(subparsers)``; each registered parser sets ``handler`` (args -> int).
COMMAND_MODULES = [
    "flows.cli.animate",
    "flows.cli.pipeline",
    "flows.cli.evaluate",
    "flows.cli.mask",
    "flows.cli.mturk",
    "flows.cli.rewrite",
    "flows.cli.twins",
    "flows.cli.generate",
    "flows.cli.bulk",
    "flows.cli.dataset",
    "flows.cli.review",
]


WATCHED = ("pipeline", "evaluate", "generate", "bulk")
"""Commands that start Prefect's temporary server or a local Ray cluster: a watchdog ends those helpers if
the command is killed (tasks.watchdog)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is one ``--help`` away); sub-command parsers
    are of the same class."""

    def error(self, message: str) -> None:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message: object) -> str:
    """A message on one line: line breaks and runs of spaces become single spaces."""
    return " ".join(str(message).split())


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = Parser(prog="cinemagraph", description="Seamlessly looping cinemagraphs.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the command, turn user errors into a one-line message (exit 2; 1 for
    a file system error)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0) or a bad option (2, its one-line message already printed)
        return int(done.code or 0)
    if args.command in WATCHED:
        from tasks.watchdog import start_watchdog

        start_watchdog()
    try:
        return int(args.handler(args) or 0)
    except InputError as error:
        print(f"cinemagraph {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cinemagraph {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def program() -> None:
    """The ``cinemagraph`` executable: :func:`main` on the command line's arguments, then exit with its status.

    Every object is frozen out of the garbage collector first (``gc.freeze``): the interpreter's exit would
    otherwise traverse them all once more for nothing, ~1 s once torch and transformers are loaded, which
    every stage of a ``dvc repro`` would pay. Objects are still freed as at any exit; files are closed by the
    code that writes them, never by a collection.

    ``cinemagraph pipeline`` (the DVC stages) first pins the numerical libraries' CPU kernels
    (:mod:`stages.cpu_paths`), so its outputs are the same bytes on any x86-64 CPU with AVX2.
    """
    if sys.argv[1:2] == ["pipeline"]:
        pin_cpu_paths()
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    program()
