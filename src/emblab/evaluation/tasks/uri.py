"""Task URIs for users' own data: ``beir:DIR``, ``knn:PATH``, ``sts:PATH``, ``recsys:DIR`` (design.md section 9).

A task URI is ``SCHEME:PATH``. It is accepted wherever a task name is: ``emblab eval --task``,
``emblab bench --task``, ``emblab export --task`` and :func:`emblab.evaluation.tasks.get_task`.
Options come as keyword arguments (``get_task("beir:./data", split="dev")``) or from the command
line as ``--set split=dev``; values given as strings are coerced to the option's type, unknown
options and bad values are one-line :class:`~emblab.InvalidParameterError`.

Adding a scheme
---------------
A scheme is a factory ``f(path: str, **options) -> Task`` plus a declaration of its options,
registered with :func:`register_scheme` in its own module (``beir_dir``, ``knn_path``,
``sts_path``, ``recsys_dir`` are the examples), which ``evaluation/tasks/__init__.py`` imports.
Every command that takes a task then takes ``scheme:PATH``; ``emblab list tasks`` shows the
scheme with its options. Validate the data inside the factory's loader with one-line
:class:`~emblab.DataError` messages that name the file and say what to do.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ..._errors import InvalidParameterError

__all__ = ["TaskOption", "TaskScheme", "register_scheme", "list_schemes", "get_scheme", "is_task_uri",
           "task_from_uri", "split_uri"]

_SCHEME_RE = re.compile(r"^([a-z][a-z0-9_]*):(.*)$", re.S)


@dataclass(frozen=True)
class TaskOption:
    """One ``--set key=value`` option of a task scheme.

    Attributes
    ----------
    name : str
    type : type
        ``str``, ``int``, ``float`` or ``bool``; string values are coerced to it.
    default : Any
        Passed to the factory when the option is not given (None = not set).
    help : str
        One line for ``emblab list tasks`` and error messages.
    choices : tuple
        Allowed values, if restricted.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple = ()

    def coerce(self, value: Any, scheme: str) -> Any:
        """The value in the option's type, or a one-line error naming the option."""
        where = f"task option {self.name!r} of {scheme}:"
        if isinstance(value, str) and self.type is not str:
            text = value.strip()
            try:
                if self.type is bool:
                    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(text)
                    value = text.lower() in ("true", "1", "yes")
                elif text.lower() in ("none", "null", "") and self.default is None:
                    value = None
                else:
                    value = self.type(text)
            except ValueError:
                raise InvalidParameterError(f"{where} expected {self.type.__name__}; got {value!r}.") from None
        elif value is not None and not isinstance(value, self.type) and not (
                self.type is float and isinstance(value, int) and not isinstance(value, bool)):
            raise InvalidParameterError(f"{where} expected {self.type.__name__}; got {value!r}.")
        if self.choices and value not in self.choices:
            raise InvalidParameterError(f"{where} {value!r} is not one of {', '.join(map(str, self.choices))}.")
        return value


@dataclass(frozen=True)
class TaskScheme:
    """A registered URI scheme: ``name:PATH`` -> ``factory(PATH, **options)``."""

    name: str
    factory: Callable[..., Any]
    summary: str
    options: tuple[TaskOption, ...] = field(default_factory=tuple)

    def option(self, key: str) -> TaskOption:
        for opt in self.options:
            if opt.name == key:
                return opt
        valid = ", ".join(o.name for o in self.options) or "(none)"
        raise InvalidParameterError(f"{key!r} is not an option of {self.name}: tasks; valid: {valid}.")


_SCHEMES: dict[str, TaskScheme] = {}


def register_scheme(name: str, factory: Callable[..., Any], *, summary: str,
                    options: tuple[TaskOption, ...] = ()) -> TaskScheme:
    """Register a task URI scheme (``name:PATH``); a second registration of a name is an error."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise InvalidParameterError(f"task scheme {name!r} must be lower-case letters, digits and _.")
    if name in _SCHEMES and _SCHEMES[name].factory is not factory:
        raise InvalidParameterError(f"task scheme {name!r} is already registered.")
    _SCHEMES[name] = TaskScheme(name, factory, summary, tuple(options))
    return _SCHEMES[name]


def list_schemes() -> list[TaskScheme]:
    """Registered schemes, sorted by name."""
    return [_SCHEMES[k] for k in sorted(_SCHEMES)]


def get_scheme(name: str) -> TaskScheme:
    """The scheme registered under ``name``; near misses are suggested."""
    if name not in _SCHEMES:
        close = difflib.get_close_matches(name, list(_SCHEMES), n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}:'?" if close else ""
        known = ", ".join(f"{s}:PATH" for s in sorted(_SCHEMES))
        raise InvalidParameterError(f"{name!r} is not a task scheme.{hint} Known: {known}.")
    return _SCHEMES[name]


def split_uri(text: str) -> tuple[str, str] | None:
    """``(scheme, path)`` when ``text`` looks like ``scheme:path``, else None."""
    m = _SCHEME_RE.match(str(text).strip())
    return (m.group(1), m.group(2)) if m else None


def is_task_uri(text: Any) -> bool:
    """True for ``scheme:path`` with a registered scheme."""
    parts = split_uri(text) if isinstance(text, str) else None
    return parts is not None and parts[0] in _SCHEMES


def resolve_options(scheme: TaskScheme, options: dict[str, Any]) -> dict[str, Any]:
    """Every option of ``scheme``: the given ones coerced to their types, the rest at defaults."""
    out = {o.name: o.default for o in scheme.options}
    for key, value in options.items():
        out[key] = scheme.option(key).coerce(value, scheme.name)
    return out


def task_from_uri(uri: str, **options: Any):
    """Build the task a URI names.

    Parameters
    ----------
    uri : str
        ``scheme:PATH``, e.g. ``beir:./my_collection``.
    **options
        Scheme options (strings are coerced; unknown keys raise).

    Returns
    -------
    Task

    Raises
    ------
    InvalidParameterError
        Unknown scheme or option, bad option value, empty path.
    DataError
        Raised later by ``task.load()`` for problems in the data itself.
    """
    parts = split_uri(uri)
    if parts is None:
        raise InvalidParameterError(f"{uri!r} is not a task URI; write scheme:PATH, e.g. beir:./my_collection.")
    name, path = parts
    scheme = get_scheme(name)
    if not path.strip():
        raise InvalidParameterError(f"{uri!r}: the path after '{name}:' is empty; write {name}:PATH.")
    task = scheme.factory(path.strip(), **resolve_options(scheme, options))
    task.uri = f"{name}:{path.strip()}"
    task.uri_options = {k: v for k, v in options.items()}
    return task


def task_name(scheme: str, path: str, options: dict[str, Any], defaults: dict[str, Any]) -> str:
    """Stable task name: ``scheme:path`` plus the options that differ from their defaults."""
    changed = {k: v for k, v in sorted(options.items()) if defaults.get(k) != v and v is not None}
    suffix = "[" + ",".join(f"{k}={v}" for k, v in changed.items()) + "]" if changed else ""
    return f"{scheme}:{path}{suffix}"
