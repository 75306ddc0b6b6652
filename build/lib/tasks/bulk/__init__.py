"""Bulk runs: a manifest of thousands of prompts through rewrite → twins → mask → flow → video, resumable and
exactly once. Free of Prefect (flows/bulk.py wraps :mod:`tasks.bulk.runner` in a flow).

- :mod:`tasks.bulk.manifest`: reading and validating a manifest (CSV, Parquet, JSON Lines) into item specs;
- :mod:`tasks.bulk.steps`: the five steps of one item, keyed as the text DAG keys them;
- :mod:`tasks.bulk.journal`: the run's rows (one per committed item), reconciliation, results.parquet;
- :mod:`tasks.bulk.lock`: one run per output folder;
- :mod:`tasks.bulk.plan`: what a start will do (to do, done, failed before), time and disk estimates;
- :mod:`tasks.bulk.runner`: the shards, the workers and the progress bar;
- :mod:`tasks.bulk.report`: report.html.
"""
