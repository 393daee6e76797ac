"""Method registry and spec strings (design.md section 4).

Grammar::

    spec   := stage ("|" stage)*
    stage  := name [":" key "=" value ("," key "=" value)*]
    value  := int | float | true | false | none | string

``faiss:`` is the exception: everything after the colon is a FAISS factory string, kept verbatim
(``faiss:OPQ32,PQ32``). ``to_spec`` sorts keys and omits defaults, so
``parse_spec(c.to_spec())`` rebuilds an object with equal ``get_params()``.

``to_spec(c, full=True)`` is the *full* canonical form: every parameter with its value, defaults
included (``pca:dim=64,store=int8,whiten=false``). It round-trips the same way and, unlike the
short form, does not change meaning when a default changes, so tables, log lines and results
records use it; :func:`resolve_spec` gives it for a spec string without fitting anything.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from typing import Any, Callable, TypeVar

from ._errors import InvalidParameterError, UnknownMethodError

_REGISTRY: dict[str, type] = {}
_LOADED = False
T = TypeVar("T", bound=type)

#: methods whose whole argument is one raw string (kept verbatim)
RAW_ARGUMENT_METHODS = {"faiss": "factory"}

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def register(name: str) -> Callable[[T], T]:
    """Class decorator registering a compressor under ``name``; duplicates fail at import."""
    if not _NAME_RE.match(name):
        raise InvalidParameterError(f"method name {name!r} must match {_NAME_RE.pattern}.")

    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            existing = _REGISTRY[name]
            if (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
                raise InvalidParameterError(
                    f"method {name!r} is already registered by {existing.__module__}.{existing.__qualname__}."
                )
        cls.method = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _ensure_loaded() -> None:
    """Import every module in ``emblab.compressors`` (they import heavy deps lazily)."""
    global _LOADED
    if _LOADED:
        return
    from . import compressors

    for mod in sorted(pkgutil.iter_modules(compressors.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{compressors.__name__}.{mod.name}")
    _LOADED = True


def list_methods() -> list[str]:
    """Names of all registered methods, sorted."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_method(name: str) -> type:
    """Class registered under ``name``; unknown names suggest near misses."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownMethodError(
            f"{name!r} is not a registered method.{hint} See `emblab list methods`."
        ) from None


# --- parsing -----------------------------------------------------------------------------------

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


def build_stage(name: str, params: dict[str, Any]):
    """Instantiate one registered method with ``params``, checking keys and types."""
    cls = get_method(name)
    valid = cls._get_param_names()
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise InvalidParameterError(
            f"{unknown[0]!r} is not a parameter of {name!r}; valid keys: {', '.join(valid) or '(none)'}."
        )
    obj = cls(**params)
    obj._validate_params()
    return obj


def build(spec: str):
    """Build an unfitted compressor (or :class:`~emblab.pipeline.Pipeline`) from a spec string.

    Examples
    --------
    >>> build("pca:dim=64,store=f16")           # doctest: +SKIP
    >>> build("pca:dim=128,store=f32|int8")     # doctest: +SKIP
    """
    stages = [build_stage(n, p) for n, p in parse_spec(spec)]
    if len(stages) == 1:
        return stages[0]
    from .pipeline import Pipeline

    return Pipeline(stages)


def to_spec(obj: Any, full: bool = False) -> str:
    """Canonical spec of a compressor: sorted keys; default values omitted unless ``full``.

    Parameters
    ----------
    obj : compressor or Pipeline
    full : bool
        Write every parameter, defaults included (the form for tables and results records).

    Examples
    --------
    >>> to_spec(build("pca:store=int8"))
    'pca:store=int8'
    >>> to_spec(build("pca:store=int8"), full=True)
    'pca:dim=64,store=int8,whiten=false'
    """
    if hasattr(obj, "stages") and type(obj).__name__ == "Pipeline":
        return "|".join(to_spec(s, full) for s in obj.stages)
    name = obj.method
    params = obj.get_params()
    if name in RAW_ARGUMENT_METHODS:
        return f"{name}:{params[RAW_ARGUMENT_METHODS[name]]}"
    defaults = obj._param_defaults()
    items = [(k, v) for k, v in sorted(params.items()) if full or k not in defaults or defaults[k] != v]
    if not items:
        return name
    return name + ":" + ",".join(f"{k}={format_value(v)}" for k, v in items)


def resolve_spec(spec: str) -> str:
    """Full canonical form of a spec string (every parameter, sorted; nothing is fitted).

    Two specs that build the same compressor resolve to the same string, e.g. ``pca:dim=64`` and
    ``pca``; names that are not registered methods (``float32``, ``float16`` references) must be
    registered too, so unknown names raise :class:`UnknownMethodError`.

    Examples
    --------
    >>> resolve_spec("pca:dim=128,store=f32|int8")
    'pca:dim=128,store=f32,whiten=false|int8:calib=minmax'
    """
    return to_spec(build(spec), full=True)
