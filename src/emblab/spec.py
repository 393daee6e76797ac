"""The spec grammar: parse, format and split spec strings (design.md section 4).

A spec is ``name[:key=value[,key=value...]]``, stages chained by ``|`` (``pca:dim=128,store=f32|int8``).
Values parse as int, float, ``true``/``false``, ``none`` or a string. ``faiss:`` is the one
exception: everything after the colon is a FAISS factory string, kept verbatim (``faiss:OPQ32,PQ32``).

This module knows the grammar only; :mod:`emblab.registry` maps names to classes and builds them.
It imports nothing else from emblab but the error types, so every module may use it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ._errors import InvalidParameterError

#: methods whose whole argument is one raw string (kept verbatim), and the parameter holding it
RAW_ARGUMENT_METHODS = {"faiss": "factory"}


def parse_value(text: str) -> Any:
    """Parse one spec value: int, float, true/false, none, else the string itself."""
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip()


def format_value(value: Any) -> str:
    """Inverse of :func:`parse_value` for canonical specs."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(ch in text for ch in ",|=") or text != text.strip():
        raise InvalidParameterError(f"value {text!r} cannot be written in a spec string (contains , | or =).")
    return text


def parse_stage(stage: str) -> tuple[str, dict[str, Any]]:
    """Parse ``name[:k=v,...]`` into ``(name, params)``."""
    stage = stage.strip()
    if not stage:
        raise InvalidParameterError("empty spec stage; write e.g. 'pca:dim=64' or 'pca:dim=128|int8'.")
    name, _, rest = stage.partition(":")
    name = name.strip().lower()
    if name in RAW_ARGUMENT_METHODS:
        if not rest.strip():
            raise InvalidParameterError(f"'{name}:' needs a factory string, e.g. 'faiss:OPQ32,PQ32'.")
        return name, {RAW_ARGUMENT_METHODS[name]: rest.strip()}
    params: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, val = item.partition("=")
            key = key.strip()
            if not eq or not key:
                raise InvalidParameterError(
                    f"bad spec item {item!r} in {stage!r}; write key=value pairs separated by commas."
                )
            if key in params:
                raise InvalidParameterError(f"parameter {key!r} is given twice in {stage!r}.")
            params[key] = parse_value(val)
    return name, params


def parse_spec(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse a full spec into its stages: ``[(name, params), ...]``."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError("a spec must be a non-empty string such as 'pca:dim=64'.")
    return [parse_stage(s) for s in spec.split("|")]


def format_stage(name: str, params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None,
                 *, full: bool = False) -> str:
    """Canonical text of one stage: sorted keys, values equal to ``defaults`` omitted unless ``full``.

    Examples
    --------
    >>> format_stage("pca", {"dim": 64, "store": "int8"}, {"dim": 64, "store": "f16"})
    'pca:store=int8'
    >>> format_stage("faiss", {"factory": "OPQ32,PQ32"})
    'faiss:OPQ32,PQ32'
    """
    if name in RAW_ARGUMENT_METHODS:
        return f"{name}:{params[RAW_ARGUMENT_METHODS[name]]}"
    defaults = defaults or {}
    items = [(k, v) for k, v in sorted(params.items()) if full or k not in defaults or defaults[k] != v]
    if not items:
        return name
    return name + ":" + ",".join(f"{k}={format_value(v)}" for k, v in items)


def format_spec(stages: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """Inverse of :func:`parse_spec` (every given parameter written, keys sorted)."""
    return "|".join(format_stage(name, params, full=True) for name, params in stages)


_PIECE_SEP = re.compile(r"[,\s]+")
#: a piece that continues the spec before it: ``key=value`` (possibly followed by ``|next-stage``)
_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def split_specs(text: str | Iterable[str]) -> list[str]:
    """Split a list of specs written on one line (or several such lines) into single specs.

    Specs are separated by ``;``, commas or white space (a spec never holds a space). A comma or
    space piece that is only ``key=value`` belongs to the spec before it, and after ``faiss:`` a
    piece that starts with an upper-case letter or a digit continues the factory string (FAISS
    components are upper-case; emblab method names are lower-case); ``;`` always ends a spec. So
    ``"ae,ae:alpha=0.1,epochs=5,faiss:OPQ32,PQ32;pca int8"`` gives ``["ae", "ae:alpha=0.1,epochs=5",
    "faiss:OPQ32,PQ32", "pca", "int8"]``.

    Parameters
    ----------
    text : str or iterable of str
        One string, or several (e.g. repeated ``--methods`` options), each split the same way.

    Returns
    -------
    list of str
        The specs, stripped, in order; empty pieces dropped.
    """
    if not isinstance(text, str):
        return [s for part in text for s in split_specs(part)]
    out: list[str] = []
    for chunk in text.split(";"):
        start = len(out)
        for piece in _PIECE_SEP.split(chunk):
            if not piece:
                continue
            last_stage = out[-1].rsplit("|", 1)[-1] if len(out) > start else ""
            in_factory = last_stage.split(":", 1)[0].strip().lower() in RAW_ARGUMENT_METHODS
            attaches = (bool(_KEY_VALUE.match(piece)) if not in_factory
                        else (piece[0].isupper() or piece[0].isdigit()))
            if attaches and len(out) > start:
                out[-1] += "," + piece
            else:
                out.append(piece)
    return out
