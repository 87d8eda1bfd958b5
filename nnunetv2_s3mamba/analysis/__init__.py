"""Analyses behind docs/RESULTS.md that explain a difference between models (`s3mamba analyze ...`)."""
