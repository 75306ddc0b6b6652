"""The README: its Python examples run as written (on generated pictures named as the README names them), and
its two commands are the Makefile's targets, the test one what CI runs."""

import re
from pathlib import Path

import numpy as np

from tests.conftest import write_picture

from tests.paths import ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = python_blocks()
    assert blocks, "the README shows Python examples"
    _, image, mask = write_picture(tmp_path, 48, 64, (slice(10, 30), slice(5, 40)))
    (tmp_path / "painting.png").rename(tmp_path / "painting.jpg")  # the README's names; PNG bytes decode alike
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
    frames = namespace["frames"]
    assert len(frames) == 120 and frames[0].shape == image.shape
    assert np.array_equal(frames[0][~mask], image[~mask])


def test_the_readme_gives_the_two_commands_that_the_makefile_and_ci_run():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^ {4}(make \S+)$", readme, flags=re.M)
    assert commands == ["make repro", "make test"]
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"repro", "test"} <= set(targets)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "make test"
