"""requirements.lock agrees with pyproject.toml: every dependency (and test extra) locked inside its range."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.MULTILINE)


def locked_versions(lock_text: str) -> dict[str, Version]:
    """Package name (canonical) -> pinned version, from the ``name==version`` lines of a lock file."""
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(lock_text)}


def disagreements(pyproject_text: str, lock_text: str) -> list[str]:
    """Each dependency of the project and its test extra that the lock lacks or pins outside its range."""
    project = tomllib.loads(pyproject_text)["project"]
    locked = locked_versions(lock_text)
    problems = []
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name}: not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}: locked {version}, pyproject.toml asks {requirement.specifier}")
    return problems


def test_lock_holds_every_dependency_inside_its_range():
    lock = (ROOT / "requirements.lock").read_text()
    assert disagreements((ROOT / "pyproject.toml").read_text(), lock) == []
    assert "--hash=sha256:" in lock.split("torch==")[1].split("\n")[1]
    assert locked_versions(lock)["torch"].public == "2.13.0"


def test_a_range_the_lock_misses_and_a_missing_package_are_reported():
    pyproject = (ROOT / "pyproject.toml").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    raised = pyproject.replace('"numpy>=1.26"', '"numpy>=99"').replace('"lz4>=4",', '"lz4>=4", "left-pad>=1",')
    assert disagreements(raised, lock) == [
        "numpy: locked " + str(locked_versions(lock)["numpy"]) + ", pyproject.toml asks >=99",
        "left-pad: not in the lock"]
