"""Scores: named per-client scores (AML risk) that rules add points to, each with a reason."""
