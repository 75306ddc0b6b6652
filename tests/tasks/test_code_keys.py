"""Cache keys follow the code: a step's key hashes its module and every project module it imports."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.code import code_closure, code_digest

from tests.paths import ROOT


def write(root: Path, name: str, text: str) -> None:
    path = root.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_closure_follows_lazy_relative_registry_and_submodule_imports(tmp_path):
    for package in ("stages", "stages.sub", "tasks"):
        write(tmp_path, f"{package}.__init__", "")
    write(tmp_path, "tasks.step", """
        from stages import direct
        from .helper import value
        def run():
            import stages.lazy
        REGISTRY = ["stages.sub.by_name"]
        """)
    write(tmp_path, "tasks.helper", "value = 1\n")
    for name in ("stages.direct", "stages.lazy", "stages.sub.by_name", "stages.unused"):
        write(tmp_path, name, "x = 1\n")
    assert code_closure("tasks.step", tmp_path) == (
        "stages", "stages.direct", "stages.lazy", "stages.sub", "stages.sub.by_name", "tasks", "tasks.helper",
        "tasks.step")
    before = code_digest("tasks.step", tmp_path, libraries=False)
    write(tmp_path, "stages.unused", "x = 2\n")
    assert code_digest("tasks.step", tmp_path, libraries=False) == before
    write(tmp_path, "stages.sub.by_name", "x = 2\n")
    assert code_digest("tasks.step", tmp_path, libraries=False) != before


def steps() -> dict[str, str]:
    """Every batch step of the pipeline → the module of its function."""
    from tasks.animate import ANIMATE
    from tasks.evaluate import EVALUATE
    from tasks.synth import SYNTH
    from tasks.rewrite import REWRITE
    from tasks.twins import ATTENTION, TWINS

    return {step.name: step.run.__module__ for step in (SYNTH, ANIMATE, EVALUATE, REWRITE, TWINS, ATTENTION)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    for package in ("stages", "tasks", "flows"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_changing_a_module_changes_exactly_the_keys_of_the_steps_importing_it(tree):
    modules = steps()
    keys = {name: code_digest(module, tree) for name, module in modules.items()}
    closures = {name: set(code_closure(module, tree)) for name, module in modules.items()}
    for module in sorted(set().union(*closures.values())):
        path = tree.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        original = path.read_text()
        path.write_text(original + "\n# changed\n")
        changed = {name for name, step_module in modules.items() if code_digest(step_module, tree) != keys[name]}
        path.write_text(original)
        assert changed == {name for name, closure in closures.items() if module in closure}, module
    # Facts checked by hand: the captions of synth come from the directions, animate thresholds masks with
    # stages.images, twins reads strict options and resolves its device; scenes are no business of twins.
    assert "stages.text.directions" in closures["synth"]
    assert "stages.images" in closures["animate"]
    assert {"stages.options", "stages.images", "stages.devices"} <= closures["twins"]
    assert "stages.scenes.landscapes" not in closures["evaluate"]


def test_closure_holds_every_module_a_step_really_imports():
    """Independent of the source reading: the project modules in sys.modules after importing a step."""
    for name, module in steps().items():
        probe = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.split('.')[0] in " \
                f"('stages', 'tasks', 'flows')))"
        loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split()
        assert set(loaded) <= set(code_closure(module)), (name, set(loaded) - set(code_closure(module)))


def test_a_library_upgrade_changes_only_the_keys_of_steps_that_use_it():
    """transformers is imported by the twins' models and not by the procedural scenes."""
    from tasks.code import installed_version

    modules = steps()
    upgrade = {"transformers": installed_version("transformers") + ".post1"}
    changed = {name for name, module in modules.items()
               if code_digest(module, versions=upgrade) != code_digest(module)}
    assert {"twins", "attention", "animate"} <= changed
    assert "synth" not in changed and "rewrite" not in changed
    upgrade = {"numpy": installed_version("numpy") + ".post1"}
    assert all(code_digest(module, versions=upgrade) != code_digest(module) for module in modules.values())


def test_result_libraries_are_the_imports_and_what_stands_behind_them(tmp_path):
    from tasks.code import result_libraries

    for package in ("stages", "tasks"):
        write(tmp_path, f"{package}.__init__", "")
    write(tmp_path, "tasks.step", "import json\nfrom stages import pictures\nimport tqdm\n")
    write(tmp_path, "stages.pictures", "def save():\n    from PIL import Image\n    import pandas\n")
    assert result_libraries("tasks.step", tmp_path) == ("pandas", "pillow", "pillow-zlib", "pyarrow")
