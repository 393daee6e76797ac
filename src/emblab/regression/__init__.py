"""Regression on (compressed) text embeddings and the intrinsic-dimension study.

Modules: :mod:`.tasks` (IMDB rating, ASAP short-answer score, StockNet next-day return),
:mod:`.regressors` (ridge, random forest, MLP + metrics), :mod:`.sweep` (resumable compressor x d x
seed sweep), :mod:`.intrinsic_dimension` (ID estimate, summaries, plot), :mod:`.study` (end to end).
Heavy dependencies (torch, scikit-learn, sentence-transformers, matplotlib) are imported lazily.
"""

from .intrinsic_dimension import intrinsic_dimension, plot_curves, summarize
from .regressors import make_regressor, metrics
from .sweep import CellStore, SweepConfig, run_sweep
from .tasks import TASKS, RegressionTask, load_task

__all__ = ["intrinsic_dimension", "plot_curves", "summarize", "make_regressor", "metrics", "CellStore",
           "SweepConfig", "run_sweep", "TASKS", "RegressionTask", "load_task"]
