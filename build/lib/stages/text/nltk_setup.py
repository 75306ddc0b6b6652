"""NLTK's part-of-speech tagger data, built offline from an installed wheel (nothing is downloaded).

``nltk.pos_tag`` needs the averaged-perceptron model ``taggers/averaged_perceptron_tagger_eng``, which NLTK
normally downloads. The ``textblob-aptagger`` wheel ships a trained model of the same kind (a pickle of
``(weights, tagdict, classes)``); this module reads it with an unpickler that admits nothing but built-in
containers and writes NLTK's JSON layout into a project folder. ``make setup`` runs it once
(``python -m stages.text.nltk_setup``); :func:`ensure_tagger_data` rebuilds it on first use if it is missing.

The folder is ``$CINEMAGRAPH_NLTK_DATA`` when set, else ``<project>/.cache/nltk_data`` in the repository, else
(an installed copy) ``~/.cache/cinemagraph/nltk_data``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

from stages.files import make_public

TAGGER_NAME = "averaged_perceptron_tagger_eng"
SOURCE_PACKAGE = "textblob_aptagger"
SOURCE_PICKLE = "trontagger-0.1.0.pickle"
_ALLOWED_GLOBALS = {("__builtin__", "set"): set, ("builtins", "set"): set}


def nltk_data_dir() -> Path:
    """The folder holding the project's NLTK data: ``$CINEMAGRAPH_NLTK_DATA``, the repository's
    ``.cache/nltk_data``, or for an installed copy the user's ``~/.cache/cinemagraph/nltk_data``."""
    configured = os.environ.get("CINEMAGRAPH_NLTK_DATA")
    if configured:
        return Path(configured)
    project = Path(__file__).resolve().parents[2]
    if (project / "pyproject.toml").is_file():
        return project / ".cache" / "nltk_data"
    return Path.home() / ".cache" / "cinemagraph" / "nltk_data"


def tagger_dir(root: Path) -> Path:
    """Where NLTK looks for the English tagger under the data folder ``root``."""
    return root / "taggers" / TAGGER_NAME


class _ContainersOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except ``set``: a pickle cannot run code through it."""

    def find_class(self, module: str, name: str) -> type:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the tagger pickle")
        return allowed


def source_pickle() -> Path:
    """Path of the trained tagger inside the installed ``textblob-aptagger`` wheel (not imported)."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the package textblob-aptagger is not installed; install the project (`make setup`) "
            "or run `pip install textblob-aptagger`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE_PICKLE


def read_tagger_pickle(path: Path) -> tuple[dict[str, dict[str, float]], dict[str, str], list[str]]:
    """Read ``(weights, tagdict, classes)`` from the pickle and check every type; classes come back sorted."""
    with open(path, "rb") as stream:
        loaded = _ContainersOnlyUnpickler(stream, encoding="utf-8").load()
    if not (isinstance(loaded, tuple) and len(loaded) == 3):
        raise ValueError(f"{path}: expected a (weights, tagdict, classes) tuple")
    weights, tagdict, classes = loaded
    valid = (
        isinstance(weights, dict)
        and all(isinstance(f, str) and isinstance(w, dict) for f, w in weights.items())
        and all(isinstance(t, str) and isinstance(v, float) for w in weights.values() for t, v in w.items())
        and isinstance(tagdict, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in tagdict.items())
        and isinstance(classes, set)
        and all(isinstance(c, str) for c in classes)
    )
    if not valid:
        raise ValueError(f"{path}: unexpected contents (not an averaged-perceptron tagger model)")
    return weights, tagdict, sorted(classes)


def build_tagger_data(root: Path) -> Path:
    """Write NLTK's ``averaged_perceptron_tagger_eng`` JSON files under ``root``; returns their folder."""
    weights, tagdict, classes = read_tagger_pickle(source_pickle())
    target = tagger_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{TAGGER_NAME}."))
    make_public(staging)
    for suffix, value in (("weights", weights), ("tagdict", tagdict), ("classes", classes)):
        (staging / f"{TAGGER_NAME}.{suffix}.json").write_text(json.dumps(value))
    try:
        os.rename(staging, target)
    except OSError:  # another process finished first: keep its copy
        for file in staging.iterdir():
            file.unlink()
        staging.rmdir()
    return target


def ensure_tagger_data() -> Path:
    """Make the tagger data present (building it if needed) and visible to NLTK; returns the data folder."""
    import nltk

    root = nltk_data_dir()
    if not (tagger_dir(root) / f"{TAGGER_NAME}.classes.json").is_file():
        build_tagger_data(root)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    return root


if __name__ == "__main__":
    print(f"NLTK tagger data ready in {ensure_tagger_data()}", file=sys.stderr)
