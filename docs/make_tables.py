"""The docs' tables of measured figures, rendered from the DVC metrics files rather than typed.

In a docs page, the lines between ``<!-- table:NAME -->`` and ``<!-- /table -->`` are the table NAME of
:data:`TABLES`, rendered from the metrics JSON that ``make repro`` writes (``data/metrics/<file>.json``,
the ``metrics`` entries of ``dvc.yaml``).

    python docs/make_tables.py            # rewrite the tables of README.md and docs/*.md from data/metrics
    python docs/make_tables.py --check    # exit 1 when a page's table differs from the metrics
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from stages.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(?P<open><!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- /table -->)", re.S)


@dataclass(frozen=True)
class Table:
    """A table of one metrics file: ``rows`` are (label, value format over the file's keys); a format holding
    " | " fills that many more columns (the header names each)."""

    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, str], ...]


COMPARED = (("the pipeline's G_flow: picture, mask and caption (`ours`)", "ours"),
            ("w/o text: no caption-derived input (`wo_text`)", "wo_text"),
            ("w/o mask: no mask channel (`wo_mask`)", "wo_mask"),
            ("w/o text and mask: the picture alone (`wo_text_mask`)", "wo_text_mask"))
"""The methods of the real-domain comparison: (label, name in compare.json)."""


TABLES = {
    "train_flow": Table("train_flow.json", ("held out (12 scenes), pixels per frame", "`make repro` (seed 0)"), (
        ("G_flow end-point error (`epe`)", "{epe:.3f}"),
        ("… relative to zero flow (`epe_vs_zero`)", "{epe_vs_zero:.2f}"),
        ("predicting zero flow (`epe_zero`)", "{epe_zero:.3f}"),
        ("predicting the training mean flow (`epe_mean`)", "{epe_mean:.3f}"),
        ("the caption's direction at the training mean speed over the whole mask (`epe_caption_direction`)",
         "{epe_caption_direction:.3f}"),
        ("G_flow's mean speed outside the mask (`speed_outside`)", "{speed_outside:.3f}"),
    )),
    "train_frame": Table("train_frame.json", ("held out (12 scenes)", "`make repro`"), (
        ("PSNR on the moving region, ground-truth flow: G_frame (`psnr_learned`) / engine (`psnr_renderer`)",
         "{psnr_learned:.2f} / {psnr_renderer:.2f} dB"),
        ("the same with G_flow's flow (`psnr_learned_predicted_flow` / `psnr_renderer_predicted_flow`)",
         "{psnr_learned_predicted_flow:.2f} / {psnr_renderer_predicted_flow:.2f} dB"),
    )),
    "generate": Table("generate.json", ("the prompt list (`data/prompts.csv`)", "`make repro`"), (
        ("videos written (`videos`) of prompts (`prompts`)", "{videos} of {prompts}"),
        ("items failed (`failed`)", "{failed}"),
        ("IoU of the final mask with the exact truth (`mask_iou`)", "{mask_iou:.3f}"),
        ("IoU of the segmentation alone (`segmentation_iou`)", "{segmentation_iou:.3f}"),
        ("named directions inside their range (`direction_within_range`)", "{direction_within_range:.0%}"),
    )),
    "motion": Table("generate.json", (
        "motion source (`flow.source`): end-point error against the exact truth, pixels per frame before the "
        "artistic ×0.5 — parts the prompt determines (`flow_epe`) / the others, sign-free (`flow_epe_signfree`)",
        "`make repro`"), tuple((label, f"{{flow_epe[{name}]:.3f}} / {{flow_epe_signfree[{name}]:.3f}}") for label, name in (
            ("G_flow (`g_flow`, the default)", "g_flow"),
            ("the direction phrase on the parts it names, class defaults elsewhere (`direction`)", "direction"),
            ("every part its class's default, the phrase ignored (`class_default`)", "class_default"),
            ("no motion (`zero`)", "zero")))),
    "compare": Table("compare.json", (
        "method (held-out clips, 60-frame loops)", "EPE, px/frame (`epe`)", "PSNR, dB (`psnr`)",
        "PSNR moving, dB (`psnr_moving`)", "static RMSE (`static_rmse`)", "FVD16 (`fvd16`)", "FVD60 (`fvd60`)"),
        tuple((label, " | ".join((f"{{methods[{name}][epe]:.3f}}", f"{{methods[{name}][psnr]:.2f}}",
                                  f"{{methods[{name}][psnr_moving]:.2f}}", f"{{methods[{name}][static_rmse]:.2f}}",
                                  f"{{methods[{name}][fvd16]:.3f}}", f"{{methods[{name}][fvd60]:.3f}}")))
              for label, name in COMPARED) + (
            ("no motion, for reference (`epe_zero`)", "{epe_zero:.3f} | – | – | – | – | –"),
            ("clips (`clips`); FVD: N real and N generated videos, detector (`detector`)",
             "{clips} | – | – | – | N = {fvd_n}, {detector} | N = {fvd_n}, {detector}"))),
}


def load_metrics(folder: Path, name: str) -> dict:
    """The metrics of ``folder/name`` (a JSON object); InputError saying how to make it when absent."""
    path = folder / name
    if not path.is_file():
        raise InputError(f"no {path}: run `make repro` first (it writes the metrics files)")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not JSON ({error.msg}, line {error.lineno}): run `make repro` again") from None
    if not isinstance(metrics, dict):
        raise InputError(f"{path} holds no JSON object: run `make repro` again")
    return metrics


def render(table: Table, metrics: dict) -> str:
    """The Markdown lines of ``table`` with the values of ``metrics`` (one dict of a metrics file)."""
    lines = [f"| {' | '.join(table.header)} |", "|" + " --- |" * len(table.header)]
    for label, value in table.rows:
        try:
            cell = value.format(**metrics)
        except KeyError as error:
            raise InputError(f"{table.source} has no {error.args[0]!r}: run `make repro` again") from None
        lines.append(f"| {label} | {cell} |")
    return "\n".join(lines) + "\n"


def update(text: str, metrics_dir: Path) -> str:
    """``text`` (a page) with every marked table rendered anew from the metrics files of ``metrics_dir``."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise InputError(f"unknown table {name!r} in a page: use one of {', '.join(sorted(TABLES))}")
        table = TABLES[name]
        return match["open"] + render(table, load_metrics(metrics_dir, table.source)) + match["close"]

    return BLOCK.sub(replace, text)


def pages(root: Path) -> list[Path]:
    """The pages whose tables are generated: the README and every docs page."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check`` compare) the pages' tables; 0 when done or equal, 1 when a page differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=Path, default=ROOT / "data" / "metrics", help="the metrics folder")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository whose pages to update")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a table differs")
    args = parser.parse_args(argv)
    stale = []
    try:
        for page in pages(args.root):
            text = page.read_text()
            new = update(text, args.metrics)
            if new != text:
                stale.append(page.relative_to(args.root))
                if not args.check:
                    page.write_text(new)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for page in stale:
        print(f"{page}: tables {'differ from' if args.check else 'rewritten from'} the metrics")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
