"""Shared fixtures: small synthetic pictures, and one Prefect test server per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def smooth_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture uint8 (H, W, 3): good for optical-flow measurements."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4 + 1, width // 4 + 1, 3)).astype(np.float32)
    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return (np.clip(big, 0, 1) * 255).astype(np.uint8)


def write_picture(folder, height: int, width: int, box: tuple[slice, slice]):
    """Write ``painting.png`` (a smooth texture) and ``water.png`` (white inside ``box``) into ``folder``;
    return (folder, image, mask)."""
    from stages.images import save_png

    image = smooth_texture(height, width)
    mask = np.zeros((height, width), bool)
    mask[box] = True
    save_png(folder / "painting.png", image)
    save_png(folder / "water.png", mask)
    return folder, image, mask


@pytest.fixture
def texture() -> np.ndarray:
    return smooth_texture(96, 128)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A temporary Prefect server for the whole session (state in a temporary folder)."""
    home = tmp_path_factory.mktemp("prefect")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(home / "storage")
    import tasks.prefect_env  # noqa: F401
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module on one torch thread: tiny models gain nothing from threads, and threads waiting on each
    other are slow on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def quick_segmenter(tmp_path_factory) -> Path:
    """A synthetic segmenter trained briefly (16 scenes, 40 steps): enough for plumbing, shared by the session."""
    from flows.params import default_params
    from tasks.masks import train_segment

    root = tmp_path_factory.mktemp("segmenter")
    train_segment({**default_params()["train_segment"], "count": 16, "held_out": 2, "iterations": 40},
                  root / "segmenter", root / "segmenter.json")
    return root / "segmenter"
