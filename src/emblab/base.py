"""The compressor contract and its thin base class (design.md section 3).

Every method is a :class:`BaseCompressor` subclass registered under a name
(:func:`emblab.registry.register`). Subclasses implement:

``_fit(X, X_val)``             learn state (attributes ending in ``_``)
``_encode(X) -> Codes``        X is validated float32 (n, d)
``_decode(codes) -> ndarray``  float32 (n, d)
``_bytes_per_vector() -> int`` per-item payload, computed from params and fitted shapes
``_state_tensors()`` / ``_set_state(tensors, fitted)``  fitted state for safetensors
``_fitted_meta()``             JSON facts saved as ``config["fitted"]``

Optional: ``_search(xq, codes, k, mode)`` for a native scorer (return ``NotImplemented`` to fall
back to the shared chunked decode-and-score search).
"""

from __future__ import annotations

import hashlib
import inspect
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ._errors import ArtifactError, InvalidParameterError
from ._validation import check_array, check_is_fitted, validate_params
from .codes import Codes
from .io import stable_json
from .spec import format_stage


@runtime_checkable
class Compressor(Protocol):
    """Structural type every compressor satisfies."""

    def fit(self, X: Any, *, X_val: Any = None) -> "Compressor": ...
    def encode(self, X: Any) -> Codes: ...
    def decode(self, codes: Codes) -> np.ndarray: ...
    def get_params(self, deep: bool = True) -> dict: ...
    def set_params(self, **params: Any) -> "Compressor": ...
    def save(self, path: Any) -> None: ...

    @property
    def bytes_per_vector(self) -> float: ...

    @property
    def model_bytes(self) -> int: ...


class BaseCompressor:
    """Base class: parameters, validation, fingerprints, save/load, repr.

    ``__init__`` of subclasses only stores keyword arguments unchanged (scikit-learn rule).
    """

    method: ClassVar[str] = ""
    #: parameter name -> list of allowed constraints (see ``_validation.validate_params``)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    #: search modes this method supports
    search_modes: ClassVar[tuple[str, ...]] = ("asymmetric", "symmetric")
    #: layout of the codes ``encode`` returns
    codes_layout: ClassVar[str] = "float"
    #: parameters used only after fitting (encoding/search); changing one on a fitted model needs
    #: no refit, so a benchmark fits once for specs that differ only in these
    inference_params: ClassVar[tuple[str, ...]] = ()
    #: cheap spec used by the contract suite on tiny data (e.g. "sae:h=64,k=4,epochs=2");
    #: None means the bare method name with default parameters
    test_spec: ClassVar[str | None] = None

    # --- parameters ---------------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {p.name: p.default for p in sig.parameters.values()
                if p.name != "self" and p.default is not inspect.Parameter.empty}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters as a dict (derived from the signature)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any):
        """Set constructor parameters; unknown names raise :class:`InvalidParameterError`."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise InvalidParameterError(
                    f"{key!r} is not a parameter of {type(self).__name__}; valid: {', '.join(valid)}."
                )
            setattr(self, key, value)
        # the fingerprint hashes the parameters: a fitted model whose inference-time parameters change
        # (e.g. the SAE's k or encoder) must not stamp its codes with the old one
        self._fingerprint_cache = None
        if getattr(self, "n_features_in_", None) is not None:  # fitted: fit() will not validate again
            self._validate_params()
        return self

    def _validate_params(self) -> None:
        """Check constraints; subclasses may add cross-parameter checks (call super)."""
        validate_params(self, self._parameter_constraints)

    def to_spec(self, full: bool = False) -> str:
        """Canonical spec string (sorted keys; defaults omitted unless ``full``); see :mod:`emblab.registry`."""
        return format_stage(self.method, self.get_params(), self._param_defaults(), full=full)

    def __repr__(self) -> str:
        defaults = self._param_defaults()
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.get_params().items())
                          if k not in defaults or defaults[k] != v)
        return f"{type(self).__name__}({shown})"

    # --- fit / encode / decode ------------------------------------------------------------------
    def fit(self, X: Any, *, X_val: Any = None):
        """Fit on ``X`` of shape (n, d); ``X_val`` (m, d) is used for early stopping where relevant.

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_array(X, name="X")
        if X_val is not None:
            X_val = check_array(X_val, name="X_val", n_features=X.shape[1], who="X")
        from .io import fingerprint_array

        t0 = time.perf_counter()
        self._reset_fitted()
        self._fit(X, X_val)
        self.n_features_in_ = int(X.shape[1])
        self.train_data_ = fingerprint_array(X)
        self.fit_time_s_ = time.perf_counter() - t0
        self._fingerprint_cache = None
        return self

    def _reset_fitted(self) -> None:
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("__"):
                delattr(self, name)
        self._fingerprint_cache = None

    def _check_X(self, X: Any, name: str = "X") -> np.ndarray:
        check_is_fitted(self)
        return check_array(X, name=name, n_features=self.n_features_in_, who=type(self).__name__)

    def encode(self, X: Any) -> Codes:
        """Encode ``X`` (n, d) into :class:`~emblab.codes.Codes` with one row per input."""
        X = self._check_X(X)
        codes = self._encode(X)
        codes.method = self.to_spec(full=True)
        codes.model_fingerprint = self.fingerprint
        return codes

    def decode(self, codes: Codes) -> np.ndarray:
        """Approximate reconstruction, float32 (n, n_features_in_)."""
        check_is_fitted(self)
        self.check_codes(codes)
        return np.asarray(self._decode(codes), dtype=np.float32)

    def float_codes(self, Z: np.ndarray) -> Codes:
        """Wrap float vectors (n, p) as this model's ``float`` codes (used by pipelines)."""
        return Codes({"codes": np.asarray(Z, dtype=np.float32)}, "float", self.to_spec(full=True), self.fingerprint)

    def check_codes(self, codes: Codes) -> None:
        """Raise :class:`ArtifactError` if ``codes`` were produced by a different model."""
        if not isinstance(codes, Codes):
            raise InvalidParameterError(f"expected Codes from {type(self).__name__}.encode; got {type(codes).__name__}.")
        if codes.model_fingerprint is not None and codes.model_fingerprint != self.fingerprint:
            raise ArtifactError(
                f"these codes were made by another model ({codes.method or 'unknown'}, fingerprint "
                f"{codes.model_fingerprint[:12]}) than {self.to_spec()} ({self.fingerprint[:12]}); "
                "re-encode with this model."
            )
        if codes.layout != self.codes_layout:
            raise ArtifactError(f"{self.to_spec()} expects {self.codes_layout!r} codes; got {codes.layout!r}.")

    # --- sizes ------------------------------------------------------------------------------------
    @property
    def bytes_per_vector(self) -> float:
        """Per-item payload bytes of :meth:`encode` output (baselines_and_eval.md section 1)."""
        check_is_fitted(self)
        return self._bytes_per_vector()

    @property
    def model_bytes(self) -> int:
        """Bytes of fitted state (codebooks, means, weights), reported separately."""
        check_is_fitted(self)
        return int(sum(np.asarray(t).nbytes for t in self._state_tensors().values()))

    @property
    def fingerprint(self) -> str:
        """sha256 over method, params and fitted tensors; codes record it."""
        check_is_fitted(self)
        if getattr(self, "_fingerprint_cache", None) is None:
            h = hashlib.sha256()
            # n_features_in_ is hashed so stateless methods (float32, trunc) fitted on different
            # widths do not accept each other's codes
            h.update(stable_json({"method": self.method, "params": self.get_params(),
                                 "n_features_in_": getattr(self, "n_features_in_", None)}).encode())
            for name, t in sorted(self._state_tensors().items()):
                t = np.ascontiguousarray(t)
                h.update(name.encode())
                h.update(str(t.shape).encode())
                h.update(memoryview(t).cast("B") if t.size else b"")
            self._fingerprint_cache = h.hexdigest()
        return self._fingerprint_cache

    # --- persistence --------------------------------------------------------------------------------
    def _artifact_config(self) -> dict[str, Any]:
        from .version import __version__
        from .io import utc_now

        fitted = {"n_features_in_": self.n_features_in_, **self._fitted_meta()}
        return {"method": self.method, "spec": self.to_spec(), "params": self.get_params(),
                "fitted": fitted, "emblab_version": __version__, "created_utc": utc_now(),
                "train_data": getattr(self, "train_data_", None),
                "fit_time_s": getattr(self, "fit_time_s_", None)}

    def save(self, path: str | Path) -> None:
        """Save as an artifact directory (``config.json`` + ``model.safetensors``), atomically."""
        from .io import write_artifact

        check_is_fitted(self)
        write_artifact(path, self._artifact_config(), self._state_tensors())

    @classmethod
    def load(cls, path: str | Path):
        """Load an artifact directory saved by :meth:`save` (checks format, method and shapes)."""
        from .io import read_config

        cfg = read_config(path)
        if cls.method and cfg["method"] != cls.method:
            raise ArtifactError(
                f"{path}: artifact holds method {cfg['method']!r}, not {cls.method!r}; "
                "load it with emblab.load_model()."
            )
        if not cls.method:
            from .registry import get_method

            return get_method(cfg["method"]).load(path)
        return cls._from_config(Path(path), cfg)

    @classmethod
    def _from_config(cls, path: Path, cfg: dict[str, Any]):
        from .version import __version__
        from .io import read_tensors

        params = cfg["params"]
        if not isinstance(params, dict):
            raise ArtifactError(f"{path}/config.json: 'params' must be an object; re-save the model.")
        try:
            obj = cls(**params)
        except TypeError as exc:
            raise ArtifactError(f"{path}/config.json: parameters do not match {cls.__name__} ({exc}).") from exc
        try:  # the same checks as fit: an edited config.json must not load as `pca:dim=abc`
            obj._validate_params()
        except InvalidParameterError as exc:
            raise ArtifactError(f"{path}/config.json: {str(exc).rstrip('.')}; re-fit the model or restore the "
                                "original config.json.") from exc
        tensors = read_tensors(path, cfg)
        fitted = cfg.get("fitted") or {}
        if "n_features_in_" not in fitted:
            raise ArtifactError(f"{path}/config.json: missing fitted.n_features_in_; re-save the model.")
        try:
            obj._set_state(tensors, fitted)
        except (KeyError, ValueError) as exc:
            raise ArtifactError(f"{path}: fitted state does not match {cls.__name__} ({exc}); re-save the model.") from exc
        obj.n_features_in_ = int(fitted["n_features_in_"])
        obj.train_data_ = cfg.get("train_data")
        obj.fit_time_s_ = cfg.get("fit_time_s")
        obj._fingerprint_cache = None
        saved = str(cfg.get("emblab_version", "0"))
        if _version_tuple(saved) > _version_tuple(__version__):
            warnings.warn(f"{path} was saved by emblab {saved}, newer than this {__version__}.", stacklevel=3)
        return obj

    # --- hooks for subclasses ---------------------------------------------------------------------
    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        raise NotImplementedError

    def _encode(self, X: np.ndarray) -> Codes:
        raise NotImplementedError

    def _decode(self, codes: Codes) -> np.ndarray:
        raise NotImplementedError

    def _bytes_per_vector(self) -> float:
        raise NotImplementedError

    def _state_tensors(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        pass

    def _fitted_meta(self) -> dict[str, Any]:
        return {}

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        """Native scorer hook; return (D, I) or ``NotImplemented``."""
        return NotImplemented


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)
