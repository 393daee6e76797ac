"""Lazy imports of optional heavy dependencies with one-line install hints (design.md section 7)."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MissingDependencyError

_HINTS = {
    "torch": "pip install torch==2.13.0  (the CPU build, available offline)",
    "faiss": "pip install 'emblab[faiss]'  (faiss-cpu)",
    "sentence_transformers": "pip install 'emblab[text]'",
    "sklearn": "pip install 'emblab[regression]'  (scikit-learn)",
    "matplotlib": "pip install matplotlib",
    "pyarrow": "pip install pyarrow",
    "ray": "pip install 'ray[data]'",
    "qdrant_client": "pip install qdrant-client",
    "implicit": "pip install 'emblab[recsys]'  (implicit)",
}


def require(module: str, who: str = "This feature") -> ModuleType:
    """Import ``module`` or raise a one-line :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"torch"``.
    who : str
        What needs it, used in the message (``"SparseAutoencoder"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        hint = _HINTS.get(module.split(".")[0], f"pip install {module}")
        raise MissingDependencyError(f"{who} needs {module}: {hint}") from exc


def torch_device(device: str = "auto") -> str:
    """Resolve ``device="auto"`` to ``"cuda"`` when available, else ``"cpu"``."""
    torch = require("torch", "Device selection")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from ._errors import InvalidParameterError

        raise InvalidParameterError(
            f"device={device!r} was requested but CUDA is not available; use device='auto' or 'cpu'."
        )
    return device
