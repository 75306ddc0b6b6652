"""`make verify` reports exactly the outputs whose hash differs from the committed dvc.lock, by stage."""

from pathlib import Path

from tasks.verify import differences, output_hashes

ROOT = Path(__file__).resolve().parents[1]


def test_a_changed_output_hash_is_reported_under_its_stage_and_nothing_else():
    text = (ROOT / "dvc.lock").read_text()
    committed = output_hashes(text)
    synth_md5 = committed["synth"]["data/synth"]
    assert synth_md5 and differences(committed, output_hashes(text)) == {}
    changed = output_hashes(text.replace(synth_md5, "f" * len(synth_md5)))  # the stages reading it: deps only
    assert differences(committed, changed) == {"synth": [f"data/synth: {synth_md5} → {'f' * len(synth_md5)}"]}
    del changed["video"]
    assert differences(committed, changed)["video"] == [f"{path}: {md5} → absent"
                                                        for path, md5 in sorted(committed["video"].items())]
