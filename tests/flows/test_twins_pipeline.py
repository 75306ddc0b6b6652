"""The rewrite → twins → attention stages over a prompt list (Prefect + store + Ray), and their CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.cli import main

from tests.paths import ROOT
pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROMPTS = """id,prompt,region,direction,seed
river,a large river flowing in front of a mountain in the style of starry nights painting,,,
sea,"<b>a sea</b> with big waves, oil painting by Turner",,,5
empty,,,,
no-noun,it is so bright and blue,,,
castle,a castle on a hill,,,
"""


def small_params(tmp_path: Path) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["run"].update(store=str(tmp_path / "store"), num_cpus=2, object_store_mb=128)
    (tmp_path / "prompts.csv").write_text(PROMPTS)
    params["rewrite"]["prompts"] = str(tmp_path / "prompts.csv")
    params["models"]["profile"] = "tiny"  # the diffusion path (the procedural one: tests/test_procedural_twins.py)
    params["twins"].update(height=64, width=128, steps=4, seed=100)
    return params


def test_the_three_stages_run_a_prompt_list_cache_items_and_record_bad_ones(prefect_server, tmp_path):
    from tasks.dag import declared
    from flows.pipeline import run_declared

    params = small_params(tmp_path)
    run = lambda: tuple(run_declared(declared(name), params, root=tmp_path).set_index("id")
                        for name in ("rewrite", "twins", "attention"))
    rewrite, twins, attention = run()
    good, bad = ["river", "sea"], ["castle", "empty", "no-noun"]
    for manifest in (rewrite, twins, attention):
        assert set(manifest.loc[good, "status"]) == {"ok"} and set(manifest.loc[bad, "status"]) == {"failed"}
    assert "nothing to animate" in rewrite.loc["castle", "error"]
    assert "no words" in rewrite.loc["empty", "error"] and "no scene noun" in rewrite.loc["no-noun", "error"]
    assert rewrite.loc["sea", "corrections"] == "removed HTML markup"
    meta = json.loads((tmp_path / "data/twins/sea/meta.json").read_text())
    assert meta["seed"] == 5 and meta["region"] == "sea" and meta["twin_prompt"].startswith("sea, waves,")
    assert json.loads((tmp_path / "data/twins/river/meta.json").read_text())["seed"] == 100  # row 0: twins.seed + 0
    assert meta["model"]["profile"] == "tiny" and meta["twins"]["mode"] == "lockstep"
    for name in ("artistic.png", "realistic.png", "attention.npy"):
        assert (tmp_path / "data/twins/river" / name).is_file()
    assert np.load(tmp_path / "data/twins/river/attention.npy").shape == (32, 32)  # grid 4 × 8
    assert json.loads((tmp_path / "data/attention/river/attention.json").read_text())["grid"] == [4, 8]
    assert "starry nights" in (tmp_path / "data/attention/index.html").read_text()
    on_disk = pd.read_parquet(tmp_path / "data/twins/manifest.parquet").set_index("id")
    assert on_disk.loc["river", "region"] == "river"
    # Again: every finished item comes from the cache; the bad ones fail again with the same message.
    rewrite, twins, attention = run()
    for manifest in (rewrite, twins, attention):
        assert manifest.attrs["run"] == {"ok": 0, "cached": len(good), "failed": len(bad)}
    # A new twin parameter recomputes the twins but not the rewriting.
    params["twins"]["realistic_guidance"] = 6.0
    rewrite, twins, _ = run()
    assert rewrite.attrs["run"]["cached"] == len(good) and twins.attrs["run"]["ok"] == len(good)


def test_cli_twins_writes_the_twins_attention_and_meta(tmp_path, capsys):
    code = main(["twins", "a lake under clouds in the style of Monet, flowing to the left", "-o", str(tmp_path),
                 "--size", "128x64", "--steps", "3", "--seed", "4", "--params", str(ROOT / "params.yaml"),
                 "--profile", "tiny"])
    assert code == 0
    for name in ("artistic.png", "realistic.png", "attention.npy", "attention.png", "meta.json"):
        assert (tmp_path / name).is_file(), name
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert (meta["twins"]["height"], meta["twins"]["width"], meta["twins"]["steps"]) == (64, 128, 3)
    assert meta["seed"] == 4 and meta["region"] == "lake" and meta["direction"] == "right to left"
    assert meta["twins"]["negative_mix"] == 0.75 and meta["attention"]["max_timestep"] == 541
    assert "twin prompt: lake, clouds, nature" in capsys.readouterr().out


def test_cli_twins_with_the_procedural_profile_writes_the_truth_too(tmp_path, capsys):
    code = main(["twins", "a waterfall falling between hills in the style of Van Gogh", "-o", str(tmp_path),
                 "--seed", "2", "--params", str(ROOT / "params.yaml")])
    assert code == 0
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["model"]["profile"] == "procedural" and meta["procedural"]["kinds"] == ["waterfall"]
    assert meta["procedural"]["style"]["look"] == "oil" and meta["attention_grid"] == [16, 16]
    for name in ("artistic.png", "realistic.png", "attention.npy", "attention.png", "truth_mask.png",
                 "truth_waterfall.png", "truth_flow.npy"):
        assert (tmp_path / name).is_file(), name
    assert "profile procedural" in capsys.readouterr().out
    fountain = ["twins", "a fountain in a park", "-o", str(tmp_path / "b"), "--params", str(ROOT / "params.yaml")]
    assert main(fountain) == 2
    assert "cannot draw a 'fountain'" in capsys.readouterr().err


def test_cli_rewrite_prints_json(capsys):
    assert main(["rewrite", "waterfalls falling down a cliff, ink painting by Hokusai"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["twin_prompt"] == "waterfalls, cliff, nature, bright, realistic, photography, 4k, 8k"
    assert printed["region"] == "waterfall" and printed["direction"] == "downwards"


def test_cli_rewrite_follows_the_parameters_files_rewrite_section(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("rewrite:\n  keep: animatable\n  twin_suffix: photo\n")
    assert main(["rewrite", "waterfalls falling down a cliff, ink painting by Hokusai", "--params", str(params)]) == 0
    assert json.loads(capsys.readouterr().out)["twin_prompt"] == "waterfalls, photo"
    assert main(["rewrite", "waterfalls falling down a cliff", "--params", str(params), "--keep", "all"]) == 0
    assert json.loads(capsys.readouterr().out)["twin_prompt"] == "waterfalls, cliff, photo"


@pytest.mark.parametrize("arguments, message", [
    (["rewrite", ""], "no words"),
    (["twins", "a river", "-o", "OUT", "--size", "100x64"], "width 100 is not a multiple of 64"),
    (["twins", "a river", "-o", "OUT", "--profile", "sd15", "--model-dir", "nowhere"], "v1.5 weights"),
    (["twins", "a river", "-o", "OUT", "--params", "missing.yaml"], "missing.yaml not found"),
])
def test_cli_bad_input_exits_2_with_a_message(arguments, message, tmp_path, capsys):
    arguments = [str(tmp_path / a) if a in ("OUT", "nowhere", "missing.yaml") else a for a in arguments]
    assert main(arguments) == 2
    assert message in capsys.readouterr().err
