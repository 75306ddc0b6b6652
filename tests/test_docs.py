"""The docs pages: their relative links resolve, and their tables of measured figures are generated from
metrics files (``docs/make_tables.py``) in the format the pages hold."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from stages.errors import InputError

from tests.paths import ROOT
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

spec = importlib.util.spec_from_file_location("make_tables", ROOT / "docs" / "make_tables.py")
make_tables = sys.modules.setdefault("make_tables", importlib.util.module_from_spec(spec))
spec.loader.exec_module(make_tables)

# What `make repro` writes, with values unlike the committed figures (so a rewrite shows).
FIXTURE = {
    "train_flow.json": {"epe": 0.3051, "epe_zero": 0.7321, "epe_mean": 0.7168, "epe_caption_direction": 0.3664,
                        "speed_outside": 0.0165, "epe_vs_zero": 0.4167, "psnr_sample": 20.1},
    "train_frame.json": {"psnr_learned": 27.0649, "psnr_renderer": 26.4951, "psnr_learned_predicted_flow": 21.2,
                         "psnr_renderer_predicted_flow": 21.0949, "final_loss": 0.5},
    "generate.json": {"prompts": 25, "videos": 24, "failed": 1, "scored_against_truth": 24, "mask_iou": 0.8886,
                      "segmentation_iou": 0.8671, "direction_within_range": 0.9583, "flow_source": "g_flow",
                      "flow_epe": {"g_flow": 0.41, "direction": 0.39, "class_default": 0.7, "zero": 0.95},
                      "flow_epe_signfree": {"g_flow": 0.3, "direction": 0.15, "class_default": 0.15, "zero": 0.63}},
    "compare.json": {"clips": 6, "failed": 0, "split": "validation", "frames": 60, "fvd_n": 6, "detector": "random",
                     "detector_sha256": "0" * 64, "epe_zero": 0.61,
                     "methods": {name: {"epe": 0.4 + i / 10, "psnr": 30.0 - i, "psnr_moving": 25.0 - i,
                                        "static_rmse": 0.5 + i, "fvd16": 100.0 + i, "fvd60": 200.0 + i}
                                 for i, name in enumerate(("ours", "wo_text", "wo_mask", "wo_text_mask"))}},
}


def prose(text: str) -> str:
    """``text`` without fenced or indented code blocks and inline code (their brackets are no links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"^ {4}.*$", "", text, flags=re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of the headings of ``page``: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", prose(page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def relative_links(page: Path) -> list[str]:
    """The targets of the Markdown links of ``page`` that are not web addresses."""
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose(page.read_text()))
    return [target for target in targets if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_file(), f"{page.name}: {target} names no file"
        if anchor:
            assert anchor in anchors(file), f"{page.name}: {target} names no heading of {file.name}"


def test_the_link_checker_sees_links_and_refuses_broken_ones(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title's words (here)\n\n[ok](#a-titles-words-here) [bad](#nowhere) `[code](x.md)`\n\n"
                    "    [indented](y.md)\n[web](https://example.org) [file](other.md)\n")
    assert relative_links(page) == ["#a-titles-words-here", "#nowhere", "other.md"]
    assert anchors(page) == {"a-titles-words-here"}


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in relative_links(ROOT / "README.md")}
    assert set(PAGES[1:]) <= linked


def test_a_table_renders_from_a_metrics_file():
    assert make_tables.render(make_tables.TABLES["generate"], FIXTURE["generate.json"]) == (
        "| the prompt list (`data/prompts.csv`) | `make repro` |\n"
        "| --- | --- |\n"
        "| videos written (`videos`) of prompts (`prompts`) | 24 of 25 |\n"
        "| items failed (`failed`) | 1 |\n"
        "| IoU of the final mask with the exact truth (`mask_iou`) | 0.889 |\n"
        "| IoU of the segmentation alone (`segmentation_iou`) | 0.867 |\n"
        "| named directions inside their range (`direction_within_range`) | 96% |\n")
    flow = make_tables.render(make_tables.TABLES["train_flow"], FIXTURE["train_flow.json"]).splitlines()
    assert flow[2] == "| G_flow end-point error (`epe`) | 0.305 |"
    assert flow[3] == "| … relative to zero flow (`epe_vs_zero`) | 0.42 |"
    motion = make_tables.render(make_tables.TABLES["motion"], FIXTURE["generate.json"]).splitlines()
    assert motion[2:] == ["| G_flow (`g_flow`, the default) | 0.410 / 0.300 |",
                          "| the direction phrase on the parts it names, class defaults elsewhere (`direction`) | "
                          "0.390 / 0.150 |",
                          "| every part its class's default, the phrase ignored (`class_default`) | 0.700 / 0.150 |",
                          "| no motion (`zero`) | 0.950 / 0.630 |"]
    frame = make_tables.render(make_tables.TABLES["train_frame"], FIXTURE["train_frame.json"]).splitlines()
    assert frame[2].endswith("| 27.06 / 26.50 dB |") and frame[3].endswith("| 21.20 / 21.09 dB |")
    compare = make_tables.render(make_tables.TABLES["compare"], FIXTURE["compare.json"]).splitlines()
    assert compare[1] == "| --- | --- | --- | --- | --- | --- | --- |"
    assert compare[3].endswith("(`wo_text`) | 0.500 | 29.00 | 24.00 | 1.50 | 101.000 | 201.000 |")
    assert compare[-1].endswith("| 6 | – | – | – | N = 6, random | N = 6, random |")


def cell_pattern(cell: str) -> str:
    """A pattern matching ``cell`` with any digits in place of its numbers."""
    return re.sub(r"\d+", r"\\d+", re.escape(cell))


def test_every_table_of_the_pages_has_the_rendered_format():
    blocks = [match for page in PAGES for match in make_tables.BLOCK.finditer(page.read_text())]
    assert {match["name"] for match in blocks} == set(make_tables.TABLES), "every table appears in a page"
    for match in blocks:
        table = make_tables.TABLES[match["name"]]
        rendered = make_tables.render(table, FIXTURE[table.source]).splitlines()
        committed = match["body"].splitlines()
        assert len(committed) == len(rendered), match["name"]
        for ours, theirs in zip(rendered, committed):
            assert re.fullmatch(" \\| ".join(map(cell_pattern, ours.split(" | "))), theirs), theirs


def copy_pages(root: Path) -> None:
    """The README and the docs pages under ``root``, as in the repository."""
    (root / "docs").mkdir(parents=True)
    for page in PAGES:
        shutil.copyfile(page, root / page.relative_to(ROOT))


def test_the_script_checks_and_rewrites_the_pages_tables(tmp_path, capsys):
    root, metrics = tmp_path / "repo", tmp_path / "metrics"
    copy_pages(root)
    metrics.mkdir()
    for name, values in FIXTURE.items():
        (metrics / name).write_text(json.dumps(values))
    before = {page.name: page.read_text() for page in root.rglob("*.md")}
    arguments = ["--root", str(root), "--metrics", str(metrics)]

    assert make_tables.main([*arguments, "--check"]) == 1
    assert {page.name: page.read_text() for page in root.rglob("*.md")} == before
    assert "docs/generate.md: tables differ" in capsys.readouterr().out

    assert make_tables.main(arguments) == 0
    generate = (root / "docs" / "generate.md").read_text()
    assert "| videos written (`videos`) of prompts (`prompts`) | 24 of 25 |" in generate
    assert (root / "README.md").read_text() == before["README.md"]
    assert make_tables.main([*arguments, "--check"]) == 0

    (metrics / "train_frame.json").unlink()
    assert make_tables.main([*arguments, "--check"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no ") and error.endswith("run `make repro` first (it writes the metrics files)\n")
    assert error.count("\n") == 1


def test_missing_metrics_and_unknown_tables_are_refused_by_name(tmp_path):
    (tmp_path / "generate.json").write_text(json.dumps({"prompts": 3}))
    with pytest.raises(InputError, match="generate.json has no 'videos'"):
        make_tables.update("<!-- table:generate -->\n<!-- /table -->", tmp_path)
    with pytest.raises(InputError, match="no .*train_flow.json: run `make repro` first"):
        make_tables.update("<!-- table:train_flow -->\n<!-- /table -->", tmp_path)
    with pytest.raises(InputError, match="unknown table 'speed'"):
        make_tables.update("<!-- table:speed -->\n<!-- /table -->", tmp_path)
    (tmp_path / "train_frame.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="holds no JSON object"):
        make_tables.update("<!-- table:train_frame -->\n<!-- /table -->", tmp_path)
