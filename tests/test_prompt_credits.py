"""Prompts as people copy them from prompt-sharing sites: artist credits without a marker ("…, golden ratio,
jane doe, hr smith"), first names that are also scene words ("dawn", "summer", "river"), scene names ("mount
fuji", "victoria falls") and generic water ("water", "waves", "tide") read as the kind the scene points to.
Every expected twin is written out by hand; the snapshot test holds every prompt that rewrote before these
rules to what it gave then."""

import ast
import json
import re
import sys
from pathlib import Path

import pytest

from stages.errors import InputError
from stages.text.prompts import region_of, rewrite_prompt
from tasks.prompt_list import read_prompt_list

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).with_name("rewrite_snapshot.json")


def snapshot_prompts() -> list[tuple[str, str | None, str | None]]:
    """(prompt, region, direction) of every row of data/prompts.csv and every string of the test modules that
    names an animatable noun in three words or more (twin prompts and messages included: more to hold)."""
    rows = [(item.values["prompt"], item.values["region"] or None, item.values["direction"] or None)
            for item in read_prompt_list(ROOT / "data/prompts.csv")]
    literals: dict[str, None] = {}
    for path in sorted(ROOT.glob("tests/test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" not in node.value:
                words = re.findall(r"[a-z][a-z-]*", node.value.lower())
                if len(words) >= 3 and any(region_of(word) for word in words):
                    literals[node.value] = None
    return list(dict.fromkeys(rows + [(prompt, None, None) for prompt in literals]))


def rewrite_record(prompt: str, region: str | None, direction: str | None) -> dict | None:
    """What the snapshot holds of one rewrite (None when the prompt is refused)."""
    try:
        rewrite = rewrite_prompt(prompt, region, direction)
    except InputError:
        return None
    return {"prompt": prompt, "region_given": region, "direction_given": direction,
            "twin_prompt": rewrite.twin_prompt, "region": rewrite.region, "direction": rewrite.direction}


if __name__ == "__main__":  # rewrite the snapshot on purpose only: its diff is what a change of rules changed
    records = [record for entry in snapshot_prompts() for record in [rewrite_record(*entry)] if record]
    SNAPSHOT.write_text(json.dumps(records, indent=1) + "\n")
    print(f"{len(records)} rewrites written to {SNAPSHOT}", file=sys.stderr)
