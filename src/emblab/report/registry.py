"""Which section renders which kind of results: ``@register_section("compression")``.

A renderer takes a typed :class:`~emblab.experiment.Results` (read by
:func:`~emblab.experiment.read_results`, the one reader of results files) and the file's stem, and
returns a :class:`~emblab.report.sections.Section`. One renderer per kind, like the task and method
registries: registering a kind twice is refused, so a second module cannot silently replace a
section. Kinds nobody registered are shown by the generic table section
(:func:`emblab.report.sections.section_for`).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from .._errors import InvalidParameterError

Renderer = Callable[[Any, str], Any]   # (Results, source) -> Section
R = TypeVar("R", bound=Renderer)

_SECTIONS: dict[str, Renderer] = {}


def register_section(kind: str) -> Callable[[R], R]:
    """Decorator: ``fn(results, source) -> Section`` renders results documents of ``kind``.

    Raises
    ------
    InvalidParameterError
        ``kind`` is empty or already has a renderer.
    """
    if not isinstance(kind, str) or not kind:
        raise InvalidParameterError(f"a section kind must be a non-empty string; got {kind!r}.")

    def deco(fn: R) -> R:
        existing = _SECTIONS.get(kind)
        if existing is not None and existing is not fn:
            raise InvalidParameterError(f"report section {kind!r} is already registered by "
                                        f"{existing.__module__}.{existing.__qualname__}.")
        _SECTIONS[kind] = fn
        return fn

    return deco


def registered_renderer(kind: str) -> Renderer | None:
    """The renderer registered for ``kind``, or None."""
    return _SECTIONS.get(kind)


def registered_kinds() -> list[str]:
    """Kinds that have their own section, sorted."""
    return sorted(_SECTIONS)
