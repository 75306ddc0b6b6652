"""A paired A/B user study (the paper's appendix C): planning the trials and analysing the answers.

Planning: every item shared by "ours" and a baseline becomes one trial of that comparison; within each
comparison, ours is on the left in half of the trials (randomly, seeded). Trials are shuffled into HITs of
``pairs_per_hit`` trials plus ``catch_per_hit`` catch trials: a clean video against an obviously corrupted
copy of it (pixelated, noisy, frames shuffled), whose right answer is the clean one. Every identifier a
worker can see (trial, HIT, video) is an opaque random token.

Analysis: assignments rejected by the requester are dropped, then every judgment of a worker whose catch
answers are less accurate than ``min_catch_accuracy``. Per comparison and criterion the result is the
percentage of judgments preferring ours, with standard error and 95 % interval from bootstrap resamples of
workers (workers drawn with replacement, all of a drawn worker's judgments kept together).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Collection

import cv2
import numpy as np
import pandas as pd

from stages.errors import InputError
from stages.values import SEED, Range, ruled

COUNT = Range(1, 1000, integer=True)
"""Pairs per HIT, workers per HIT."""

OURS = "ours"
CATCH = "catch"
SIDES = ("left", "right")


@dataclass(frozen=True)
class Criterion:
    """One question asked for every pair; ``needs_prompt``: asked only when the trial has a text prompt."""

    name: str
    question: str
    needs_prompt: bool = False


CRITERIA = (
    Criterion("motion", "Which video has more natural motion, as it would happen in the real world?"),
    Criterion("looks", "Which video looks better?"),
    Criterion("text", "Which video better shows what the text describes?", needs_prompt=True),
)
CATCH_CRITERIA = ("motion", "looks")  # the questions whose answer is obvious on a catch trial


@dataclass(frozen=True)
class StudySettings:
    """How a batch is laid out and who may work on it (defaults: the paper's appendix C; the ``study`` params
    section)."""

    pairs_per_hit: int = ruled(4, COUNT)
    """real comparisons per HIT."""
    catch_per_hit: int = ruled(1, Range(0, 1000, integer=True))
    """catch trials per HIT (a clean video against a broken copy of it)."""
    assignments: int = ruled(5, COUNT)
    """workers per HIT, so judgments per pair."""
    min_approved_hits: int = ruled(10000, Range(0, 10**9, integer=True))
    """workers need more approved HITs than this."""
    min_approval_percent: int = ruled(95, Range(0, 100, integer=True))
    """and a higher approval rate than this, percent."""
    reward_per_trial_usd: float = ruled(0.03, Range(0, 100))
    """US dollars per pair shown."""
    seed: int = ruled(0, SEED)
    """seed of the sides, the HITs and the catch trials."""

    def check(self) -> None:
        """Raise InputError for settings that cannot make a study."""
        if self.pairs_per_hit < 1 or self.catch_per_hit < 0 or self.assignments < 1:
            raise InputError("pairs per HIT and assignments must be at least 1, catch trials per HIT at least 0")


@dataclass
class Trial:
    """One pair shown to a worker. ``left``/``right``: (method, item) of each video; private."""

    trial_id: str
    comparison: str
    item: str
    left: tuple[str, str]
    right: tuple[str, str]
    prompt: str = ""
    is_catch: bool = False
    hit_id: str = ""
    slot: int = 0
    left_token: str = ""
    right_token: str = ""

    @property
    def ours_side(self) -> str | None:
        """Where ours is shown (None on a catch trial)."""
        return None if self.is_catch else ("left" if self.left[0] == OURS else "right")

    @property
    def correct_side(self) -> str | None:
        """Where the clean video of a catch trial is shown (None on a real trial)."""
        return ("right" if self.left[0] == CATCH else "left") if self.is_catch else None


@dataclass
class Hit:
    """One HIT: its opaque id and its trials in display order (slot 1, 2, ...)."""

    hit_id: str
    trials: list[Trial] = field(default_factory=list)


class TokenSource:
    """Opaque, unique, reproducible identifiers (16 hex digits) drawn from a seeded generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()

    def __call__(self) -> str:
        while True:
            token = self.rng.bytes(8).hex()
            if token not in self.used:
                self.used.add(token)
                return token


def balanced_sides(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` sides, half "left" and half "right" (the odd one random), in random order."""
    lefts = count // 2 + (int(rng.integers(2)) if count % 2 else 0)
    sides = ["left"] * lefts + ["right"] * (count - lefts)
    rng.shuffle(sides)
    return sides


def plan_study(ours: Collection[str], baselines: dict[str, Collection[str]], settings: StudySettings,
               prompts: dict[str, str] | None = None) -> list[Hit]:
    """The HITs of a study. ``ours``/``baselines[name]``: the item ids each method has a video for.

    Items missing from either side of a comparison are left out of it. Catch trials use clean videos drawn
    in turn from every method's items; a short last HIT is filled up with extra catch trials, so every HIT
    has the same slots.
    """
    settings.check()
    prompts = prompts or {}
    rng = np.random.default_rng(settings.seed)
    token = TokenSource(rng)
    trials = []
    for name in sorted(baselines):
        if name in (OURS, CATCH):
            raise InputError(f"a baseline cannot be called {name!r}: choose another name")
        shared = sorted(set(ours) & set(baselines[name]))
        for item, ours_side in zip(shared, balanced_sides(len(shared), rng)):
            pair = [(OURS, item), (name, item)] if ours_side == "left" else [(name, item), (OURS, item)]
            trials.append(Trial(token(), name, item, *pair, prompt=prompts.get(item, "")))
    if not trials:
        raise InputError("no item is shared by ours and any baseline: videos are paired by id (file name)")
    rng.shuffle(trials)
    sources = [(OURS, item) for item in sorted(ours)]
    sources += [(name, item) for name in sorted(baselines) for item in sorted(baselines[name])]
    source_order = itertools.cycle(rng.permutation(len(sources)).tolist())
    hits = []
    for start in range(0, len(trials), settings.pairs_per_hit):
        hits.append(Hit(token(), trials[start:start + settings.pairs_per_hit]))
    slots = settings.pairs_per_hit + settings.catch_per_hit
    catch_count = sum(slots - len(hit.trials) for hit in hits)
    catch_sides = balanced_sides(catch_count, rng)
    for hit in hits:
        while len(hit.trials) < slots:
            source = sources[next(source_order)]
            clean_side = catch_sides.pop()
            pair = [source, (CATCH, source[1])] if clean_side == "left" else [(CATCH, source[1]), source]
            hit.trials.append(Trial(token(), CATCH, source[1], *pair, prompt=prompts.get(source[1], ""),
                                    is_catch=True))
        rng.shuffle(hit.trials)
        for slot, trial in enumerate(hit.trials, start=1):
            trial.hit_id, trial.slot = hit.hit_id, slot
            trial.left_token, trial.right_token = token(), token()
    return hits


def manifest_frame(hits: list[Hit], settings: StudySettings) -> pd.DataFrame:
    """One row per trial: everything needed to decode the answers (private: names the methods)."""
    rows = []
    for hit in hits:
        for trial in hit.trials:
            row = {key: value for key, value in asdict(trial).items() if key not in ("left", "right")}
            rows.append({**row, "left_method": trial.left[0], "right_method": trial.right[0],
                         "ours_side": trial.ours_side, "correct_side": trial.correct_side,
                         "seed": settings.seed})
    return pd.DataFrame(rows)


def corrupt_video(frames: np.ndarray, seed: int) -> np.ndarray:
    """An obviously broken copy of uint8 (N, H, W, 3): 8× pixelated with heavy noise on every block, frames in
    random order. The noise is drawn per block, not per pixel, so the video stays cheap to encode."""
    rng = np.random.default_rng(seed)
    height, width = frames.shape[1:3]
    small = (max(1, width // 8), max(1, height // 8))
    broken = []
    for index in rng.permutation(len(frames)):
        blocks = cv2.resize(frames[index], small, interpolation=cv2.INTER_AREA).astype(np.float32)
        noisy = np.clip(blocks + rng.normal(0.0, 45.0, blocks.shape), 0, 255).astype(np.uint8)
        broken.append(cv2.resize(noisy, (width, height), interpolation=cv2.INTER_NEAREST))
    return np.stack(broken)


def answer_field(slot: int, criterion: str) -> str:
    """The form field of the answer to ``criterion`` for the trial in ``slot`` (values "left"/"right")."""
    return f"t{slot}_{criterion}"


def _choice(row: pd.Series, field_name: str) -> str:
    """A worker's answer: ``Answer.<field>`` = left/right, or crowd-form's ``Answer.<field>.left`` = true."""
    value = str(row.get(f"Answer.{field_name}", "")).strip().lower()
    if value in SIDES:
        return value
    for side in SIDES:
        if str(row.get(f"Answer.{field_name}.{side}", "")).strip().lower() == "true":
            return side
    return ""


def rejected_assignments(results: pd.DataFrame) -> pd.Series:
    """bool per results row: the assignment was rejected (status "Rejected", or a reason in ``Reject``)."""
    status = results.get("AssignmentStatus", pd.Series("", index=results.index)).fillna("").astype(str)
    reasons = results.get("Reject", pd.Series("", index=results.index)).fillna("").astype(str)
    return (status.str.strip().str.lower() == "rejected") | (reasons.str.strip() != "")


def judgments_from_results(results: pd.DataFrame) -> pd.DataFrame:
    """Batch results (one row per assignment, Mechanical Turk's CSV columns) → one row per answer.

    Columns: assignment, worker, rejected (bool), trial_id, criterion, choice ("left"/"right").
    Unanswered questions are left out.
    """
    required = {"AssignmentId", "WorkerId"}
    if not required <= set(results.columns):
        raise InputError(f"the results file lacks {sorted(required - set(results.columns))}: give the batch "
                         "results CSV downloaded from Mechanical Turk or saved by study.html")
    slots = sorted(int(c[len("Input.trial_"):]) for c in results.columns
                   if c.startswith("Input.trial_") and c[len("Input.trial_"):].isdigit())
    if not slots:
        raise InputError("the results file has no Input.trial_N columns: was it made from this batch's input.csv?")
    rejected_rows = rejected_assignments(results)
    rows = []
    for index, row in results.iterrows():
        rejected = bool(rejected_rows[index])
        for slot in slots:
            trial_id = str(row[f"Input.trial_{slot}"]).strip()
            for criterion in CRITERIA:
                choice = _choice(row, answer_field(slot, criterion.name))
                if trial_id and choice:
                    rows.append({"assignment": str(row["AssignmentId"]), "worker": str(row["WorkerId"]),
                                 "rejected": rejected, "trial_id": trial_id, "criterion": criterion.name,
                                 "choice": choice})
    return pd.DataFrame(rows, columns=["assignment", "worker", "rejected", "trial_id", "criterion", "choice"])


def catch_accuracy(judgments: pd.DataFrame) -> pd.Series:
    """Per worker, the fraction of their catch answers (obvious criteria only) choosing the clean video.

    ``judgments`` must carry the manifest's ``is_catch`` and ``correct_side`` columns.
    """
    catch = judgments[judgments.is_catch & judgments.criterion.isin(CATCH_CRITERIA)]
    return (catch.choice == catch.correct_side).groupby(catch.worker).mean()


def bootstrap_workers(ours: np.ndarray, totals: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Preference rates of ``resamples`` bootstrap samples of workers → (resamples,).

    ``ours``/``totals``: per worker, judgments preferring ours / all judgments. Each sample draws as many
    workers as there are, with replacement, and pools their judgments.
    """
    draws = rng.integers(0, len(ours), size=(resamples, len(ours)))
    return ours[draws].sum(axis=1) / totals[draws].sum(axis=1)


@dataclass(frozen=True)
class Analysis:
    """The per comparison × criterion table and what was dropped on the way."""

    table: pd.DataFrame
    assignments: int
    rejected_assignments: int
    workers: int
    workers_failing_catch: list[str]
    judgments_used: int


def analyze(results: pd.DataFrame, manifest: pd.DataFrame, resamples: int = 1000, seed: int = 0,
            min_catch_accuracy: float = 1.0) -> Analysis:
    """Preference for ours per comparison and criterion, in percent, with bootstrap standard error and 95 % CI.

    Table columns: comparison, criterion, percent_ours, bootstrap_mean, standard_error, ci_low, ci_high
    (all in percent), judgments, workers, items.
    """
    judgments = judgments_from_results(results)
    unknown = set(judgments.trial_id) - set(manifest.trial_id)
    if unknown:
        raise InputError(f"{len(unknown)} trials of the results are not in the manifest (e.g. "
                         f"{sorted(unknown)[0]}): give the manifest.parquet of the batch these results answer")
    columns = ["trial_id", "comparison", "item", "is_catch", "ours_side", "correct_side"]
    judgments = judgments.merge(manifest[columns], on="trial_id", how="left")
    kept = judgments[~judgments.rejected]
    accuracy = catch_accuracy(kept)
    failing = sorted(accuracy.index[accuracy < min_catch_accuracy])
    kept = kept[~kept.worker.isin(failing) & ~kept.is_catch]
    kept = kept.assign(prefers_ours=kept.choice == kept.ours_side)
    rng = np.random.default_rng(seed)
    rows = []
    for (comparison, criterion), group in kept.groupby(["comparison", "criterion"], sort=True):
        per_worker = group.groupby("worker").prefers_ours.agg(["sum", "count"])
        ours, totals = per_worker["sum"].to_numpy(float), per_worker["count"].to_numpy(float)
        rates = bootstrap_workers(ours, totals, resamples, rng)
        rows.append({"comparison": comparison, "criterion": criterion,
                     "percent_ours": 100.0 * ours.sum() / totals.sum(),
                     "bootstrap_mean": 100.0 * rates.mean(), "standard_error": 100.0 * rates.std(ddof=1),
                     "ci_low": 100.0 * np.percentile(rates, 2.5), "ci_high": 100.0 * np.percentile(rates, 97.5),
                     "judgments": int(totals.sum()), "workers": len(per_worker), "items": group.item.nunique()})
    table = pd.DataFrame(rows, columns=["comparison", "criterion", "percent_ours", "bootstrap_mean",
                                        "standard_error", "ci_low", "ci_high", "judgments", "workers", "items"])
    return Analysis(table, len(results), int(rejected_assignments(results).sum()), int(results.WorkerId.nunique()),
                    failing, len(kept))
