"""A folder of a user's own videos → a training set in the Eulerian layout G_flow and G_frame read.

The output folder holds one folder per clip, ``<clip>/`` with ``<clip>_input.png`` (its first frame),
``<clip>_gt.mp4``, ``<clip>_motion.pth`` (average flow, ``stages.scenes.eulerian``), ``<clip>_mask.png``,
``<clip>_flow.png`` and ``meta.json``; at the root ``captions.json``, ``splits.json`` (by video, so clips of
one video never sit on both sides), ``contact_sheet.png`` (each clip's first frame beside its flow, one
speed scale for all) and ``dataset.json`` (settings, counts, and every refused video with its reason).
Clip ids are ``<video>-<k>``, k counting the video's clips from 0; a video's id is its file name without the
suffix, characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``.

Each clip folder is written beside its place and renamed into it, and each video's outcome is recorded in
``videos/<video>.json``: a re-run skips every video already cut whose file and clip settings are unchanged,
and looks again at the rest (a refusal may have come from a limit since raised); captions, splits and the
contact sheet are rebuilt from the records each time.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from stages.errors import InputError
from stages.images import load_rgb, save_png
from stages.learned.video_clips import (VIDEO_SUFFIXES, Rejected, VideoClipOptions, check_header, clip_motion,
                                        decode_clips, read_header)
from stages.motion.flowfield import flow_to_rgb
from stages.video import write_video

CONTACT_TILES = 200
"""The contact sheet shows at most this many clips (the first by id)."""
TILE = 128
"""Height of a contact-sheet tile, pixels."""


def find_videos(folder: str | Path) -> list[Path]:
    """The video files directly in ``folder`` (by suffix, any case), sorted by name; InputError when none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"video folder not found: {folder}")
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                    and not p.name.startswith("."))
    if not videos:
        raise InputError(f"no videos in {folder}: put {', '.join(VIDEO_SUFFIXES[:6])}… files directly in it")
    return videos


def video_id(path: Path) -> str:
    """The id of a video file: its name without the suffix, unsafe characters replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", path.stem).lstrip(".") or "video"


def caption_from_name(identifier: str) -> str:
    """A caption from a file name: ``river-flowing_left_03`` → ``river flowing left``."""
    words = [word for word in re.split(r"[\s._-]+", identifier) if word and not word.isdigit()]
    return " ".join(words)


def read_caption_csv(path: str | Path) -> dict[str, str]:
    """Captions from a CSV of rows ``id,caption`` (an ``id,caption`` header is optional; the id may be the file
    name or its stem) → {video id: caption}; InputError naming the first malformed row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"captions file not found: {path}")
    captions = {}
    with path.open(newline="", encoding="utf-8-sig") as stream:
        for number, row in enumerate(csv.reader(stream), start=1):
            if not row or (number == 1 and [cell.strip().lower() for cell in row] == ["id", "caption"]):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise InputError(f"{path} line {number}: expected two columns id,caption (quote a caption that "
                                 "holds commas)")
            captions[video_id(Path(row[0].strip()))] = " ".join(row[1].split())
    return captions


def split_of(identifier: str, validation: float) -> str:
    """``validation`` or ``train`` for a video id, from a hash of the id (stable as videos come and go)."""
    bucket = int.from_bytes(hashlib.sha256(identifier.encode()).digest()[:8], "big") / 2**64
    return "validation" if bucket < validation else "train"


def assign_splits(identifiers: list[str], validation: float) -> dict[str, str]:
    """{video id: split}; with two videos or more and ``validation`` > 0, at least one on each side."""
    splits = {identifier: split_of(identifier, validation) for identifier in identifiers}
    if len(identifiers) >= 2 and validation > 0:
        ranked = sorted(identifiers, key=lambda i: hashlib.sha256(i.encode()).digest())
        if "validation" not in splits.values():
            splits[ranked[0]] = "validation"
        if "train" not in splits.values():
            splits[ranked[-1]] = "train"
    return splits


def settings_of(options: VideoClipOptions) -> dict:
    """The clip settings a video's record is valid for."""
    return dataclasses.asdict(options)


def source_of(path: Path) -> dict:
    """The identity of a video file: name, size in bytes and modification time (ns)."""
    status = path.stat()
    return {"file": path.name, "bytes": status.st_size, "mtime_ns": status.st_mtime_ns}


def already_cut(record: dict | None, path: Path, options: VideoClipOptions) -> bool:
    """Whether a video's ``record`` says it was cut into clips from this very file with these settings."""
    wanted = {**source_of(path), "settings": settings_of(options)}
    return bool(record) and record["status"] == "ok" and {key: record.get(key) for key in wanted} == wanted


def write_clip(out_dir: Path, clip_id: str, clip: np.ndarray, flow: np.ndarray, mask: np.ndarray,
               meta: dict, crf: int) -> None:
    """Write one clip's folder (``clip`` uint8 (N, H, W, 3), ``flow`` (2, H, W) px/frame, ``mask`` bool (H, W))
    beside its place, then rename it into place (an older one is replaced)."""
    from stages.scenes.eulerian import write_motion  # torch: imported once a clip is written

    work = Path(tempfile.mkdtemp(prefix=f".{clip_id}.", dir=out_dir))
    try:
        save_png(work / f"{clip_id}_input.png", clip[0])
        save_png(work / f"{clip_id}_mask.png", mask)
        save_png(work / f"{clip_id}_flow.png", flow_to_rgb(flow))
        write_motion(work / f"{clip_id}_motion.pth", flow)
        write_video(work / f"{clip_id}_gt.mp4", clip, quality=crf)
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        target = out_dir / clip_id
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def process_video(path: Path, identifier: str, out_dir: Path, options: VideoClipOptions) -> dict:
    """Cut, measure and write the clips of one video → its record (``status`` ok or refused, ``reason``,
    ``clips``: [{id, start, moving, mean_speed}]); a video whose every clip is static is refused."""
    record = {**source_of(path), "id": identifier, "settings": settings_of(options), "clips": []}
    static = 0
    try:
        check_header(read_header(path), options)
        for index, clip in enumerate(decode_clips(path, options)):
            flow, mask = clip_motion(clip, options)
            moving = float(mask.mean())
            if moving < options.min_moving:
                static += 1
                continue
            entry = {"id": f"{identifier}-{index}", "start": index * options.frames, "moving": round(moving, 4),
                     "mean_speed": round(float(np.hypot(*flow[:, mask]).mean()), 4)}
            write_clip(out_dir, entry["id"], clip, flow, mask, {"video": path.name, **entry}, options.crf)
            record["clips"].append(entry)
        if not record["clips"]:
            raise Rejected(f"static: less than {options.min_moving:.0%} of the picture moves faster than "
                           f"{options.mask_threshold} px/frame in {'any of its' if static > 1 else 'its'} "
                           f"{static} clip{'s' if static > 1 else ''}")
    except Rejected as refusal:
        return {**record, "status": "refused", "reason": str(refusal), "clips": []}
    return {**record, "status": "ok", "reason": None, "static_clips": static}


def write_json(path: Path, value: object) -> None:
    """Write ``value`` as JSON to ``path`` atomically (a file beside it, then renamed)."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(value, stream, indent=1)
    os.replace(name, path)


def contact_sheet(out_dir: Path, clip_ids: list[str], columns: int = 6) -> np.ndarray:
    """A picture uint8 (H, W, 3) of the clips' first frames (their ids written in) each beside its flow on one
    speed scale (the 99th percentile of the moving pixels' speeds over the shown clips), ``columns`` pairs a row."""
    from stages.scenes.eulerian import read_motion

    shown = clip_ids[:CONTACT_TILES]
    pairs = [(load_rgb(out_dir / i / f"{i}_input.png"), read_motion(out_dir / i / f"{i}_motion.pth")) for i in shown]
    speeds = np.concatenate([np.hypot(*flow).ravel() for _, flow in pairs] + [np.zeros(1)])
    scale = float(np.percentile(speeds[speeds > 0], 99)) if (speeds > 0).any() else 1.0
    tiles = []
    for clip_id, (image, flow) in zip(shown, pairs):
        width = max(1, round(image.shape[1] * TILE / image.shape[0]))
        pair = [cv2.resize(picture, (width, TILE), interpolation=cv2.INTER_AREA)
                for picture in (image, flow_to_rgb(flow, scale))]
        tile = np.concatenate(pair, axis=1)
        cv2.putText(tile, clip_id, (3, TILE - 5), cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    width = max(tile.shape[1] for tile in tiles)
    tiles = [np.pad(t, ((2, 2), (2, width - t.shape[1] + 2), (0, 0)), constant_values=255) for t in tiles]
    columns = min(columns, len(tiles))
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def build_dataset(videos_dir: str | Path, out_dir: str | Path, options: VideoClipOptions = VideoClipOptions(),
                  captions_csv: str | Path | None = None, validation: float = 0.1,
                  progress: Callable[[list], object] = iter) -> dict:
    """Turn the videos in ``videos_dir`` into a training set in ``out_dir`` → the summary written to
    ``dataset.json`` (counts per split, the refused videos with their reasons, captions taken from names).

    ``captions_csv``: rows ``id,caption``; videos it does not name are captioned from their file names.
    ``validation``: the fraction of videos held out. ``progress`` wraps the list of videos (e.g. ``tqdm``).
    InputError when no video gives a clip.
    """
    videos = find_videos(videos_dir)
    captions = read_caption_csv(captions_csv) if captions_csv else {}
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    records, seen = [], {}
    for path in progress(videos):
        identifier = video_id(path)
        if identifier in seen:
            records.append({**source_of(path), "id": identifier, "status": "refused", "clips": [],
                            "reason": f"same id as {seen[identifier]}: rename one of them"})
            continue
        seen[identifier] = path.name
        record_path = out_dir / "videos" / f"{identifier}.json"
        record = json.loads(record_path.read_text()) if record_path.is_file() else None
        if not already_cut(record, path, options):
            record = process_video(path, identifier, out_dir, options)
            write_json(record_path, record)
        records.append(record)
    return summarise(out_dir, records, captions, validation, options)


def summarise(out_dir: Path, records: list[dict], captions: dict[str, str], validation: float,
              options: VideoClipOptions) -> dict:
    """Write ``captions.json``, ``splits.json``, ``contact_sheet.png`` and ``dataset.json`` from the videos'
    records → the summary."""
    done = [record for record in records if record["status"] == "ok"]
    refused = {record["file"]: record["reason"] for record in records if record["status"] != "ok"}
    if not done:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in list(refused.items())[:3])
        raise InputError(f"no usable clip in {len(records)} video(s) ({reasons}{'; …' if len(refused) > 3 else ''})")
    video_split = assign_splits([record["id"] for record in done], validation)
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    clip_captions, named = {}, []
    for record in done:
        caption = captions.get(record["id"])
        if caption is None:
            caption = caption_from_name(record["id"]) or record["id"]
            named.append(record["id"])
        for clip in record["clips"]:
            splits[video_split[record["id"]]].append(clip["id"])
            clip_captions[clip["id"]] = caption
    write_json(out_dir / "captions.json", clip_captions)
    write_json(out_dir / "splits.json", splits)
    save_png(out_dir / "contact_sheet.png", contact_sheet(out_dir, sorted(clip_captions)))
    summary = {"videos": len(records), "clips": {name: len(ids) for name, ids in splits.items()},
               "settings": settings_of(options), "validation": validation, "captioned_from_names": named,
               "refused": refused}
    write_json(out_dir / "dataset.json", summary)
    return summary
