"""Torch training utilities shared by the learned compressors (imported lazily: needs torch)."""
