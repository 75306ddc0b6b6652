"""The ``rewrite`` step: an artistic prompt → ``rewrite.json`` (cleaned prompt, twin prompt, region,
direction, nouns, corrections), and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

from stages.text.prompts import Rewrite, rewrite_options, rewrite_prompt
from tasks.batch import Item, ItemStep


def rewrite_item(item: Item, params: dict, out_dir: Path) -> dict:
    """Rewrite one prompt (``params``: the ``rewrite`` section) → rewrite.json."""
    values = item.values
    rewrite = rewrite_prompt(values.get("prompt", ""), values.get("region") or None, values.get("direction") or None,
                             rewrite_options({"rewrite": params}))
    (out_dir / "rewrite.json").write_text(json.dumps(rewrite.to_dict(), indent=2))
    return {"twin_prompt": rewrite.twin_prompt, "region": rewrite.region, "direction": rewrite.direction or "",
            "corrections": "; ".join(rewrite.notes)}


def read_rewrite(path: Path) -> Rewrite:
    """A Rewrite back from its rewrite.json."""
    fields = json.loads(Path(path).read_text())
    if fields.get("direction_range") is not None:
        fields["direction_range"] = tuple(fields["direction_range"])
    return Rewrite(**fields)


REWRITE = ItemStep("rewrite", rewrite_item, light=True)
