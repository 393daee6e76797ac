"""Helpers shared by the fit/encode/search/eval/bench/demo commands (not a command itself)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..._errors import InvalidParameterError


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load_matrix(path: str, *, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectors from ``.npy`` / ``.parquet`` as (ids, float32 (n, d)); one-line errors for bad files."""
    from ...data.embeddings import load_vectors

    return load_vectors(path, dim=dim)


#: the ``--overwrite`` flag every command with an output takes
OVERWRITE_HELP = "Replace an existing emblab output of the same kind at --out (never anything else)."

_INTERRUPT = {"message": "interrupted; nothing was written."}


def on_interrupt(message: str) -> None:
    """Set the line printed if this command is interrupted (Ctrl-C): what is kept, how to resume."""
    _INTERRUPT["message"] = message


def interrupt_message() -> str:
    """The line for an interrupted command (see :func:`on_interrupt`)."""
    return _INTERRUPT["message"]


RESUME_NOTE = "interrupted; finished chunks are kept: rerun the same command to resume."


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``--set key=value`` pairs as a dict of raw strings."""
    out: dict[str, str] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise InvalidParameterError(f"--set expects key=value; got {item!r}.")
        out[key.strip()] = val.strip()
    return out


def coerce_like(value: str, template: Any, key: str) -> Any:
    """Coerce a ``--set`` string to the type of the config field it overrides."""
    try:
        if isinstance(template, bool):
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        if isinstance(template, int):
            return int(value)
        if isinstance(template, float):
            return float(value)
        if isinstance(template, list) or template is None and ("," in value or value.startswith("[")):
            if value.startswith("["):
                return json.loads(value)
            parts = [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(template, list) and template and isinstance(template[0], int):
                return [int(p) for p in parts]
            return parts
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(f"--set {key}={value!r}: expected {type(template).__name__}.") from exc
    if template is None and value.lower() in ("none", "null"):
        return None
    if template is None:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def parse_int_list(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidParameterError(f"{name} must be comma-separated integers, e.g. 32,64,128; got {text!r}.") from exc
    if not vals or any(v < 1 for v in vals):
        raise InvalidParameterError(f"{name} must list positive integers; got {text!r}.")
    return vals
