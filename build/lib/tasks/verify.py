"""Does a fresh clone reproduce the committed ``dvc.lock``? ``make verify`` runs this.

Clones the repository's committed state into a temporary folder, builds the tagger data there, runs
``dvc repro`` with an empty DVC cache and an empty item store (the clone's own), using this environment's
packages and the clone's code, then compares every output hash of the new ``dvc.lock`` with the committed
one and prints the differing outputs by stage. Exit status 0 when every hash is equal, 1 otherwise (the clone
is kept for a look and its folder printed).

    python -m tasks.verify [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def output_hashes(lock_text: str) -> dict[str, dict[str, str]]:
    """Stage → {output path → its md5} from the text of a ``dvc.lock``."""
    stages = yaml.load(lock_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)).get("stages", {})
    return {name: {out["path"]: out.get("md5", "") for out in stage.get("outs", [])} for name, stage in stages.items()}


def differences(committed: dict[str, dict[str, str]], fresh: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Stage → one line per output whose hash differs between two :func:`output_hashes` (or is on one side)."""
    found: dict[str, list[str]] = {}
    for stage in sorted(set(committed) | set(fresh)):
        before, after = committed.get(stage, {}), fresh.get(stage, {})
        for path in sorted(set(before) | set(after)):
            if before.get(path) != after.get(path):
                found.setdefault(stage, []).append(f"{path}: {before.get(path, 'absent')} → "
                                                   f"{after.get(path, 'absent')}")
    return found


def reproduce(clone: Path) -> None:
    """Clone the committed state into ``clone`` and run ``dvc repro`` there (this interpreter's packages)."""
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], check=True)
    environment = {**os.environ, "PYTHONPATH": str(clone),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    environment.pop("CINEMAGRAPH_NLTK_DATA", None)
    environment.pop("PREFECT_API_URL", None)
    subprocess.run([sys.executable, "-m", "stages.text.nltk_setup"], cwd=clone, env=environment, check=True)
    subprocess.run([sys.executable, "-m", "tasks.prefect_server", "dvc", "repro"], cwd=clone, env=environment,
                   check=True)


def main() -> int:
    """Reproduce in a fresh clone, print the differing outputs by stage → exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone even when every hash is equal")
    args = parser.parse_args()
    clone = Path(tempfile.mkdtemp(prefix="cinemagraph-verify-")) / "repo"
    reproduce(clone)
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=clone, capture_output=True, text=True,
                               check=True).stdout
    found = differences(output_hashes(committed), output_hashes((clone / "dvc.lock").read_text()))
    for stage, lines in found.items():
        print(f"{stage}:")
        for line in lines:
            print(f"  {line}")
    if found:
        print(f"{sum(map(len, found.values()))} outputs differ; the clone is kept in {clone.parent}")
        return 1
    print("every output hash equals the committed dvc.lock")
    if args.keep:
        print(f"the clone is in {clone.parent}")
    else:
        shutil.rmtree(clone.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
