"""Mechanical Turk comparison batches on disk: exporting a batch folder and analysing its results.

A batch folder holds what launching a paired study needs, and nothing a worker sees names a method:

- ``input.csv``: one row per HIT (``hit_id``, and per slot i ``trial_i``, ``left_i``, ``right_i``, ``prompt_i``);
- ``template.html``: the HIT, with ``${column}`` placeholders for input.csv's columns;
- ``videos/<token>.mp4``: every video shown, re-encoded alike (H.264), under opaque per-appearance names;
- ``study.html``: the same HITs as a local page that runs offline and saves answers in the results format;
- ``settings.json``: CreateHIT settings (reward, 5 assignments, qualification requirements) and the layout;
- ``manifest.parquet``: private: which method is on which side, the catch trials, the seed;
- ``excluded.csv``: private, only when some video could not be read: which, and why (the rest go on).

Host ``videos/`` where workers can load it and pass that address as ``base_url`` so input.csv points there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from stages.errors import InputError
from stages.study.mturk import CATCH, CRITERIA, OURS, Analysis, Hit, StudySettings, analyze, corrupt_video, \
    manifest_frame, plan_study
from stages.study.html import encode_prompt, hit_template, study_page
from stages.threads import available_cpus, map_in_order
from stages.video import read_video, video_fps, write_video
from tasks.video_sets import VideoEntry, find_videos, read_prompts

matplotlib.use("Agg")

VIDEO_FOLDER = "videos"
EXCLUDED = "excluded.csv"
NUMBER_HITS_APPROVED = "00000000000000000040"  # Mechanical Turk's system qualification types
PERCENT_ASSIGNMENTS_APPROVED = "000000000000000000L0"


def hit_settings(settings: StudySettings, slots: int, hits: int) -> dict:
    """settings.json: keyword arguments of Mechanical Turk's CreateHIT (all but the question) and the layout."""
    requirements = [
        {"QualificationTypeId": NUMBER_HITS_APPROVED, "Comparator": "GreaterThan",
         "IntegerValues": [settings.min_approved_hits], "ActionsGuarded": "DiscoverPreviewAndAccept"},
        {"QualificationTypeId": PERCENT_ASSIGNMENTS_APPROVED, "Comparator": "GreaterThan",
         "IntegerValues": [settings.min_approval_percent], "ActionsGuarded": "DiscoverPreviewAndAccept"},
    ]
    return {
        "create_hit": {
            "Title": "Compare two short looping videos",
            "Description": f"Watch {slots} pairs of short looping videos and say which one of each pair is better.",
            "Keywords": "video, comparison, animation, rating",
            "Reward": f"{settings.reward_per_trial_usd * slots:.2f}",
            "MaxAssignments": settings.assignments,
            "AssignmentDurationInSeconds": 60 * 30,
            "LifetimeInSeconds": 60 * 60 * 24 * 7,
            "AutoApprovalDelayInSeconds": 60 * 60 * 24 * 3,
            "QualificationRequirements": requirements,
        },
        "layout": {"hits": hits, "slots_per_hit": slots, **asdict(settings)},
        "files": {"input": "input.csv", "template": "template.html", "videos": f"{VIDEO_FOLDER}/",
                  "local_study": "study.html", "private_manifest": "manifest.parquet"},
    }


class VideoWriter:
    """Writes each video shown under its opaque token, decoding and encoding each source only once."""

    def __init__(self, sources: dict[str, dict[str, VideoEntry]], folder: Path, work: Path):
        self.sources, self.folder, self.work = sources, folder, work
        self.encoded: dict[tuple[str, str], Path] = {}

    def encode(self, shown: list[tuple[str, str]]) -> None:
        """Re-encode every distinct (method, item) of ``shown`` once, as many at once as there are CPUs."""
        todo = sorted(set(shown) - set(self.encoded))
        start = len(self.encoded)

        def encode_one(index: int, key: tuple[str, str]) -> Path:
            entry = self.sources[key[0]][key[1]]
            return write_video(self.work / f"{start + index}.mp4", read_video(entry.video), fps=video_fps(entry.video))

        self.encoded.update(zip(todo, map_in_order(encode_one, enumerate(todo), available_cpus())))

    def write(self, side: tuple[str, str], token: str, catch_source: tuple[str, str] | None, seed: int) -> Path:
        """Write one side of a trial as ``<token>.mp4``: a copy of its clean video (:meth:`encode` first), or
        its corruption."""
        target = self.folder / f"{token}.mp4"
        if side[0] == CATCH:
            entry = self.sources[catch_source[0]][catch_source[1]]
            write_video(target, corrupt_video(read_video(entry.video), seed), fps=video_fps(entry.video))
        else:
            shutil.copyfile(self.encoded[side], target)
        return target


def readable_videos(found: dict[str, dict[str, VideoEntry]]) -> tuple[dict[str, dict[str, VideoEntry]], list[dict]]:
    """The videos whose first frame decodes, per method and item, and a record of each one that does not
    (as many decoded at once as there are CPUs)."""
    def first_frame_error(method: str, item: str) -> str | None:
        try:
            read_video(found[method][item].video, max_frames=1)
        except InputError as error:
            return str(error)
        return None

    keys = [(method, item) for method, entries in found.items() for item in entries]
    errors = dict(zip(keys, map_in_order(first_frame_error, keys, available_cpus())))
    readable = {method: {item: entry for item, entry in entries.items() if errors[method, item] is None}
                for method, entries in found.items()}
    excluded = [{"method": method, "item": item, "video": str(found[method][item].video), "error": error}
                for (method, item), error in errors.items() if error is not None]
    return readable, excluded


def _rows(hits: list[Hit], video_url: str) -> list[dict[str, str]]:
    """input.csv rows: videos addressed as ``video_url + <token>.mp4``."""
    rows = []
    for hit in hits:
        row = {"hit_id": hit.hit_id}
        for trial in hit.trials:
            row.update({f"trial_{trial.slot}": trial.trial_id,
                        f"left_{trial.slot}": f"{video_url}{trial.left_token}.mp4",
                        f"right_{trial.slot}": f"{video_url}{trial.right_token}.mp4",
                        f"prompt_{trial.slot}": encode_prompt(trial.prompt)})
        rows.append(row)
    return rows


def export_batch(ours: str | Path, baselines: dict[str, str | Path], out_dir: str | Path,
                 settings: StudySettings = StudySettings(), prompts_file: str | Path | None = None,
                 base_url: str = "") -> pd.DataFrame:
    """Write a batch folder (see the module docstring) comparing ``ours`` with each baseline → the manifest.

    Videos are paired by item id; prompts come from ``<stem>_meta.json`` beside our videos and, overriding
    them, from ``prompts_file``. ``base_url``: where ``videos/`` will be served (default: relative paths).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file: give a new folder for the batch")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"{out_dir} is not empty: give a new folder for the batch")
    found = {OURS: find_videos(ours), **{name: find_videos(folder) for name, folder in baselines.items()}}
    sources, excluded = readable_videos(found)
    prompts = {item: entry.prompt for item, entry in sources[OURS].items() if entry.prompt}
    if prompts_file:
        prompts.update(read_prompts(prompts_file))
    hits = plan_study(sources[OURS], {name: sources[name] for name in baselines}, settings, prompts)
    manifest = manifest_frame(hits, settings)
    for side, other in (("left", "right"), ("right", "left")):  # a corrupted video's source is its clean twin
        methods = manifest[f"{side}_method"].where(manifest[f"{side}_method"] != CATCH, manifest[f"{other}_method"])
        manifest[f"{side}_source"] = [str(sources[m][i].video) for m, i in zip(methods, manifest["item"])]
    slots = settings.pairs_per_hit + settings.catch_per_hit
    url = base_url.rstrip("/") + f"/{VIDEO_FOLDER}/" if base_url else f"{VIDEO_FOLDER}/"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as partial:
        staging = Path(partial) / "batch"  # written here, renamed into place once complete
        (staging / VIDEO_FOLDER).mkdir(parents=True)
        writer = VideoWriter(sources, staging / VIDEO_FOLDER, Path(partial))
        sides = []
        for hit_index, hit in enumerate(hits):
            for trial in hit.trials:
                clean = trial.right if trial.left[0] == CATCH else trial.left
                corruption_seed = settings.seed * 1_000_003 + hit_index * 97 + trial.slot
                sides += [(trial.left, trial.left_token, clean, corruption_seed),
                          (trial.right, trial.right_token, clean, corruption_seed)]
        writer.encode([side[0] for side in sides if side[0][0] != CATCH])
        for _ in map_in_order(writer.write, sides, available_cpus()):
            pass
        pd.DataFrame(_rows(hits, url)).to_csv(staging / "input.csv", index=False)
        (staging / "template.html").write_text(hit_template(slots))
        (staging / "study.html").write_text(study_page(slots, _rows(hits, f"{VIDEO_FOLDER}/")))
        (staging / "settings.json").write_text(json.dumps(hit_settings(settings, slots, len(hits)), indent=2))
        manifest.to_parquet(staging / "manifest.parquet", index=False)
        if excluded:
            pd.DataFrame(excluded).to_csv(staging / EXCLUDED, index=False)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        staging.rename(out_dir)
    return manifest


MANIFEST_COLUMNS = {"trial_id": "O", "comparison": "O", "item": "O", "is_catch": "b", "ours_side": "O",
                    "correct_side": "O"}
"""The manifest columns the analysis reads, with the numpy dtype kind each must have."""


def read_results(path: str | Path) -> pd.DataFrame:
    """A batch results CSV (Mechanical Turk's or study.html's), every cell as text; an empty file (no answers
    yet) gives an empty frame."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"results file not found: {path}")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InputError(f"cannot read the results file {path} as CSV ({reason}): give the batch results CSV "
                         "downloaded from Mechanical Turk or saved by study.html") from None


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A batch's manifest.parquet, checked for the columns the analysis reads."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"manifest not found: {path} (it is the manifest.parquet of the exported batch)")
    try:
        manifest = pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pyarrow's errors for a damaged file derive from these
        reason = " ".join(str(error).split())[:200]
        raise InputError(f"cannot read the manifest {path} ({reason}): give the manifest.parquet written by "
                         "cinemagraph mturk export") from None
    wrong = sorted(name for name, kind in MANIFEST_COLUMNS.items()
                   if name not in manifest or manifest[name].dtype.kind != kind)
    if wrong:
        raise InputError(f"{path} is not a batch manifest (missing or mistyped columns: {', '.join(wrong)}): give "
                         "the manifest.parquet written by cinemagraph mturk export")
    return manifest


def plot_preferences(table: pd.DataFrame, path: Path) -> None:
    """Bar chart: percent preferring ours per comparison (groups) and criterion (bars), ± standard error."""
    import matplotlib.pyplot as plt

    comparisons = sorted(table.comparison.unique())
    criteria = [c.name for c in CRITERIA if c.name in set(table.criterion)]
    width = 0.8 / max(len(criteria), 1)
    figure, axes = plt.subplots(figsize=(max(4.0, 1.6 * len(comparisons) + 2), 3.6))
    for index, criterion in enumerate(criteria):
        rows = table[table.criterion == criterion].set_index("comparison").reindex(comparisons)
        positions = np.arange(len(comparisons)) + (index - (len(criteria) - 1) / 2) * width
        axes.bar(positions, rows.percent_ours, width, yerr=rows.standard_error, capsize=3, label=criterion)
    axes.axhline(50.0, color="gray", linestyle="--", linewidth=1)
    axes.set_xticks(np.arange(len(comparisons)), [f"ours vs {name}" for name in comparisons])
    axes.set_ylim(0, 100)
    axes.set_ylabel("% preferring ours")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


ANALYSIS_FILES = ("preferences.csv", "preferences.png", "analysis.json")


def analyze_batch(results_csv: str | Path, manifest_path: str | Path, out_dir: str | Path, resamples: int = 1000,
                  seed: int = 0, min_catch_accuracy: float = 1.0) -> Analysis | None:
    """Analyse a results file → ``preferences.csv``, ``preferences.png`` and ``analysis.json`` in ``out_dir``.

    A results file with no assignment yet (empty, or only its header row) is the normal state before any worker
    answered: nothing is written and None is returned (the manifest is still checked).
    """
    results = read_results(results_csv)
    manifest = read_manifest(manifest_path)
    if results.empty:
        return None
    analysis = analyze(results, manifest, resamples, seed, min_catch_accuracy)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis.table.to_csv(out_dir / "preferences.csv", index=False, float_format="%.4f")
    if len(analysis.table):
        plot_preferences(analysis.table, out_dir / "preferences.png")
    report = {"assignments": analysis.assignments, "rejected_assignments": analysis.rejected_assignments,
              "workers": analysis.workers, "workers_failing_catch": analysis.workers_failing_catch,
              "judgments_used": analysis.judgments_used, "resamples": resamples, "seed": seed,
              "min_catch_accuracy": min_catch_accuracy}
    (out_dir / "analysis.json").write_text(json.dumps(report, indent=2))
    return analysis
