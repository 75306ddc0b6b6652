"""Prefect flows of the training stages: ``cinemagraph pipeline train_flow`` / ``train_frame``."""

from __future__ import annotations

import tasks.prefect_env  # noqa: F401  (Prefect settings before Prefect is imported)

import pandas as pd
from prefect import flow

from tasks.batch import stage_record
from tasks.train import train_flow_ablations, train_flow_network, train_frame_network


@flow(name="train_flow")
def train_flow_stage(params: dict, out_dir: str, metrics_path: str, losses_path: str,
                     validation_path: str) -> pd.DataFrame:
    """Train G_flow on ``params.train_flow.data``; writes the checkpoint, metrics and loss curves."""
    return stage_record("g_flow", train_flow_network(params, out_dir, metrics_path, (losses_path, validation_path)))


@flow(name="train_ablations")
def train_ablations_stage(params: dict, out_dir: str, metrics_path: str) -> pd.DataFrame:
    """Train the G_flows of the comparison (ours and its ablations, equally long) into ``out_dir/<method>``."""
    trained = train_flow_ablations(params, out_dir, metrics_path)
    return pd.concat([stage_record(name, metrics) for name, metrics in trained.items()], ignore_index=True)


@flow(name="train_frame")
def train_frame_stage(params: dict, out_dir: str, metrics_path: str, losses_path: str,
                      validation_path: str) -> pd.DataFrame:
    """Train G_frame on ``params.train_frame.data``; writes the checkpoint, metrics and loss curves."""
    return stage_record("g_frame", train_frame_network(params, out_dir, metrics_path, (losses_path, validation_path)))
