"""Every params section is read strictly: a misspelt key is refused with its name, by the code of the stage."""

from __future__ import annotations

import copy

import pytest
import yaml

from stages.errors import InputError
from tests.paths import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def read_section(name: str, params: dict, tmp_path) -> None:
    """Read section ``name`` the way its stage does (up to the first use of the settings)."""
    from flows.animate import animate_flow
    from flows.compare import compare_flow
    from flows.evaluate import evaluation_settings
    from flows.study import study_settings
    from flows.synth import synth_flow
    from stages.baselines.common import BaselineSettings
    from stages.learned.train_flow import FlowTraining
    from stages.learned.train_frame import FrameTraining
    from stages.diffusion.makers import (attention_options, inversion_options, model_options, procedural_options,
                                         twin_options)
    from stages.masks.maker import MaskSettings
    from stages.motion.render import video_options
    from stages.motion.sources import flow_options
    from stages.text.prompts import rewrite_options
    from tasks.compare_art import compare_art_options
    from tasks.masks import train_segment
    from tasks.prefect_task import run_stage
    from tasks.synth import SYNTH
    from tasks.train import train_flow_ablations

    readers = {
        "run": lambda: run_stage(SYNTH, [], {}, tmp_path / "out", params["run"]),
        "synth": lambda: synth_flow.fn(params, out_dir=str(tmp_path / "synth"), section="synth"),
        "synth_train": lambda: synth_flow.fn(params, out_dir=str(tmp_path / "synth"), section="synth_train"),
        "animate": lambda: animate_flow.fn(params, str(tmp_path), str(tmp_path / "a"), str(tmp_path / "m"), "animate"),
        "animate_learned": lambda: animate_flow.fn(params, str(tmp_path), str(tmp_path / "a"), str(tmp_path / "m"),
                                                   "animate_learned"),
        "evaluate": lambda: evaluation_settings(params),
        "models": lambda: model_options(params), "twins": lambda: twin_options(params),
        "attention": lambda: attention_options(params), "inversion": lambda: inversion_options(params),
        "rewrite": lambda: rewrite_options(params),
        "train_flow": lambda: FlowTraining(tmp_path, params["train_flow"], tmp_path / "work"),
        "train_frame": lambda: FrameTraining(tmp_path, params["train_frame"], tmp_path / "work"),
        "train_ablations": lambda: train_flow_ablations(params, tmp_path / "models", tmp_path / "m.json"),
        "compare": lambda: compare_flow.fn(params, str(tmp_path), str(tmp_path), str(tmp_path / "out"),
                                           str(tmp_path / "m.json"), str(tmp_path / "p.csv")),
        "train_segment": lambda: train_segment(params["train_segment"], tmp_path / "seg", tmp_path / "m.json"),
        "mask": lambda: MaskSettings.from_section(params["mask"]),
        "flow": lambda: flow_options(params["flow"]), "video": lambda: video_options(params["video"]),
        "compare_art": lambda: compare_art_options(params["compare_art"]),
        "baselines": lambda: BaselineSettings.from_params(params),
        "study": lambda: study_settings(params["study"]),
    }
    assert set(readers) == set(PARAMS), "a params section without a strict reader"
    procedural_options(params)
    readers[name]()


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_a_misspelt_key_is_refused_with_its_name(name, tmp_path):
    params = copy.deepcopy(PARAMS)
    params[name]["speeed"] = 1
    with pytest.raises(InputError, match=rf"speeed.*{name}|{name}.*speeed"):
        read_section(name, params, tmp_path)


def test_a_misspelt_nested_key_of_the_procedural_world_is_refused():
    from stages.diffusion.makers import procedural_options

    params = copy.deepcopy(PARAMS)
    params["twins"]["procedural"]["warp"] = 2
    with pytest.raises(InputError, match="warp"):
        procedural_options(params)
