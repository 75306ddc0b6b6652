"""Clustering (method §4): the rows of Ā grouped by k-means or spectral clustering, then split into the
connected parts they form on the attention grid.

Ā is float32 (h·w, h·w), row p = where grid pixel p attends (row-major over an h × w grid, h ≠ w allowed).
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.diffusion.attention import attention_grid
from stages.errors import InputError

METHODS = ("kmeans", "spectral")


def grid_for(tokens: int, image_size: tuple[int, int]) -> tuple[int, int]:
    """The (h, w) grid of ``tokens`` cells with the aspect ratio of an image of ``image_size`` (H, W) pixels."""
    height, width = image_size
    rows = int(round(np.sqrt(tokens * height / width)))
    if rows < 1 or tokens % rows or abs(rows / (tokens // rows) - height / width) > 0.5 / max(rows, 1):
        rows, cols = attention_grid(height, width)
        raise InputError(f"an attention matrix over {tokens} pixels fits no grid with the {width}x{height} "
                         f"image's aspect ratio (expected {rows * cols}x{rows * cols} for its {rows}x{cols} grid): "
                         "give the attention.npy made with this image")
    return rows, tokens // rows


def check_attention(attention: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Ā as float64 (h·w, h·w) after checking it: a finite square matrix over the h × w ``grid``."""
    attention = np.asarray(attention)
    tokens = grid[0] * grid[1]
    if attention.ndim != 2 or attention.shape[0] != attention.shape[1]:
        raise InputError(f"the attention matrix must be square (h·w, h·w), got shape {attention.shape}")
    if attention.shape[0] != tokens:
        raise InputError(f"the attention matrix is {attention.shape[0]}x{attention.shape[1]} but the "
                         f"{grid[0]}x{grid[1]} grid of the image has {tokens} pixels: give the attention.npy "
                         "made with this image")
    if not np.issubdtype(attention.dtype, np.number) or not np.isfinite(attention).all():
        raise InputError("the attention matrix holds non-finite values (NaN or infinity): regenerate it")
    return attention.astype(np.float64)


def cluster_attention(attention: np.ndarray, grid: tuple[int, int], n_clusters: int, method: str = "kmeans",
                      seed: int = 0) -> np.ndarray:
    """Cluster label of every grid pixel, int (h, w) in [0, n_clusters).

    ``method``: ``kmeans`` (the rows of Ā as points, 5 restarts) or ``spectral`` (affinity (Ā + Āᵀ) / 2,
    precomputed; the embedding is discretised (Yu & Shi) rather than k-means'd, which at 10 clusters
    otherwise merges parts of different regions of a noisy Ā). Seeded: the same inputs give the same labels.
    """
    from sklearn.cluster import KMeans, SpectralClustering

    rows = check_attention(attention, grid)
    if method not in METHODS:
        raise InputError(f"unknown clustering method {method!r}; methods: {', '.join(METHODS)}")
    if not 2 <= n_clusters <= rows.shape[0]:
        raise InputError(f"n_clusters must be between 2 and the {rows.shape[0]} grid pixels, got {n_clusters}")
    if method == "kmeans":
        labels = KMeans(n_clusters=n_clusters, n_init=5, random_state=seed).fit_predict(rows)
    else:
        affinity = np.clip((rows + rows.T) / 2.0, 0.0, None)
        labels = SpectralClustering(n_clusters=n_clusters, affinity="precomputed", assign_labels="discretize",
                                    random_state=seed).fit_predict(affinity)
    return labels.reshape(grid).astype(np.int32)


def connected_parts(labels: np.ndarray) -> np.ndarray:
    """Split every cluster of ``labels`` (int (h, w)) into its 4-connected parts → part ids int (h, w),
    numbered 0, 1, … in the order of their first pixel (row-major)."""
    parts = np.full(labels.shape, -1, np.int64)
    count = 0
    for cluster in np.unique(labels):
        found, components = cv2.connectedComponents((labels == cluster).astype(np.uint8), connectivity=4)
        inside = components > 0
        parts[inside] = components[inside] - 1 + count
        count += found - 1
    _, first, inverse = np.unique(parts.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].reshape(labels.shape).astype(np.int32)
