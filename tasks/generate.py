"""From twins and their mask to a cinemagraph: the ``flow`` and ``video`` steps, and one prompt end to end.

Per item (one prompt), after ``twins`` (``data/twins/<id>/``) and ``mask`` (``data/mask/<id>/``):
- flow → ``flow.npy`` (float32 (2, H, W), pixels per frame), ``flow.png`` (its picture) and ``motion.json``
  (which source moved each part of the mask: G_flow, the prompt's direction phrase, or the class's default);
- video → ``cinemagraph.<format>`` for every format asked (mp4, gif, webm, npz), with
  ``cinemagraph_flow.png`` and ``cinemagraph_meta.json`` beside it. Frame 0 and frame N are the artistic
  image; outside the mask every frame equals it.

:func:`generate` runs rewrite → twins → mask → flow → video for one prompt in this process (the command
``cinemagraph generate``) and writes ``index.html`` showing every intermediate result.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from stages.errors import InputError
from stages.images import image_size, load_mask, load_rgb, save_png
from stages.motion.flowfield import flow_to_rgb
from stages.motion.render import make_renderer, render_frames, write_cinemagraph
from stages.motion.sources import part_flow
from stages.options import options_from
from stages.video import VIDEO_SUFFIXES, write_video
from tasks.batch import Item, ItemStep
from tasks.checkpoints import checkpoint_inputs, flow_predictor, frame_model

VIDEO_STEM = "cinemagraph"


@dataclass(frozen=True)
class FlowOptions:
    """The ``flow`` section: how the mask's parts move."""

    speed: float = 1.0
    """pixels per frame of a part moving at its class's full speed (lakes and skies move slower)."""
    flow_model: str | None = None
    """a G_flow checkpoint folder (e.g. data/models/g_flow) predicting the flow from the realistic twin and
    the prompt; null: the prompt's direction phrase, else each part's class default."""
    max_flow: float = 1.0
    """clamp of G_flow's flow, pixels per frame, before ``speed`` (the paper: 1)."""
    device: str = "cpu"
    """torch device of G_flow."""


@dataclass(frozen=True)
class VideoOptions:
    """The ``video`` section: how the loop is rendered and written."""

    frames: int = 120
    """frames per loop (the paper: 120 for artistic prompts)."""
    fps: float = 30
    """frames per second."""
    formats: tuple[str, ...] = field(default=("mp4",))
    """any of mp4, gif, webm, npz (lossless)."""
    feather_px: float = 3.0
    """width of the feathered edge between moving and static pixels."""
    frame_model: str | None = None
    """a G_frame checkpoint folder rendering the frames; null: the motion engine."""
    device: str = "cpu"
    """torch device of the renderer."""


def flow_options(section: dict | None) -> FlowOptions:
    """FlowOptions from the ``flow`` section, every key checked."""
    return options_from(FlowOptions, section, "flow")


def video_options(section: dict | None) -> VideoOptions:
    """VideoOptions from the ``video`` section, every key checked (and the formats known)."""
    options = options_from(VideoOptions, section, "video")
    unknown = [name for name in options.formats if f".{name}" not in VIDEO_SUFFIXES]
    if unknown or not options.formats:
        raise InputError(f"video.formats: unknown {', '.join(unknown) or 'none given'}; formats: "
                         f"{', '.join(s.lstrip('.') for s in VIDEO_SUFFIXES)}")
    return options


def make_flow(twins_meta: dict, realistic: np.ndarray, mask_record: dict, region_ids: np.ndarray,
              options: FlowOptions) -> tuple[np.ndarray, dict]:
    """The flow of one prompt's mask (2, H, W), pixels per frame, and motion.json's record.

    twins_meta: the twins' meta.json (prompt, region, direction, seed); mask_record: mask.json (its
    ``regions``: id and class of every connected part); region_ids: int (H, W) part ids (0 = static).
    """
    regions = mask_record["regions"]
    if options.flow_model:
        predictor = flow_predictor(checkpoint_inputs("flow_model", options.flow_model)["flow_model"], options.device)
        mask = region_ids > 0
        if predictor.conditioning == "text":
            flow = predictor.predict(realistic, mask, caption=twins_meta["prompt"], speed=options.speed,
                                     max_flow=options.max_flow)
        else:
            _, records = part_flow(region_ids, regions, twins_meta.get("region"), twins_meta.get("direction"),
                                   1.0, twins_meta.get("seed", 0))
            angle = records[0]["angle_degrees"]
            flow = predictor.predict(realistic, mask, angle=angle, speed=options.speed, max_flow=options.max_flow)
        source = f"G_flow ({predictor.conditioning}-conditioned) from {options.flow_model}"
        parts = [{"id": part["id"], "class": part["class"], "source": source} for part in regions]
        return flow, {"source": source, "parts": parts, "settings": asdict(options)}
    flow, parts = part_flow(region_ids, regions, twins_meta.get("region"), twins_meta.get("direction"),
                            options.speed, twins_meta.get("seed", 0))
    return flow, {"source": "per part: direction phrase or class default", "parts": parts,
                  "settings": asdict(options)}


def write_flow(out_dir: Path, flow: np.ndarray, record: dict) -> None:
    """flow.npy, flow.png and motion.json into ``out_dir``."""
    np.save(out_dir / "flow.npy", flow)
    save_png(out_dir / "flow.png", flow_to_rgb(flow))
    (out_dir / "motion.json").write_text(json.dumps(record, indent=2))


def make_video(artistic: np.ndarray, mask: np.ndarray, flow: np.ndarray, options: VideoOptions, out_dir: Path,
               meta: dict) -> dict:
    """Render the loop and write ``cinemagraph.<format>`` for every format; beside the first format a browser
    plays (mp4, webm, gif; else npz) the flow picture and meta.json → that meta."""
    model = None
    if options.frame_model:
        model = frame_model(checkpoint_inputs("frame_model", options.frame_model)["frame_model"], options.device)
    renderer, rendering = make_renderer(artistic, mask, flow, options.frames, options.feather_px, options.device,
                                        model)
    frames = render_frames(renderer)
    shown = next((name for name in options.formats if name != "npz"), options.formats[0])
    for name in options.formats:
        if name != shown:
            write_video(out_dir / f"{VIDEO_STEM}.{name}", frames, fps=options.fps)
    return write_cinemagraph(out_dir / f"{VIDEO_STEM}.{shown}", frames, flow, options.fps,
                             {**meta, **rendering, "videos": [f"{VIDEO_STEM}.{name}" for name in options.formats]})


# --- batch steps ---------------------------------------------------------------------------------------


def flow_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The flow of one prompt from its twins and mask."""
    options = flow_options(params)
    twins_meta = json.loads(item.inputs["twins_meta"].read_text())
    mask_record = json.loads(item.inputs["mask_record"].read_text())
    region_ids = load_rgb(item.inputs["mask_regions"])[..., 0].astype(np.int32)
    realistic = load_rgb(item.inputs["realistic"])
    flow, record = make_flow(twins_meta, realistic, mask_record, region_ids, options)
    write_flow(out_dir, flow, record)
    return {"source": record["source"], "parts": len(record["parts"]),
            "mean_speed": round(float(np.hypot(*flow)[region_ids > 0].mean()), 4)}


def video_item(item: Item, params: dict, out_dir: Path) -> dict:
    """The cinemagraph of one prompt from its artistic image, mask and flow."""
    options = video_options(params)
    artistic = load_rgb(item.inputs["artistic"])
    mask = load_mask(item.inputs["mask"], artistic.shape[:2])
    flow = np.load(item.inputs["flow"], allow_pickle=False)
    motion = json.loads(item.inputs["motion"].read_text())
    written = make_video(artistic, mask, flow, options, out_dir,
                         {"id": item.id, "motion": motion["source"], "parts": motion["parts"]})
    return {"video": written["video"], "renderer": written["renderer"], "frames": written["frames"]}


def without(model_key: str) -> Callable[[dict], bool]:
    """A step's ``light`` rule: light unless its section names a network under ``model_key``."""
    return lambda section: (section or {}).get(model_key) is None


FLOW = ItemStep("flow", flow_item, holds_models=True, light=without("flow_model"))  # G_flow, when configured
VIDEO = ItemStep("video", video_item, holds_models=True, light=without("frame_model"))  # G_frame, when configured


def gallery_card(item_id: str, folder_of: dict[str, str], video: str, caption: str) -> str:
    """One HTML figure: artistic, realistic, clusters, mask overlay, flow picture and the looping video.

    ``folder_of`` maps each picture's file name to the folder (relative URL) that holds it.
    """
    pictures = [("artistic.png", "artistic"), ("realistic.png", "realistic twin"), ("clusters.png", "clusters of Ā"),
                ("mask_overlay.png", "mask"), ("flow.png", "flow")]
    cells = "".join(f'<figure><img src="{html.escape(folder_of[name])}/{name}" alt="{label}">'
                    f"<figcaption>{label}</figcaption></figure>" for name, label in pictures if name in folder_of)
    return (f'<section><h2>{html.escape(item_id)}</h2><p>{html.escape(caption)}</p>{cells}'
            f'<figure><video src="{html.escape(video)}" autoplay loop muted playsinline></video>'
            "<figcaption>cinemagraph</figcaption></figure></section>")


GALLERY_STYLE = ("body{font-family:sans-serif}section{margin:12px 0}figure{display:inline-block;margin:4px;"
                 "vertical-align:top}img,video{height:160px}h2{font-size:1em;margin:4px}")


# --- one prompt in this process -----------------------------------------------------------------------


def generate(prompt: str, out_dir: Path, params: dict, region: str | None = None, direction: str | None = None,
             seed: int | None = None, image: Path | None = None, mask: Path | None = None) -> dict:
    """Rewrite → twins → mask → flow → video for one prompt, every file in ``out_dir`` → the meta written.

    ``image``: animate this picture instead of generating one (:func:`picture_twins`); ``mask``: a PNG (white =
    moves) instead of clustering and segmentation. ``params``: the parsed params (sections rewrite, models,
    twins, attention, inversion, mask, flow, video; missing ones = defaults).
    """
    from stages.text.prompts import rewrite_prompt
    from tasks.masks import make_mask
    from tasks.rewrite import rewrite_options
    from tasks.twins import make_twins

    out_dir.mkdir(parents=True, exist_ok=True)
    rewrite = rewrite_prompt(prompt, region, direction, rewrite_options(params.get("rewrite") or {}))
    seed = int((params.get("twins") or {}).get("seed", 0)) if seed is None else seed
    if image is None:
        _, twins_meta = make_twins(rewrite, seed, params, out_dir)
    else:
        twins_meta = picture_twins(image, rewrite, seed, params, out_dir)
    artistic = load_rgb(out_dir / "artistic.png")
    if mask is None:
        mask_record = make_mask(out_dir / "attention.npy", out_dir / "realistic.png", rewrite.region,
                                params.get("mask") or {}, out_dir / "mask.png", out_dir / "artistic.png",
                                tuple(twins_meta["attention_grid"]))
    else:
        mask_record = given_mask(mask, artistic, rewrite.region, out_dir, image_size(image) if image else None)
    region_ids = load_rgb(out_dir / "mask_regions.png")[..., 0].astype(np.int32)
    flow, motion = make_flow(twins_meta, load_rgb(out_dir / "realistic.png"), mask_record, region_ids,
                             flow_options(params.get("flow")))
    write_flow(out_dir, flow, motion)
    meta = {"prompt": prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
            "direction": rewrite.direction, "seed": seed, "image": image.name if image else None,
            "twin_source": twins_meta.get("twin_source", "generated"), "inversion": twins_meta.get("inversion"),
            "model": twins_meta.get("model"), "mask": {k: mask_record.get(k) for k in ("segmenter", "method",
                                                                                      "n_clusters", "regions")},
            "motion": motion, "settings": {name: params.get(name) for name in ("mask", "flow", "video")}}
    written = make_video(artistic, region_ids > 0, flow, video_options(params.get("video")), out_dir, meta)
    write_page(out_dir, prompt, written)
    return written


def picture_twins(image: Path, rewrite, seed: int, params: dict, out_dir: Path) -> dict:
    """The twins of a user's picture → the twins' meta (``twin_source`` says which): on a diffusion profile
    its DDIM inversion (tasks.twins.make_inverted_twins); on ``procedural`` the picture is its own twin."""
    from stages.diffusion.models import PROCEDURAL_PROFILE
    from tasks.twins import make_inverted_twins, model_options

    picture = load_rgb(image)
    if picture.shape[0] < 32 or picture.shape[1] < 32:
        raise InputError(f"{image} is {picture.shape[1]}x{picture.shape[0]}: give a picture of at least 32x32")
    if model_options(params).profile == PROCEDURAL_PROFILE:
        return own_twin(picture, rewrite, seed, out_dir)
    return make_inverted_twins(picture, image.name, rewrite, seed, params, out_dir)


def own_twin(picture: np.ndarray, rewrite, seed: int, out_dir: Path) -> dict:
    """A user's picture (uint8 (H, W, 3)) as its own twin: artistic.png = realistic.png = the picture (cropped
    to multiples of 16 pixels), Ā from its own colour and texture features → the twins' meta."""
    from stages.diffusion.procedural import self_attention

    height, width = (picture.shape[0] // 16) * 16, (picture.shape[1] // 16) * 16
    picture = np.ascontiguousarray(picture[:height, :width])
    save_png(out_dir / "artistic.png", picture)
    save_png(out_dir / "realistic.png", picture)
    attention = self_attention(picture)
    np.save(out_dir / "attention.npy", attention)
    meta = {"prompt": rewrite.prompt, "twin_prompt": rewrite.twin_prompt, "region": rewrite.region,
            "direction": rewrite.direction, "seed": seed, "attention_grid": [height // 16, width // 16],
            "twin_source": "own-picture",
            "model": {"profile": "the picture is its own twin (Ā from its own features)"}}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def given_mask(path: Path, artistic: np.ndarray, region: str, out_dir: Path,
               picture_shape: tuple[int, int] | None = None) -> dict:
    """A user's mask as the region mask: every connected part gets the prompt's region as its class.

    ``picture_shape``: the (H, W) of the user's picture the mask was drawn on, when it was cropped to the
    artistic image (its top-left part)."""
    import cv2

    from stages.masks.pictures import overlay

    if not Path(path).is_file():
        raise InputError(f"mask not found: {path}")
    mask = load_mask(path, picture_shape or artistic.shape[:2])[: artistic.shape[0], : artistic.shape[1]]
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count > 256:
        raise InputError(f"{path} has {count - 1} separate white parts; at most 255 are supported")
    save_png(out_dir / "mask.png", mask)
    save_png(out_dir / "mask_regions.png", labels.astype(np.uint8))
    save_png(out_dir / "mask_overlay.png", overlay(artistic, mask))
    record = {"segmenter": f"given mask {Path(path).name}", "regions": [
        {"id": label, "class": region, "pixels": int((labels == label).sum())} for label in range(1, count)]}
    (out_dir / "mask.json").write_text(json.dumps(record, indent=2))
    return record


def write_page(out_dir: Path, prompt: str, meta: dict) -> None:
    """``out_dir/index.html``: artistic, realistic, clusters, mask overlay, flow picture and the loop."""
    present = {name: "." for name in ("artistic.png", "realistic.png", "clusters.png", "mask_overlay.png", "flow.png")
               if (out_dir / name).is_file()}
    page = (f"<!doctype html><meta charset=utf-8><title>{html.escape(prompt)}</title><style>{GALLERY_STYLE}</style>"
            + gallery_card(meta["video"].rsplit(".", 1)[0], present, meta["video"], prompt))
    (out_dir / "index.html").write_text(page)


# --- scores against the procedural world's truth --------------------------------------------------------


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def truth_scores(twins: Path, masks: Path, flows: Path) -> dict | None:
    """How one prompt's mask and motion compare with the exact truth of a procedural pair (None when the
    twins hold no truth): IoU of the final mask and of the segmentation alone with the artistic image's
    moving regions; for a named direction, whether the mean flow of the parts it names lies inside the
    direction's angle range widened by 10° on each side."""
    from stages.text.directions import angle_difference, parse_direction, vector_to_angle

    meta = json.loads((twins / "meta.json").read_text())
    if "truth" not in meta or not (masks / "mask.png").is_file():
        return None
    truth = load_mask(twins / meta["truth"]["mask"])
    scores = {"mask_iou": iou(load_mask(masks / "mask.png", truth.shape), truth),
              "segmentation_iou": iou(load_mask(masks / "segmentation_mask.png", truth.shape), truth)}
    motion_path = flows / "motion.json"
    if meta.get("direction") and motion_path.is_file():
        direction = parse_direction(meta["direction"])
        flow = np.load(flows / "flow.npy", allow_pickle=False)
        ids = load_rgb(masks / "mask_regions.png")[..., 0]
        named = [part["id"] for part in json.loads(motion_path.read_text())["parts"]
                 if part["source"].startswith("direction phrase")]
        if named:
            pixels = np.isin(ids, named)
            angle = vector_to_angle(float(flow[0][pixels].mean()), float(flow[1][pixels].mean()))
            half_range = ((direction.high - direction.low) % 360) / 2
            scores["direction_ok"] = angle_difference(angle, direction.center) <= half_range + 10
    return scores


def text_path_metrics(ids: list[str], data: Path, manifest) -> dict:
    """DVC metrics of a prompt run: counts, and the means of :func:`truth_scores` over the procedural pairs."""
    rows = [scores for item_id in ids
            if (scores := truth_scores(data / "twins" / item_id, data / "mask" / item_id, data / "flow" / item_id))]
    metrics = {"prompts": len(ids), "videos": int((manifest.status == "ok").sum()),
               "failed": int((manifest.status == "failed").sum()), "scored_against_truth": len(rows)}
    for key in ("mask_iou", "segmentation_iou"):
        if rows:
            metrics[key] = round(float(np.mean([row[key] for row in rows])), 4)
    directed = [row["direction_ok"] for row in rows if "direction_ok" in row]
    if directed:
        metrics["direction_within_range"] = round(float(np.mean(directed)), 4)
    return metrics
