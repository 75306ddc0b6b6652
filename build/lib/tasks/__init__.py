"""Turning stages into cached, retryable batch steps: content-addressed store, manifests, Ray executor.

Only ``tasks.prefect_task`` imports Prefect, so Ray workers (which import the item functions) never do.
"""
