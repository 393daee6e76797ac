"""Method registry: names to classes, and building compressors from spec strings (design.md section 4).

The spec grammar itself (``name[:key=value,...]`` stages chained by ``|``, ``faiss:`` kept verbatim,
lists of specs) lives in :mod:`emblab.spec`; its parse/format functions are re-exported here for
older callers. ``to_spec`` sorts keys and omits defaults, so ``parse_spec(c.to_spec())`` rebuilds an
object with equal ``get_params()``.

``to_spec(c, full=True)`` is the *full* canonical form: every parameter with its value, defaults
included (``pca:dim=64,store=int8,whiten=false``). It round-trips the same way and, unlike the
short form, does not change meaning when a default changes, so tables, log lines and results
records use it; :func:`resolve_spec` gives it for a spec string without fitting anything.

The registry sits below every compressor and :mod:`emblab.pipeline` in the import graph: it imports
neither (compressor modules are discovered by name, the pipeline registers itself with
:func:`register_chain`), so there is no import cycle.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from typing import Any, Callable, TypeVar

from ._errors import InvalidParameterError, UnknownMethodError
from .spec import RAW_ARGUMENT_METHODS, format_value, parse_spec, parse_stage, parse_value  # noqa: F401  (public here too)

_REGISTRY: dict[str, type] = {}
_LOADED = False
T = TypeVar("T", bound=type)

#: the class that chains stages (``a|b``); :class:`emblab.pipeline.Pipeline` registers itself
_CHAIN: list[type] = []

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


def unregister(name: str) -> None:
    """Remove a registered method (for tests and plugins that register temporary methods)."""
    _REGISTRY.pop(name, None)


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
    return _CHAIN[0](stages)


def register_chain(cls: T) -> T:
    """Class decorator: ``cls(stages)`` builds multi-stage specs (``pca:dim=128|int8``).

    :class:`emblab.pipeline.Pipeline` registers itself, so the registry never imports it (the
    registry sits below every compressor and the pipeline in the import graph).
    """
    _CHAIN[:] = [cls]
    return cls


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
    return obj.to_spec(full)


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
