"""The items of a folder of results, whichever command wrote it, and where their review is kept.

- a ``cinemagraph generate`` output (``artistic.png``, ``cinemagraph_meta.json`` … at its top): one item;
  its review lives in ``DIR/review/``;
- a bulk run (``RUN/items/<id>/``, ``RUN/results.parquet``): its review lives in ``RUN/review/``;
- the text DAG's outputs (``data/{twins,mask,flow,video}/<id>/``, each stage's ``manifest.parquet``): its
  review lives in ``.cache/review/`` beside ``data/`` (the project folder), outside every DVC output, so the
  next ``dvc repro`` never deletes a version.

Pictures opened in the page become items of ``<review>/new/<id>/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""An item id the review accepts: a plain folder name (letters, digits, ``._-``), never ``..`` or a path."""

STAGE_FILES = {"twins": ("artistic.png", "realistic.png", "meta.json"),
               "mask": ("mask.png", "mask.json", "mask_overlay.png", "mask_regions.png"),
               "flow": ("flow.npy", "flow.png", "motion.json"),
               "video": ("cinemagraph.mp4", "cinemagraph_meta.json")}
"""The files of an item the review reads, by the text DAG's stage that writes them."""
ITEM_FILES = tuple(name for names in STAGE_FILES.values() for name in names)


@dataclass
class ReviewItem:
    """One cinemagraph of the folder: its files (name → path; only those present) and how its run ended."""

    id: str
    files: dict[str, Path]
    status: str = "ok"
    """``ok`` or ``failed``."""
    error: str | None = None
    """the failed step and its reason."""

    @property
    def editable(self) -> bool:
        """Whether it has the pictures a re-render starts from."""
        return "artistic.png" in self.files

    def meta(self, name: str) -> dict:
        """A JSON file of the item (``meta.json``, ``cinemagraph_meta.json`` …), ``{}`` when absent."""
        path = self.files.get(name)
        return json.loads(path.read_text()) if path else {}

    @property
    def prompt(self) -> str:
        """The item's prompt ("" when no file says it)."""
        return self.meta("meta.json").get("prompt") or self.meta("cinemagraph_meta.json").get("prompt") or ""


@dataclass
class ReviewFolder:
    """A folder of results: its layout, its items by id and the folder its review is kept in."""

    root: Path
    layout: str
    """``generate``, ``bulk`` or ``data``."""
    state_dir: Path
    items: dict[str, ReviewItem] = field(default_factory=dict)

    def add_new(self, item_id: str) -> ReviewItem:
        """Register the opened picture of ``<review>/new/<item_id>/`` as an item."""
        self.items[item_id] = item_of_folder(item_id, self.state_dir / "new" / item_id)
        return self.items[item_id]


def item_of_folder(item_id: str, folder: Path) -> ReviewItem:
    """The item whose files all lie in ``folder`` (a generate output, a bulk item, an opened picture)."""
    files = {name: folder / name for name in ITEM_FILES if (folder / name).is_file()}
    meta = folder / "cinemagraph_meta.json"
    if meta.is_file():  # the loop may be another format than mp4
        video = folder / json.loads(meta.read_text()).get("video", "cinemagraph.mp4")
        files.pop("cinemagraph.mp4", None)
        if video.suffix == ".mp4" and video.is_file():
            files["cinemagraph.mp4"] = video
    return ReviewItem(item_id, files)


def open_folder(root: Path) -> ReviewFolder:
    """The items of ``root`` (InputError when it holds no results the review knows)."""
    from stages.errors import InputError

    root = Path(root).resolve()
    if not root.is_dir():
        raise InputError(f"{root} is not a folder: give a generate output, a bulk run or the data/ folder")
    if (root / "items").is_dir() or (root / "results.parquet").is_file():
        folder = ReviewFolder(root, "bulk", root / "review", bulk_items(root))
    elif any((root / stage).is_dir() for stage in STAGE_FILES):
        folder = ReviewFolder(root, "data", root.parent / ".cache" / "review", data_items(root))
    elif (root / "artistic.png").is_file():
        item_id = root.name if SAFE_ID.fullmatch(root.name) else "item"
        folder = ReviewFolder(root, "generate", root / "review", {item_id: item_of_folder(item_id, root)})
    else:
        raise InputError(f"{root} holds no results: give a `cinemagraph generate` output, a bulk run (RUN/) or "
                         "the text DAG's data/ folder")
    new = folder.state_dir / "new"
    for path in sorted(new.iterdir()) if new.is_dir() else ():
        if SAFE_ID.fullmatch(path.name) and not path.is_symlink():
            folder.add_new(path.name)
    return folder


def bulk_items(root: Path) -> dict[str, ReviewItem]:
    """The finished items of a bulk run and, from results.parquet, those that failed."""
    items = {path.name: item_of_folder(path.name, path) for path in sorted((root / "items").glob("*"))
             if path.is_dir() and SAFE_ID.fullmatch(path.name) and not path.is_symlink()}
    for row in table_rows(root / "results.parquet"):
        if row.get("status") == "failed" and row["id"] not in items:
            items[row["id"]] = ReviewItem(row["id"], {}, "failed", f"{row.get('stage')}: {row.get('error')}")
    return items


def data_items(root: Path) -> dict[str, ReviewItem]:
    """The items of the text DAG's stage folders, failed where a stage's manifest says so."""
    items: dict[str, ReviewItem] = {}
    for stage, names in STAGE_FILES.items():
        for path in sorted((root / stage).glob("*")):
            if path.is_dir() and SAFE_ID.fullmatch(path.name) and not path.is_symlink():
                item = items.setdefault(path.name, ReviewItem(path.name, {}))
                item.files.update({name: path / name for name in names if (path / name).is_file()})
        for row in table_rows(root / stage / "manifest.parquet"):
            if row.get("status") == "failed":
                item = items.setdefault(row["id"], ReviewItem(row["id"], {}))
                item.status, item.error = "failed", f"{stage}: {row.get('error')}"
    return items


def table_rows(path: Path) -> list[dict]:
    """The rows of a Parquet table with a safe ``id`` ([] when there is no table)."""
    if not path.is_file():
        return []
    import pandas as pd

    rows = pd.read_parquet(path).to_dict("records")
    return [row for row in rows if SAFE_ID.fullmatch(str(row.get("id", "")))]
