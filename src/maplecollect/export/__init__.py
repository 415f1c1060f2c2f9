"""Parquet export of runs and days: typed, flattened tables (docs/downstream.md)."""
