"""``cinemagraph review --export DIR OUT``: the approved items' loops, as their head version shows them, with
the settings that made them: ``OUT/<id>/`` (cinemagraph.mp4, mask.png, flow.npy, motion.json,
cinemagraph_meta.json, settings.json when re-rendered) and ``OUT/approved.json``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stages.errors import InputError
from tasks.review.folders import open_folder
from tasks.review.versions import SETTINGS, ItemVersions, Verdicts

EXPORTED = ("cinemagraph.mp4", "cinemagraph_meta.json", "mask.png", "mask.json", "flow.npy", "motion.json",
            "artistic.png", "meta.json", SETTINGS)


def export_approved(root: Path, out: Path) -> list[dict]:
    """Copy every approved item of the folder ``root`` into ``out`` → one record per item (id, version,
    prompt, files)."""
    folder = open_folder(root)
    out = Path(out).resolve()
    if out == folder.root or out.is_relative_to(folder.state_dir):
        raise InputError(f"export into a new folder, not into {out}")
    records = []
    for item_id, record in sorted(Verdicts(folder).all().items()):
        if record.get("verdict") != "approved" or item_id not in folder.items:
            continue
        versions = ItemVersions(folder, folder.items[item_id])
        head = versions.head()
        files = versions.files(head["version"])
        (out / item_id).mkdir(parents=True, exist_ok=True)
        copied = [shutil.copy2(files[name], out / item_id / name) and name for name in EXPORTED if name in files]
        records.append({"id": item_id, "version": head["version"], "prompt": folder.items[item_id].prompt,
                        "files": copied})
    out.mkdir(parents=True, exist_ok=True)
    (out / "approved.json").write_text(json.dumps(records, indent=2))
    return records
