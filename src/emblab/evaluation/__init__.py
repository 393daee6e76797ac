"""Evaluation: metrics (pure functions), tasks (small declarative classes), results JSON."""
