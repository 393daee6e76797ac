"""Markdown for results documents: tables and the one provenance footer.

Every committed ``benchmarks/results/*.md`` is rendered from its JSON by these functions, so a table
can be regenerated without re-running anything (``--render`` on the benchmark scripts).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from .provenance import environment_lines


def cell(value: Any, digits: int = 3) -> str:
    """One table cell: floats rounded to ``digits``, ``None`` as an en dash, ``|`` escaped."""
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.{digits}f}"
    else:
        text = str(value)
    # a '|' inside a spec (pca:dim=128|int8) would split the markdown cell
    return text.replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3) -> list[str]:
    """Lines of a markdown table.

    Parameters
    ----------
    header : sequence of str
    rows : iterable of sequences
        Cells are formatted with :func:`cell` unless they are already strings.
    digits : int
        Decimals for float cells.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") if isinstance(c, str) else cell(c, digits)
                                       for c in row) + " |")
    return lines


def document(title: str, body: Sequence[str], doc: dict[str, Any], *, notes: Sequence[str] = ()) -> str:
    """A whole markdown page: ``# title``, the body lines and the environment footer of ``doc``."""
    lines = [f"# {title}", "", *body, ""]
    lines += environment_lines(doc.get("environment") or {}, notes=list(notes))
    return "\n".join(lines).rstrip("\n") + "\n"
