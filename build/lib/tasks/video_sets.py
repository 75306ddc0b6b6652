"""Finding the videos of a method in a folder, with the mask, input image and prompt that go with each.

A folder may hold videos directly (``<id>.mp4``), one folder per item (``<id>/<id>.mp4``, as the animate
stage writes), or the Eulerian dataset layout (``<id>_gt.mp4`` beside ``<id>_input.png``). Videos are
``.mp4``, ``.webm``, ``.gif`` or ``.npz`` (with a ``frames`` array); hidden files are skipped. Beside a
video ``<stem>.<ext>`` the finder picks up ``<id or stem>_mask.png`` (white = moving region),
``<id or stem>_input.png``/``.jpg`` (the image the video was made from) and ``<stem>_meta.json`` (its
``prompt``, if any).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from stages.errors import InputError
from stages.video import VIDEO_SUFFIXES
from tasks.prompt_list import read_prompt_list

GROUND_TRUTH_SUFFIX = "_gt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class VideoEntry:
    """One video and what lies beside it (None where absent)."""

    id: str
    video: Path
    mask: Path | None = None
    image: Path | None = None
    prompt: str | None = None


def _is_video(path: Path) -> bool:
    """A visible file with a video suffix (an ``.npz`` only if it holds ``frames``)."""
    if path.name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
        return False
    if path.suffix.lower() == ".npz":
        try:
            with zipfile.ZipFile(path) as archive:
                return "frames.npy" in archive.namelist()
        except zipfile.BadZipFile:
            return False
    return True


def _beside(video: Path, names: list[str], suffixes: tuple[str, ...]) -> Path | None:
    """The first existing ``<name><suffix>`` beside ``video``."""
    for name in names:
        for suffix in suffixes:
            candidate = video.with_name(f"{name}{suffix}")
            if candidate.is_file():
                return candidate
    return None


def _prompt(video: Path) -> str | None:
    """The ``prompt`` of ``<stem>_meta.json`` beside the video, if there is one."""
    meta = video.with_name(f"{video.stem}_meta.json")
    if not meta.is_file():
        return None
    try:
        prompt = json.loads(meta.read_text()).get("prompt")
    except (json.JSONDecodeError, AttributeError):
        return None
    return str(prompt) if prompt else None


def find_videos(root: str | Path) -> dict[str, VideoEntry]:
    """Every video under ``root`` by id (the file stem without ``_gt``); two videos with one id → InputError."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"video folder not found: {root}")
    entries: dict[str, VideoEntry] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and _is_video(p)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        item = path.stem.removesuffix(GROUND_TRUTH_SUFFIX)
        if item in entries:
            raise InputError(f"two videos for item {item!r} in {root}: {entries[item].video} and {path}; "
                             "keep one video per item")
        names = [item, path.stem] if item != path.stem else [item]
        entries[item] = VideoEntry(item, path, _beside(path, [f"{n}_mask" for n in names], (".png",)),
                                   _beside(path, [f"{n}_input" for n in names], IMAGE_SUFFIXES), _prompt(path))
    if not entries:
        raise InputError(f"no videos in {root} (looked for {', '.join(VIDEO_SUFFIXES)} files)")
    return entries


def read_prompts(path: str | Path) -> dict[str, str]:
    """Prompts by item id from a JSON object ``{id: prompt}`` or a prompt list CSV (tasks.prompt_list)."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return {item.id: item.values["prompt"] for item in read_prompt_list(path)}
    if not path.is_file():
        raise InputError(f"prompts file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except ValueError as error:  # bad JSON or bad text encoding
        raise InputError(f"cannot read the prompts file {path} ({' '.join(str(error).split())[:200]}): give "
                         "a JSON object {id: prompt} or a CSV with columns id and prompt") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object {{id: prompt}}")
    return {str(k): str(v) for k, v in data.items()}
