"""Chains of compressors (``pca:dim=128|int8``): every stage but the last must output float codes.

Saved as a directory with ``pipeline.json`` listing stage folders ``0_pca/``, ``1_int8/`` (like
sentence-transformers' ``modules.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import ArtifactError, InvalidParameterError
from ._validation import check_is_fitted
from .base import BaseCompressor
from .codes import Codes
from .io import atomic_path
from .registry import register_chain

PIPELINE_NAME = "pipeline.json"


@register_chain
class Pipeline(BaseCompressor):
    """Sequential composition of compressors.

    Parameters
    ----------
    stages : list of BaseCompressor
        ``stages[i+1]`` is fitted on the float codes of ``stages[i]``.
    """

    method = "pipeline"

    def __init__(self, stages: list[Any]):
        self.stages = stages

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"stages": [s.to_spec() for s in self.stages]}

    def to_spec(self, full: bool = False) -> str:
        """The stages' specs joined by ``|`` (``pca:dim=128,store=f32|int8``)."""
        return "|".join(s.to_spec(full) for s in self.stages)

    def _validate_params(self) -> None:
        if not self.stages:
            raise InvalidParameterError("a Pipeline needs at least one stage.")
        for s in self.stages[:-1]:
            if s.codes_layout != "float":
                raise InvalidParameterError(
                    f"stage {s.to_spec()!r} outputs {s.codes_layout} codes and cannot feed another stage; "
                    "put it last."
                )
        for s in self.stages:
            s._validate_params()

    @property
    def codes_layout(self) -> str:  # type: ignore[override]
        return self.stages[-1].codes_layout

    @property
    def search_modes(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("asymmetric", "symmetric")

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        Z, Zv = X, X_val
        for i, stage in enumerate(self.stages):
            stage.fit(Z, X_val=Zv)
            if i < len(self.stages) - 1:
                Z = stage.encode(Z).as_float()
                Zv = stage.encode(Zv).as_float() if Zv is not None else None

    def _encode(self, X: np.ndarray) -> Codes:
        Z = X
        for stage in self.stages[:-1]:
            Z = stage.encode(Z).as_float()
        return self.stages[-1].encode(Z)

    def _decode(self, codes: Codes) -> np.ndarray:
        last = self.stages[-1]
        inner = Codes(codes.arrays, codes.layout, last.to_spec(), last.fingerprint, codes.meta)
        Z = last.decode(inner)
        for stage in reversed(self.stages[:-1]):
            Z = stage.decode(stage.float_codes(Z))
        return Z

    def _bytes_per_vector(self) -> float:
        return self.stages[-1].bytes_per_vector

    def _state_tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for i, s in enumerate(self.stages):
            out.update({f"{i}.{k}": v for k, v in s._state_tensors().items()})
        return out

    def save(self, path: str | Path) -> None:
        from .version import __version__
        from .io import utc_now

        check_is_fitted(self)
        with atomic_path(path, is_dir=True, kind="model") as tmp:
            names = []
            for i, s in enumerate(self.stages):
                sub = f"{i}_{s.method}"
                s.save(tmp / sub)
                names.append({"idx": i, "path": sub, "method": s.method})
            meta = {"format_version": 1, "method": "pipeline", "spec": self.to_spec(), "stages": names,
                    "emblab_version": __version__, "created_utc": utc_now(),
                    "train_data": getattr(self, "train_data_", None)}
            (tmp / PIPELINE_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Pipeline":
        from .registry import get_method

        path = Path(path)
        pj = path / PIPELINE_NAME
        try:
            meta = json.loads(pj.read_text(encoding="utf-8"))
            stages_meta = meta["stages"]
        except FileNotFoundError as exc:
            raise ArtifactError(f"{pj}: missing; this is not a pipeline artifact.") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ArtifactError(f"{pj}: corrupt pipeline description ({exc}); re-save the model.") from exc
        if not isinstance(stages_meta, list) or not stages_meta or not all(
                isinstance(m, dict) and isinstance(m.get("method"), str) and isinstance(m.get("path"), str)
                and "/" not in m["path"] and m["path"] not in (".", "..") for m in stages_meta):
            raise ArtifactError(f"{pj}: 'stages' must list {{method, path}} entries of stage folders; "
                                "re-fit the model or restore the original.")
        try:
            methods = [get_method(m["method"]) for m in stages_meta]
        except InvalidParameterError as exc:
            raise ArtifactError(f"{pj}: {exc}") from exc
        stages = [m.load(path / meta["path"]) for m, meta in zip(methods, stages_meta)]
        obj = cls(stages)
        try:
            obj._validate_params()
        except InvalidParameterError as exc:
            raise ArtifactError(f"{pj}: {str(exc).rstrip('.')}; re-fit the model.") from exc
        obj.n_features_in_ = stages[0].n_features_in_
        obj.train_data_ = meta.get("train_data")
        obj._fingerprint_cache = None
        return obj


def load_model(path: str | Path):
    """Load any saved compressor or pipeline from its artifact directory."""
    from .io import read_config

    path = Path(path)
    if (path / PIPELINE_NAME).exists():
        return Pipeline.load(path)
    cfg = read_config(path)
    from .registry import get_method

    try:
        cls = get_method(cfg["method"])
    except InvalidParameterError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    return cls.load(path)
