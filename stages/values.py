"""Checks of the values a user types (command-line options) or sets (``params.yaml``, ``-S section.key=...``).

One rule per kind of value: :class:`Range` for numbers (finite, integer or not, inside bounds), :func:`text`
for free text (its length), :func:`DEVICE` for devices. Each gives a one-line
:class:`~stages.errors.InputError` naming the setting; :func:`option` turns a rule into an ``argparse`` type;
a setting's rule lives in its dataclass field (:func:`ruled`), and :func:`check_section` applies the rules to
a params section. Long user text is never echoed back whole (:func:`stages.errors.shorten`).
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from stages.devices import check_device
from stages.errors import InputError, shorten

def _show(bound: float) -> str:
    """A bound as written: whole numbers in full (4294967295, not 4.29e+09)."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


@dataclass(frozen=True)
class Range:
    """A number setting: finite, an integer when ``integer``, with ``low ≤ value ≤ high`` (``low < value``
    when ``low_open``); a bound of None is no bound."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        """The rule in words, e.g. "an integer of at least 2" or "a finite number above 0 and at most 240"."""
        bounds = []
        if self.low is not None:
            bounds.append(f"{'above' if self.low_open else 'at least'} {_show(self.low)}")
        if self.high is not None:
            bounds.append(f"at most {_show(self.high)}")
        kind = "an integer" if self.integer else "a finite number"
        if self.integer and self.low is not None and not self.low_open:
            kind += " of"
        return " ".join([kind, " and ".join(bounds)]).strip()

    def parse(self, value: Any) -> int | float:
        """``value`` (a number or its text) as int or float → the number; ValueError "must be ..." if not."""
        number = self._number(value)
        if number is None or not self._inside(number):
            raise ValueError(f"must be {self.describe()}, got {shorten(value)}")
        return number

    def _inside(self, number: int | float) -> bool:
        """Whether ``number`` lies within the bounds."""
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        return self.high is None or number <= self.high

    def _number(self, value: Any) -> int | float | None:
        """The number ``value`` stands for (an int when ``integer``), or None when it is none / not finite."""
        if isinstance(value, bool):
            return None
        if isinstance(value, str):
            try:
                value = int(value.strip()) if self.integer else float(value)
            except ValueError:
                return None
        if isinstance(value, numbers.Integral):
            return int(value) if self.integer else self._float(value)
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            return None
        if self.integer:
            return int(value) if float(value).is_integer() else None
        return float(value)

    @staticmethod
    def _float(value: numbers.Integral) -> float | None:
        """An integer as a float, or None when it is too large for one (10⁴⁰⁰)."""
        try:
            return float(value)
        except OverflowError:
            return None

    def check(self, value: Any, setting: str) -> int | float:
        """:meth:`parse`, with an InputError naming ``setting`` (e.g. ``animate.speed`` or ``--speed``)."""
        try:
            return self.parse(value)
        except ValueError as error:
            raise InputError(f"{setting} {error}") from None

    def option(self, setting: str) -> Callable[[str], int | float]:
        """An ``argparse`` type for the option ``setting`` (e.g. ``--speed``) following this rule."""
        return option(self.check, setting)


def text(value: Any, setting: str, max_chars: int) -> str:
    """``value`` as text of at most ``max_chars`` characters, else InputError naming ``setting``."""
    value = str(value)
    if len(value) > max_chars:
        raise InputError(f"{setting} must be at most {max_chars} characters, got {len(value)}: {shorten(value)}")
    return value


def text_option(setting: str, max_chars: int) -> Callable[[str], str]:
    """An ``argparse`` type for free text of at most ``max_chars`` characters."""
    return option(lambda value, name: text(value, name, max_chars), setting)


def option(check: Callable[[Any, str], Any], setting: str = "the value") -> Callable[[str], Any]:
    """An ``argparse`` type from a check (``Range(...).check``, or a function (value, setting) → value) that
    reports through argparse's one-line error for the option."""

    def parse(value: str) -> Any:
        try:
            return check(value, setting)
        except InputError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix(f"{setting} ")) from None

    parse.__name__ = setting
    return parse


def check_section(section: dict | None, name: str, rules: dict[str, Any]) -> dict:
    """The params section ``name`` with each key that has a rule checked and converted.

    A rule is a :class:`Range` or a check (value, setting) → value such as :func:`stages.devices.check_device`.
    Keys without a rule and null values are passed through, numbers of the right kind unchanged (30 stays
    30 under a float rule), text converted ("0.5" → 0.5); e.g. ``check_section(params["animate"], "animate",
    {"speed": SPEED})`` refuses ``-S animate.speed=nan`` as "animate.speed must be a finite number ...".
    """
    section = dict(section or {})
    for key, rule in rules.items():
        value = section.get(key)
        if value is None:
            continue
        checked = (rule.check if isinstance(rule, Range) else rule)(value, f"{name}.{key}")
        already = type(value) is int or (type(value) is float and not getattr(rule, "integer", True))
        section[key] = value if already else checked  # numbers keep their type: params digests stay the same
    return section


SEED = Range(0, 2**32 - 1, integer=True)
"""Seeds: numpy's generators take non-negative integers; 32 bits are kept for every library."""
FRAMES = Range(2, 10**6, integer=True)
"""Frames per loop: frame 0 and frame N are the input, so at least 2; a million is over nine hours at 30 fps."""
FPS = Range(0, 240, low_open=True)
"""Frames per second (GIF stores centiseconds per frame, so above 100 fps GIF players slow down)."""
SPEED = Range(0, 100, low_open=True)
"""Flow multiplier, in pixels per frame for a unit flow."""
MAX_FLOW = Range(0, 64, low_open=True)
"""Clamp of G_flow's flow, pixels per frame (its tanh output is scaled by 64)."""
FEATHER = Range(0, 1000)
"""Width of the feathered edge of the moving region, pixels."""
SMOOTHNESS = Range(0, 10, low_open=True)
"""Gaussian width of hint interpolation, fraction of the larger image side."""
FRACTION = Range(0, 1)
"""A fraction of something (of the steps, of a mix)."""
STEPS = Range(1, 1000, integer=True)
"""Denoising or inversion steps: at most one per training timestep of Stable Diffusion 1.x."""
COUNT = Range(1, 10**9, integer=True)
"""How many of something (scenes, iterations, a batch size)."""
RATE = Range(0, 1, low_open=True)
"""A learning rate or a decay factor."""
SIZE = Range(16, 4096, integer=True)
"""A side of a picture, pixels."""


def auto_or(check: Range) -> Callable[[Any, str], Any]:
    """A rule taking ``auto`` (resolved later, e.g. by the model profile) or a value ``check`` accepts."""
    return lambda value, setting: value if value == "auto" else check.check(value, setting)


def DEVICE(value: Any, setting: str) -> str:  # noqa: N802 (a rule, named like the others)
    """A device name that is present (stages.devices.check_device)."""
    return check_device(str(value), setting)


def one_of(*names: str) -> Callable[[Any, str], str]:
    """A rule taking one of ``names`` (a choice by name)."""

    def check(value: Any, setting: str) -> str:
        if value not in names:
            raise InputError(f"{setting} must be one of {', '.join(names)}, got {value!r}")
        return value

    return check


def rule(check: Range | Callable[[Any, str], Any]) -> dict:
    """A dataclass field's metadata holding its rule (what params readers and options check it with)."""
    return {"rule": check}


def ruled(default: Any, check: Range | Callable[[Any, str], Any]) -> Any:
    """A dataclass field with ``default`` and the rule ``check`` (a Range or a function (value, setting) →
    value): ``speed: float = ruled(1.0, SPEED)``."""
    return field(default=default, metadata=rule(check))


MEMORY_SETTING = "CINEMAGRAPH_MAX_MEMORY_MB"


def memory_budget() -> int:
    """Bytes a command may plan to hold: ``$CINEMAGRAPH_MAX_MEMORY_MB`` (MiB) when set, else half the memory
    the system reports available (``MemAvailable`` of /proc/meminfo; free pages elsewhere)."""
    setting = os.environ.get(MEMORY_SETTING)
    if setting is not None:
        return int(Range(1, integer=True).check(setting, MEMORY_SETTING)) << 20
    try:
        with open("/proc/meminfo") as stream:
            available = next(int(line.split()[1]) << 10 for line in stream if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return available // 2


def check_memory(need: int, what: str, hint: str) -> None:
    """InputError when ``need`` bytes (an up-front estimate for ``what``) exceed :func:`memory_budget`;
    ``hint`` says how to need less."""
    budget = memory_budget()
    if need > budget:
        raise InputError(f"{what} needs about {need / 2**30:.2f} GiB of memory, more than the {budget / 2**30:.2f} "
                         f"GiB allowed (half the available memory, or {MEMORY_SETTING}): {hint}")
