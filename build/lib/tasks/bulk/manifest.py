"""A bulk manifest (CSV, Parquet or JSON Lines) → validated item specs, every bad row listed at once.

Columns: ``prompt`` (required), optional ``id``, ``image``, ``region``, ``direction``, ``seed``, ``mask`` and
per-row overrides of run settings (:data:`OVERRIDES`). ``image`` and ``mask`` are paths relative to the
manifest's folder. An empty ``id`` or ``seed`` is derived from the row's content (prompt, image and mask
bytes, region, direction, overrides), never from its position: inserting rows changes nothing for the others.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from stages.errors import InputError
from stages.files import file_digest
from stages.values import FEATHER, FPS, FRAMES, SEED, SPEED, Range
from tasks.batch import check_item_id

FIELDS = ("id", "prompt", "image", "region", "direction", "seed", "mask")
OVERRIDES: dict[str, tuple[str, str, Any]] = {
    "frames": ("video", "frames", FRAMES), "fps": ("video", "fps", FPS), "feather_px": ("video", "feather_px", FEATHER),
    "formats": ("video", "formats", "formats"), "speed": ("flow", "speed", SPEED),
    "n_clusters": ("mask", "n_clusters", Range(2, 64, integer=True)),
}
"""Per-row override column → (params section, key, rule). The model profile and image size are one per run."""
FORMATS = ("mp4", "gif", "webm", "npz")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class ItemSpec:
    """One validated manifest row: what an item is made of. ``overrides``: {section: {key: value}}."""

    id: str
    prompt: str
    seed: int
    region: str = ""
    direction: str = ""
    image: Path | None = None
    mask: Path | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    row: int = 0
    """1-based row number in the manifest (messages only; never part of a key)."""

    def digest(self) -> str:
        """sha256 of everything that shapes the item's results (not its row number): a journal row of another
        digest belongs to an earlier version of the item."""
        content = {"id": self.id, "prompt": self.prompt, "seed": self.seed, "region": self.region,
                   "direction": self.direction, "overrides": self.overrides,
                   "image": file_digest(self.image) if self.image else None,
                   "mask": file_digest(self.mask) if self.mask else None}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    """Yield (1-based row number, the row as a dict of column → value, or a message when unreadable)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: a manifest is a .csv, .parquet or .jsonl file")
    if not path.is_file():
        raise InputError(f"manifest {path} not found")
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as error:  # pyarrow's many error kinds for a file that is not Parquet
            raise InputError(f"{path} is not a readable Parquet file ({type(error).__name__})") from None
        for number, row in enumerate(table.to_pylist(), start=1):
            yield number, row
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text: save the manifest as UTF-8") from None
    if kind == "csv":
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        reader = csv.DictReader(lines)
        for number, row in enumerate(reader, start=1):
            extra = row.pop(None, None)
            yield number, (f"{len(extra)} more value(s) than columns" if extra else row)
        return
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"not JSON ({error.msg})"
            continue
        yield number, row if isinstance(row, dict) else "not a JSON object"


def blank(value: Any) -> bool:
    """Whether a cell is empty (None, NaN, blank text)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                and not value.strip())


def check_override(column: str, value: Any) -> Any:
    """An override cell → its setting's value (formats: a list), or ValueError saying what is wrong."""
    _, _, rule = OVERRIDES[column]
    if rule == "formats":
        names = value if isinstance(value, list) else [name.strip() for name in str(value).split(",")]
        unknown = [name for name in names if name not in FORMATS]
        if unknown or not names:
            named = ", ".join(map(str, unknown)) or "none given"
            raise ValueError(f"formats: unknown {named} (use {', '.join(FORMATS)})")
        return names
    try:
        number = rule.parse(value)
    except ValueError as error:
        raise ValueError(f"{column} {error}") from None
    return number


def content_digest(row: dict, image: Path | None, mask: Path | None, overrides: dict) -> str:
    """sha256 of a row's content: prompt, region, direction, overrides, given seed, image and mask bytes."""
    content = {key: str(row.get(key) or "").strip() for key in ("prompt", "region", "direction", "seed")}
    content.update(image=file_digest(image) if image else None, mask=file_digest(mask) if mask else None,
                   overrides=overrides)
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def parse_row(row: dict, base: Path) -> ItemSpec:
    """One row → its spec (row number 0), or ValueError listing everything wrong with it."""
    problems, overrides = [], {}
    prompt = "" if blank(row.get("prompt")) else str(row["prompt"])
    if not prompt.strip():
        problems.append("empty prompt")
    files = {}
    for column in ("image", "mask"):
        if not blank(row.get(column)):
            path = base / str(row[column]).strip()
            if path.is_file():
                files[column] = path
            else:
                problems.append(f"{column} {str(row[column]).strip()!r} not found")
    seed = None
    if not blank(row.get("seed")):
        try:
            seed = SEED.parse(row["seed"])
        except ValueError as error:
            problems.append(f"seed {error}")
    for column in OVERRIDES:
        if not blank(row.get(column)):
            try:
                section, key, _ = OVERRIDES[column]
                overrides.setdefault(section, {})[key] = check_override(column, row[column])
            except ValueError as error:
                problems.append(str(error))
    item_id = None if blank(row.get("id")) else str(row["id"]).strip()
    if item_id is not None:
        try:
            check_item_id(item_id)
        except InputError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))
    digest = content_digest(row, files.get("image"), files.get("mask"), overrides)
    return ItemSpec(id=item_id or f"i{digest[:15]}", prompt=prompt,
                    seed=int(digest[16:24], 16) if seed is None else int(seed),
                    region="" if blank(row.get("region")) else str(row["region"]).strip(),
                    direction="" if blank(row.get("direction")) else str(row["direction"]).strip(),
                    image=files.get("image"), mask=files.get("mask"), overrides=overrides)


def read_manifest(path: str | Path) -> list[ItemSpec]:
    """Every row of the manifest at ``path`` as a validated spec, in file order.

    Refused before any work (InputError) when a column is unknown or ``prompt`` missing, or when any row is
    bad (empty prompt, bad seed or override, unsafe or repeated id, missing image or mask): the message lists
    every bad row with its number and what is wrong.
    """
    path = Path(path)
    known = set(FIELDS) | set(OVERRIDES)
    specs, bad, seen = [], [], {}
    columns: set[str] = set()
    for number, row in read_rows(path):
        if isinstance(row, str):
            bad.append(f"row {number}: {row}")
            continue
        columns.update(row)
        try:
            spec = parse_row(row, path.parent)
        except ValueError as error:
            bad.append(f"row {number}: {error}")
            continue
        if spec.id in seen:
            bad.append(f"row {number}: id {spec.id!r} repeats row {seen[spec.id]}"
                       + ("" if not blank(row.get("id")) else " (same content)"))
            continue
        seen[spec.id] = number
        specs.append(ItemSpec(**{**spec.__dict__, "row": number}))
    unknown = sorted(columns - known)
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(unknown)}; columns: {', '.join(FIELDS)}, and "
                         f"per-row overrides {', '.join(OVERRIDES)} (the model profile is one per run: --set)")
    if columns and "prompt" not in columns:
        raise InputError(f"{path}: the column 'prompt' is missing")
    if bad:
        raise InputError(f"{path}: {len(bad)} bad row(s), nothing was run: {'; '.join(bad)}")
    if not specs:
        raise InputError(f"{path}: no rows")
    return specs
