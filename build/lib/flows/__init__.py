"""Prefect flows composing the tasks into the method's DAG, and the ``cinemagraph`` command line."""
