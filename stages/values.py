"""Checks of the values a user types (command-line options) or sets (``params.yaml``, ``-S section.key=...``).

One rule per kind of value: :class:`Range` for numbers (finite, integer or not, inside bounds) and
:func:`text` for free text (its length). Each gives a one-line :class:`~stages.errors.InputError` naming the
setting; :func:`option` turns a rule into an ``argparse`` type; :func:`check_section` applies rules to a
params section. Long user text is never echoed back whole (:func:`shorten`).
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable

from stages.errors import InputError

ECHO_CHARS = 60
"""At most this many characters of a user's value are quoted back in a message."""


def shorten(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr`` of ``str(value)``, cut to ``limit`` characters with the full length said when longer."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


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
    PARAMS["animate"])`` refuses ``-S animate.speed=nan`` as "animate.speed must be a finite number ...".
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


def _device(value: Any, setting: str) -> str:
    """A device name that is present (stages.devices.check_device, imported when a section is checked)."""
    from stages.devices import check_device

    return check_device(str(value), setting)


_ANIMATE = {"frames": FRAMES, "fps": FPS, "speed": SPEED, "smoothness": SMOOTHNESS, "feather_px": FEATHER,
            "max_flow": MAX_FLOW, "seed": SEED, "device": _device}
_SCENES = {"count": COUNT, "seed": SEED, "height": Range(16, 4096, integer=True),
           "width": Range(16, 4096, integer=True), "frames": FRAMES, "fps": FPS, "crf": Range(0, 51, integer=True),
           "validation_every": COUNT}
_TRAINING = {"crop": Range(16, 4096, integer=True), "mask_threshold": Range(0), "iterations": COUNT,
             "batch_size": COUNT, "lr_g": RATE, "lr_d": RATE, "beta1": Range(0, 1), "beta2": Range(0, 1),
             "ema_decay": Range(0, 1), "validate_every": COUNT, "checkpoint_every": COUNT, "log_every": COUNT,
             "seed": SEED, "device": _device, "workers": Range(0, 256, integer=True), "feather_px": FEATHER,
             "epe_weight": Range(0), "gan_weight": Range(0), "feature_matching_weight": Range(0),
             "l1_weight": Range(0), "perceptual_weight": Range(0), "hint_smoothness": SMOOTHNESS,
             "predicted_flow_iterations": Range(0, 10**9, integer=True), "eval_stride": COUNT}
PARAMS = {
    "run": {"num_cpus": Range(1, 4096, integer=True), "object_store_mb": Range(64, 10**7, integer=True),
            "retries": Range(0, 100, integer=True)},
    "synth": _SCENES, "synth_train": _SCENES,
    "animate": _ANIMATE, "animate_learned": _ANIMATE,
    "evaluate": {"margin": Range(0, 10000, integer=True), "mask_threshold": Range(0, 255)},
    "models": {"device": _device, "init_seed": SEED},
    "rewrite": {"max_chars": Range(1, 100000, integer=True)},
    "twins": {"seed": SEED, "artistic_guidance": Range(0, 100), "realistic_guidance": Range(0, 100),
              "negative_mix": FRACTION, "attention_injection": FRACTION, "resnet_injection": FRACTION},
    "attention": {"max_timestep": Range(0, 1000, integer=True)},
    "mask": {"seed": SEED, "overlap": FRACTION, "boundary_overlap": FRACTION,
             "refine_px": Range(0, 1024, integer=True)},
    "inversion": {"steps": STEPS},
    "train_flow": _TRAINING, "train_frame": _TRAINING,
}
"""Rules of the numbers (and devices) of each params.yaml section, by section and key, for
:func:`check_section`; keys that may be ``auto`` (twins height, width, steps) are checked where ``auto`` is
resolved."""


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
