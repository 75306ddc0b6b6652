"""Prefect flows composing the tasks into the method's DAG, and the ``cinemagraph`` command line."""

import tasks.prefect_env  # noqa: F401,E402  (Prefect settings before Prefect is imported)
