"""Matplotlib figures (Agg backend) for the report; each returns PNG bytes.

Figures are plain line charts described by :class:`LineFigure`, so every experiment section only
has to say which series to draw.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from .style import color


@dataclass
class Series:
    """One line: ``x`` and ``y`` of equal length; ``style`` '-', '--', ':' or 'o' (markers only)."""

    name: str
    x: list[float]
    y: list[float]
    style: str = "-"
    color_key: str | None = None


@dataclass
class LineFigure:
    """A line chart with optional horizontal reference lines and vertical markers."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    hlines: dict[str, float] = field(default_factory=dict)
    vlines: dict[str, float] = field(default_factory=dict)
    xlog: bool = False
    ylog: bool = False
    xlog_base: int = 2
    legend_outside: bool = True

    def render(self) -> bytes:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n_items = len(self.series) + len(self.hlines)
        fig, ax = plt.subplots(figsize=(8.0 if self.legend_outside and n_items > 0 else 6.4, 4.2), dpi=110)
        try:
            for s in self.series:
                c = color(s.color_key or s.name)
                pts = sorted(zip(s.x, s.y), key=lambda p: p[0])
                if not pts:
                    continue
                xs, ys = zip(*pts)
                label = s.name if len(s.name) <= 42 else s.name[:41] + "…"
                if s.style == "o":
                    ax.plot(xs, ys, "o", color=c, label=label, ms=5)
                else:
                    ax.plot(xs, ys, s.style, color=c, label=label, marker="o" if len(xs) < 30 else None,
                            ms=3.5, lw=1.6)
            for name, y in self.hlines.items():
                ax.axhline(y, color=color(name), ls="--", lw=1.2, label=name)
            for name, x in self.vlines.items():
                ax.axvline(x, color="#888888", ls=":", lw=1.2)
                ax.annotate(name, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top",
                            ha="right", fontsize=8, color="#555555")
            if self.xlog:
                from matplotlib.ticker import FuncFormatter, NullFormatter

                ax.set_xscale("log", base=self.xlog_base)
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _human(v)))
                ax.xaxis.set_minor_formatter(NullFormatter())
            if self.ylog:
                ax.set_yscale("log")
            ax.set_title(self.title, fontsize=11)
            ax.set_xlabel(self.xlabel)
            ax.set_ylabel(self.ylabel)
            ax.grid(True, alpha=0.3)
            if n_items:
                if self.legend_outside:
                    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
                else:
                    ax.legend(fontsize=8)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            return buf.getvalue()
        finally:
            plt.close(fig)


def _human(v: float) -> str:
    """Tick label: 1.5M, 20k, 64."""
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def series_from_points(points: list[dict[str, Any]], group: str, x: str, y: str) -> list[Series]:
    """Group dict records into series by ``group`` with coordinates ``x``/``y`` (missing skipped)."""
    out: dict[str, Series] = {}
    for p in points:
        if p.get(x) is None or p.get(y) is None:
            continue
        g = str(p.get(group))
        out.setdefault(g, Series(g, [], []))
        out[g].x.append(float(p[x]))
        out[g].y.append(float(p[y]))
    return list(out.values())
