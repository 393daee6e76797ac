"""Named experiment settings shared by the CLI and ``benchmarks/corrector.py``.

``full`` follows the spec (section 6.1: N = 50k, 1,500 steps; section 6.2: 50k IMDB distractors).
``cpu`` is the reduced setting that fits the 2-shared-core CPU budget; every result records which
one was used, with all sizes, in ``task_info`` and ``config``.
"""

from __future__ import annotations

from typing import Any

from .._errors import InvalidParameterError

SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "synthetic": {
        "full": {"task": {"n_targets": 50_000, "splits": (40_000, 5_000, 5_000)},
                 "config": {"steps": 1500, "pre_steps": 100, "batch_size": 64, "k": 32, "lr": 1e-3}},
        "cpu": {"task": {"n_targets": 10_000, "splits": (8_000, 1_000, 1_000)},
                "config": {"steps": 500, "pre_steps": 100, "batch_size": 64, "k": 32, "lr": 1e-3, "h_every": 5}},
        "tiny": {"task": {"n_targets": 600, "n_clusters": 10, "splits": (300, 100, 100)},
                 "config": {"steps": 20, "pre_steps": 5, "batch_size": 16, "k": 4, "warmup_min": 4,
                            "refresh_every": 5, "probe_queries": 50, "replay_size": 64}},
    },
    "scifact": {
        "full": {"task": {"n_distractors": 50_000},
                 "config": {"steps": 290, "batch_size": 32, "k": 8, "lr": 1e-3, "shortlist": 100,
                            "h": "linear"}},
        "cpu": {"task": {"n_distractors": 10_000},
                "config": {"steps": 290, "batch_size": 32, "k": 8, "lr": 1e-3, "shortlist": 100,
                           "h": "linear"}},
    },
}


def build_experiment(task: str, setting: str = "cpu", **config_overrides: Any):
    """Return ``(RetrievalTask, RetrieverConfig)`` for a named task and setting.

    Parameters
    ----------
    task : {"synthetic", "scifact"}
    setting : {"full", "cpu", "tiny"}
    config_overrides : RetrieverConfig fields (None values are ignored).
    """
    from .train import RetrieverConfig

    if task not in SETTINGS:
        raise InvalidParameterError(f"--task must be one of {', '.join(SETTINGS)}; got {task!r}.")
    if setting not in SETTINGS[task]:
        raise InvalidParameterError(f"--setting for {task} must be one of {', '.join(SETTINGS[task])}; got {setting!r}.")
    spec = SETTINGS[task][setting]
    if task == "synthetic":
        from .synthetic import make_synthetic_task

        t = make_synthetic_task(**spec["task"])
    else:
        from .scifact import make_scifact_task

        t = make_scifact_task(**spec["task"])
    t.info["setting"] = setting
    cfg = {**spec["config"], **{k: v for k, v in config_overrides.items() if v is not None}}
    return t, RetrieverConfig(**cfg)
