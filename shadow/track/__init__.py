"""The track record: Polars jobs that join the logs and compute every number."""
