"""The prompt list of the text DAG (``data/prompts.csv``): one item per prompt, read once for every stage."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from stages.errors import InputError
from tasks.batch import Item, check_item_id

PROMPT_COLUMNS = ("id", "prompt", "region", "direction", "seed")


def read_prompt_list(path: str | Path, base_seed: int = 0) -> list[Item]:
    """Items of a prompt list: a CSV with the header ``id,prompt,region,direction,seed`` (only ``prompt``
    required; empty id → ``p<row>``, empty seed → base_seed + row). A line is one prompt; quote prompts
    that contain commas. Lines starting with ``#`` are comments."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"prompt list {path} not found (a CSV with the columns {', '.join(PROMPT_COLUMNS)})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text: save the prompt list as UTF-8 CSV") from None
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise InputError(f"{path}: the first line must be a header naming the column 'prompt' "
                         f"(columns: {', '.join(PROMPT_COLUMNS)})")
    items, seen = [], set()
    for row_number, row in enumerate(reader):
        item_id = (row.get("id") or "").strip() or f"p{row_number:04d}"
        try:
            check_item_id(item_id)
        except InputError as error:
            raise InputError(f"{path}: row {row_number + 1}: {error}") from None
        if item_id in seen:
            raise InputError(f"{path}: row {row_number + 1}: id {item_id!r} is used twice; ids must be unique")
        seen.add(item_id)
        seed_text = (row.get("seed") or "").strip()
        if seed_text and not re.fullmatch(r"\d+", seed_text):
            raise InputError(f"{path}: row {row_number + 1}: seed {seed_text!r} must be a whole number")
        items.append(Item(item_id, values={
            "prompt": row.get("prompt") or "", "region": (row.get("region") or "").strip(),
            "direction": (row.get("direction") or "").strip(),
            "seed": int(seed_text) if seed_text else base_seed + row_number}))
    return items


def prompt_items(params: dict) -> list[Item]:
    """The items of the prompt list named by ``rewrite.prompts``, seeds from ``twins.seed`` on."""
    return read_prompt_list(params["rewrite"]["prompts"], int((params.get("twins") or {}).get("seed", 0)))
