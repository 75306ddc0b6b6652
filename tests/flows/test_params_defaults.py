"""Every setting is declared once: params.yaml holds exactly the offline default the code declares."""

import yaml

from flows.params import SECTIONS, default_params
from tests.paths import ROOT


def test_params_yaml_is_the_code_defaults():
    """Same sections in the same order, same keys, every value its field's default (or its section's)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    defaults = default_params()
    assert list(params) == list(SECTIONS)
    for name, section in params.items():
        assert sorted(section) == sorted(defaults[name]), name
        assert section == defaults[name], name


def test_every_number_setting_has_a_rule():
    """A number a user can set is checked by the rule in its field (finite, in range) before any work."""
    from dataclasses import MISSING

    unruled = []
    for name, section in SECTIONS.items():
        for key, item in section.fields().items():
            default = item.default if item.default is not MISSING else None
            if isinstance(default, (int, float)) and not isinstance(default, bool) and "rule" not in item.metadata:
                unruled.append(f"{name}.{key}")
    assert unruled == []
