"""One registered renderer per experiment kind: typed results -> :class:`Section` (figures + tables).

Each renderer is registered for its kind with :func:`~emblab.report.registry.register_section` and
receives the :class:`~emblab.experiment.Results` that :func:`~emblab.experiment.read_results` read;
:func:`section_for` picks it, and kinds without one get :func:`generic_section` (a records table).
Renderers read only what is in the results. A field that is missing or malformed raises
:class:`SectionError`, which the page shows as a message instead of crashing.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from ..evaluation.tasks.base import is_uncompressed
from ..experiment.results import Results
from .figures import LineFigure, Series
from .registry import Renderer, register_section, registered_renderer
from .style import family

#: metric keys in the order they are worth plotting; the first present is the "main" one
METRIC_PRIORITY = ("recall@10_asym", "recall@10", "ndcg@10", "r10@100_asym", "r10@100", "recall@100",
                   "recall@10_sym", "stsb_spearman", "sickr_spearman", "spearman", "hr@10", "hitrate@10",
                   "scifact_ndcg10", "ndcg@10_asym")
_NON_METRIC = {"bytes_per_vector", "model_bytes", "fit_time_s", "encode_time_s", "search_time_s", "dim", "k", "h",
               "m", "seed", "n", "d", "epochs", "budget", "compression_ratio", "n_seeds", "steps"}


class SectionError(Exception):
    """A results document lacks what its section needs."""


@dataclass
class Section:
    title: str
    kind: str
    source: str
    intro: str = ""
    figures: list[tuple[str, LineFigure]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    images: list[Any] = field(default_factory=list)  # PNG files written by the benchmark itself


def html_table(header: list[str], rows: list[list[Any]], caption: str = "") -> str:
    """Escape and lay out a simple table; floats shown with 4 significant digits."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "–" if math.isnan(v) else f"{v:.4g}"
        return html.escape("–" if v is None else str(v))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _records(res: Results) -> list[dict[str, Any]]:
    recs = res.records
    if not recs:
        raise SectionError("'records' is empty: nothing to show")
    bad = [i for i, r in enumerate(recs) if not isinstance(r, dict)]
    if bad:
        raise SectionError(f"record {bad[0]} is not an object")
    return recs


def _metrics(rec: dict[str, Any]) -> dict[str, float]:
    """Metric values of a compression record, in either layout the library writes: a
    :class:`~emblab.experiment.TaskResult` row (``scores`` dict) or a :func:`~emblab.bench.runner.run_bench`
    row (metrics at the top level, next to the fields in ``_NON_METRIC``)."""
    src = rec.get("scores") if isinstance(rec.get("scores"), dict) else {
        k: v for k, v in rec.items() if k not in _NON_METRIC}
    out = {}
    for k, v in src.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            out[k] = float(v)
    return out


@register_section("compression")
def compression_section(res: Results, source: str) -> Section:
    """Quality against bytes/vector (log-x), one line per method family, uncompressed as a line."""
    recs = _records(res)
    sec = Section(res.extra.get("title") or f"Compression: {source}", "compression", source)
    by_task: dict[str, list[dict[str, Any]]] = {}
    other: list[dict[str, Any]] = []
    for i, r in enumerate(recs):
        if "skipped" in r or "error" in r:   # methods not run or failed: the bench's markdown lists them
            continue
        if "method" not in r or "bytes_per_vector" not in r:
            raise SectionError(f"record {i} lacks 'method' or 'bytes_per_vector'")
        if not isinstance(r["bytes_per_vector"], (int, float)):   # e.g. a serving measurement beside the rows
            other.append(r)
            continue
        by_task.setdefault(str(r.get("task", res.extra.get("task", "task"))), []).append(r)
    if other:
        sec.intro = (f"{len(other)} record(s) without a single bytes-per-vector figure are not plotted "
                     f"({', '.join(html.escape(str(r['method'])) for r in other[:3])}); the benchmark's markdown "
                     "shows them.")
    for task, rows in by_task.items():
        metric_names = []
        for r in rows:
            for m in _metrics(r):
                if m not in metric_names:
                    metric_names.append(m)
        ordered = [m for m in METRIC_PRIORITY if m in metric_names] + [
            m for m in metric_names if m not in METRIC_PRIORITY and not m.endswith("_s")]
        for metric in ordered[:4]:
            fig = LineFigure(f"{task}: {metric} vs bytes/vector", "bytes per vector (log scale)", metric,
                             xlog=True)
            lines: dict[str, Series] = {}
            for r in rows:
                val = _metrics(r).get(metric)
                if val is None:
                    continue
                fam = family(r["method"])
                if is_uncompressed(r["method"]) or is_uncompressed(fam):
                    fig.hlines[f"uncompressed ({r['method']})"] = val
                    continue
                lines.setdefault(fam, Series(fam, [], [], color_key=fam))
                lines[fam].x.append(float(r["bytes_per_vector"]))
                lines[fam].y.append(val)
            fig.series = sorted(lines.values(), key=lambda s: s.name)
            if fig.series:
                sec.figures.append((f"{_slug(source)}_{_slug(task)}_{_slug(metric)}", fig))
        main = ordered[0] if ordered else None
        if main:
            sec.tables.append(pareto_table(rows, main, task))
        sec.tables.append(records_table(rows, ordered[:5], f"{task}: all methods"))
    return sec


def pareto_table(rows: list[dict[str, Any]], metric: str, task: str) -> str:
    """Best method (by ``metric``) within each byte budget."""
    budgets = sorted({float(r["bytes_per_vector"]) for r in rows
                      if metric in _metrics(r) and not is_uncompressed(r["method"])})
    out = []
    for b in budgets:
        cands = [r for r in rows if float(r["bytes_per_vector"]) <= b + 1e-9 and metric in _metrics(r)
                 and not is_uncompressed(r["method"])]
        if not cands:
            continue
        best = max(cands, key=lambda r: _metrics(r)[metric])
        out.append([f"{b:g}", best["method"], f"{best['bytes_per_vector']:g}", _metrics(best)[metric]])
    return html_table(["budget (B/vector)", "best method", "its bytes", metric], out,
                      f"{task}: Pareto-best method per byte budget ({metric})")


def records_table(rows: list[dict[str, Any]], metrics: list[str], caption: str) -> str:
    rows = sorted(rows, key=lambda r: (float(r.get("bytes_per_vector", 0)), str(r.get("method"))))
    body = [[r.get("method"), r.get("bytes_per_vector")] + [_metrics(r).get(m) for m in metrics] +
            [r.get("fit_time_s")] for r in rows]
    return html_table(["method", "bytes/vector"] + metrics + ["fit s"], body, caption)


def generic_section(res: Results, source: str) -> Section:
    """Any kind without its own section: figures declared in the document (``figures``) and a
    table of the records' scalar fields."""
    sec = Section(res.extra.get("title") or f"{res.kind or 'results'}: {source}", res.kind, source)
    for i, f in enumerate(res.extra.get("figures", []) or []):
        sec.figures.append((f"{_slug(source)}_fig{i}", figure_from_dict(f)))
    recs = res.records
    if recs and all(isinstance(r, dict) for r in recs):
        cols: list[str] = []
        for r in recs[:200]:
            for k, v in r.items():
                if k not in cols and not isinstance(v, (dict, list)):
                    cols.append(k)
        sec.tables.append(html_table(cols[:12], [[r.get(c) for c in cols[:12]] for r in recs[:60]],
                                     f"records ({len(recs)})"))
    if not sec.figures and not sec.tables:
        raise SectionError("no records and no figures to show")
    return sec


def figure_from_dict(f: dict[str, Any]) -> LineFigure:
    """Build a figure declared in JSON: {title, xlabel, ylabel, xlog, series: [{name, x, y, style}], hlines}."""
    try:
        fig = LineFigure(str(f["title"]), str(f.get("xlabel", "")), str(f.get("ylabel", "")),
                         xlog=bool(f.get("xlog", False)), ylog=bool(f.get("ylog", False)))
        for s in f["series"]:
            x, y = [float(v) for v in s["x"]], [float(v) for v in s["y"]]
            if len(x) != len(y):
                raise SectionError(f"series {s.get('name')!r} has {len(x)} x and {len(y)} y values")
            fig.series.append(Series(str(s["name"]), x, y, s.get("style", "-"), s.get("color_key")))
        fig.hlines = {str(k): float(v) for k, v in (f.get("hlines") or {}).items()}
        fig.vlines = {str(k): float(v) for k, v in (f.get("vlines") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise SectionError(f"malformed figure ({type(exc).__name__}: {exc})") from exc
    return fig


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", str(text)).strip("_")[:60] or "x"


def section_for(kind: str) -> Renderer:
    """The section registered for ``kind``; :func:`generic_section` for kinds without one."""
    return registered_renderer(kind) or generic_section


# --- corrector ---------------------------------------------------------------------------------

def _passes(point: dict[str, Any]) -> float:
    """Total compute of a curve point in target-encoder forward equivalents (loss encodes x3,
    refresh encodes, every row through h); older records without it: loss + refresh encodes."""
    if point.get("total_g_equiv") is not None:
        return float(point["total_g_equiv"])
    return float(point.get("loss_encodes", 0) or 0) + float(point.get("refresh_encodes", 0) or 0)


@register_section("corrector")
def corrector_section(res: Results, source: str) -> Section:
    """Quality against target-encoder passes per method; drift and top-k overlap over training."""
    recs = _records(res)
    metric = str(res.extra.get("curve_metric", "val/recall@10"))
    sec = Section(res.extra.get("title") or f"Corrector networks: {source}", "corrector", source)
    q = LineFigure(f"{source}: {metric} vs total compute", "total compute, target-encoder forward equivalents "
                   "(loss + refresh encodes + corrector h; log scale)", metric, xlog=True, xlog_base=10)
    drift = LineFigure(f"{source}: drift of cached embeddings", "training step",
                       "mean cos(cached, fresh)")
    overlap = LineFigure(f"{source}: top-10 overlap, approximate vs fresh ranking", "training step", "overlap@10")
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(recs):
        curve = r.get("curve")
        if not isinstance(curve, list) or not curve:
            raise SectionError(f"record {i} ({r.get('label', r.get('method'))}) has no 'curve' list")
        groups.setdefault(str(r.get("label", r.get("method"))), []).append(r)

    def mean_curve(rs: list[dict[str, Any]], key: str, x_of) -> tuple[list[float], list[float]]:
        # seeds of one method share their step grid: average x and y per step
        acc: dict[float, list[tuple[float, float]]] = {}
        for r in rs:
            for c in r["curve"]:
                if key in c and c[key] is not None:
                    acc.setdefault(float(c.get("step", 0)), []).append((x_of(c), float(c[key])))
        steps = sorted(acc)
        return ([sum(p[0] for p in acc[t]) / len(acc[t]) for t in steps],
                [sum(p[1] for p in acc[t]) / len(acc[t]) for t in steps])

    for label, rs in groups.items():
        n = f" (mean of {len(rs)} seeds)" if len(rs) > 1 else ""
        ck = label if label in ("corrector", "stale", "oracle", "inbatch") else None
        xs, ys = mean_curve(rs, metric, _passes)
        keep = [(x, y) for x, y in zip(xs, ys) if x > 0]
        q.series.append(Series(label + n, [p[0] for p in keep], [p[1] for p in keep], color_key=ck or label))
        step_of = lambda c: float(c.get("step", 0))  # noqa: E731
        for key, suffix, style, fig in (("cos_cache_fresh", "cache", "-", drift), ("cos_h_fresh", "h(cache)", "--", drift),
                                        ("overlap@10_cache", "cache", "-", overlap), ("overlap@10_h", "h(cache)", "--", overlap)):
            xs, ys = mean_curve(rs, key, step_of)
            if xs:
                fig.series.append(Series(f"{label} {suffix}", xs, ys, style=style, color_key=ck or label))
    for name, fig in (("quality", q), ("drift", drift), ("overlap", overlap)):
        if fig.series:
            sec.figures.append((f"{_slug(source)}_{name}", fig))
    summary = res.extra.get("summary")
    if isinstance(summary, list) and summary and isinstance(summary[0], dict):
        cols = [c for c in ("label", "recall@10", "recall@10_std", "ndcg@10", "recall@100", "refresh_encodes",
                            "h_g_equiv", "maintenance_g_equiv", "loss_encodes", "total_g_equiv", "n_seeds")
                if c in summary[0]]
        sec.tables.append(html_table(cols, [[s.get(c) for c in cols] for s in summary],
                                     f"{source}: final test metrics and target-encoder passes"))
    headline = res.extra.get("headline")
    if isinstance(headline, dict):
        rows = []
        for m, h in headline.items():
            if isinstance(h, dict):
                rows.extend([[m, k, v] for k, v in h.items() if not isinstance(v, (dict, list))])
        if rows:
            sec.tables.append(html_table(["metric", "quantity", "value"], rows, f"{source}: headline comparison"))
    return sec


# --- qwem --------------------------------------------------------------------------------------

@register_section("qwem")
def qwem_section(res: Results, source: str) -> Section:
    """Accuracy against model size per analogy family, critical sizes; measured-vs-theory dynamics
    figures come from the PNGs the benchmark wrote (``plots``)."""
    sec = Section(res.extra.get("title") or f"QWEM word embeddings: {source}", "qwem", source)
    cs = res.extra.get("critical_size")
    if isinstance(cs, dict) and isinstance(cs.get("accuracy_vs_dim"), dict):
        acc = cs["accuracy_vs_dim"]
        dims = [float(x) for x in acc.get("dims", [])]
        fig = LineFigure(f"{source}: analogy accuracy vs embedding dimension ({cs.get('corpus', '')}, V={cs.get('V', '?')})",
                         "dimension d (log scale)", "3CosAdd accuracy", xlog=True)
        if acc.get("overall"):
            fig.series.append(Series("overall", dims, [float(v) if v is not None else math.nan for v in acc["overall"]],
                                     color_key="raw"))
        for fam, vals in sorted((acc.get("per_family") or {}).items()):
            ys = [float(v) if v is not None else math.nan for v in vals]
            if len(ys) == len(dims) and any(not math.isnan(v) and v > 0 for v in ys):
                fig.series.append(Series(fam, dims, ys, style="--"))
        sec.figures.append((f"{_slug(source)}_acc_vs_d", fig))
        crit = cs.get("critical") or {}
        rows = [[fam, c.get("n"), c.get("status"), c.get("d_c@0.05"), c.get("d_c@0.2"), c.get("max_accuracy")]
                for fam, c in crit.items() if isinstance(c, dict)]
        if rows:
            sec.tables.append(html_table(["family", "n", "status", "d_c (5%)", "d_c (20%)", "max accuracy"], rows,
                                         f"{source}: critical model size per analogy family"))
    if not sec.figures and not res.extra.get("plots"):
        raise SectionError("no 'critical_size.accuracy_vs_dim' and no 'plots' to show")
    return sec


# --- intrinsic dimension -------------------------------------------------------------------------

@register_section("intrinsic_dimension")
def intrinsic_dimension_section(res: Results, source: str) -> Section:
    """Test loss against latent size d per compressor (one figure per regressor), raw as a
    horizontal line, the intrinsic dimension of each compressor marked."""
    recs = _records(res)
    d_in = res.extra.get("d_in")
    task = res.extra.get("task", source)
    sec = Section(res.extra.get("title") or f"Intrinsic dimension: {task}", "intrinsic_dimension", source)
    by_reg: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(recs):
        for key in ("compressor", "regressor", "dims", "test_mse_mean"):
            if key not in r:
                raise SectionError(f"record {i} lacks {key!r}")
        by_reg.setdefault(str(r["regressor"]), []).append(r)
    rows = []
    for reg, rs in by_reg.items():
        fig = LineFigure(f"{task}: test MSE vs d ({reg})", "latent dimension d (log scale)",
                         "test MSE (standardised target)", xlog=True)
        for r in rs:
            fam = family(r["compressor"])
            pts = [(float(d), float(m)) for d, m in zip(r["dims"], r["test_mse_mean"])
                   if m is not None and (d_in is None or d != d_in)]
            fig.series.append(Series(fam, [p[0] for p in pts], [p[1] for p in pts], color_key=fam))
            if isinstance(r.get("test_raw_mse"), dict) and "raw" not in fig.hlines:
                fig.hlines["raw (uncompressed)"] = float(r["test_raw_mse"]["mean"])
            if r.get("id_median") is not None:
                fig.vlines[f"ID {fam.split(' ')[0]}{' α' if 'alpha' in fam else ''}={r['id_median']:g}"] = float(r["id_median"])
            at_id = r.get("test_at_id_mse") or {}
            raw = r.get("test_raw_mse") or {}
            gain = r.get("gain_d_star_vs_raw") or {}
            rows.append([reg, r["compressor"], r.get("id_median"), at_id.get("mean"), raw.get("mean"),
                         r.get("d_star_median"), gain.get("mean"), f"[{gain.get('lo', float('nan')):.3f}, {gain.get('hi', float('nan')):.3f}]" if gain else None])
        sec.figures.append((f"{_slug(source)}_{_slug(reg)}", fig))
    sec.tables.append(html_table(["regressor", "compressor", "intrinsic dim (median)", "test MSE at ID", "test MSE raw",
                                  "d* (best val)", "gain at d* vs raw", "95% CI"], rows,
                                 f"{task}: intrinsic dimension per compressor and regressor"))
    ctx = res.extra.get("context")
    if isinstance(ctx, dict):
        crow = []
        for name, v in ctx.items():
            if isinstance(v, dict) and isinstance(v.get("test"), dict):
                crow.append([name, v["test"].get("mse"), v["test"].get("r2")])
            elif isinstance(v, dict) and "r2" in v:
                crow.append([name, v.get("mse"), v.get("r2")])
        if crow:
            sec.tables.append(html_table(["context", "test MSE", "test R²"], crow,
                                         f"{task}: signal-to-noise context (constant predictor, shuffled labels, best)"))
    return sec


# --- recommendation ------------------------------------------------------------------------------

_RECSYS_METRICS = ("hr@10", "ndcg@10", "recall@10_last5")
_BASELINE_ROWS = ("popularity", "random")


def _recsys_figure(task: str, metric: str, coding: str | None, rows: list[dict[str, Any]],
                   front: list[dict[str, Any]]) -> LineFigure:
    """One coding's rows of one task: a line per method family, baselines as horizontal lines, the
    Pareto front over *every* row (both codings) dotted."""
    title = f"{task}: {metric} vs bytes per item" + (f" [{coding}]" if coding else "")
    fig = LineFigure(title, "bytes per item vector (log scale)", metric, xlog=True)
    lines: dict[str, Series] = {}
    for r in rows:
        val = r.get(metric)
        if not isinstance(val, (int, float)):
            continue
        if r.get("baseline") or r["method"] in _BASELINE_ROWS:
            fig.hlines[str(r.get("baseline") or r["method"])] = float(val)
        elif is_uncompressed(r["method"]):
            fig.hlines[f"uncompressed ({r['method']})"] = float(val)
        elif r.get("variant") == coding:
            fam = family(r["method"])
            key = ("sae omp" if "encoder=omp" in fam else "sae") if fam.startswith("sae") else fam
            lines.setdefault(fam, Series(fam, [], [], color_key=key))
            lines[fam].x.append(float(r["bytes_per_vector"]))
            lines[fam].y.append(float(val))
    fig.series = sorted(lines.values(), key=lambda s: s.name)
    if front:
        fig.series.append(Series("Pareto front (all rows)", [float(r["bytes_per_vector"]) for r in front],
                                 [float(r[metric]) for r in front], style=":", color_key="uncompressed"))
    return fig


@register_section("recsys")
def recsys_section(res: Results, source: str) -> Section:
    """HR@10 and Recall@10 (last 5) against bytes per item vector, one figure per coding with a line
    per method family, uncompressed / popularity / random as horizontal lines and the Pareto front
    dotted; tables of the front, of the SAE against every peer at equal bytes, of the
    sparse-vs-truncation count, and of all rows."""
    from ..bench.pareto import equal_bytes, label, pareto_front, sparse_vs_truncation

    recs = _records(res)
    sec = Section(res.extra.get("title") or f"Recommendation: {source}", "recsys", source,
                  intro="Collaborative item vectors compressed; users uncompressed; inner-product scores. "
                        "[dir+norm16]: the compressor codes the direction and the norm is stored as float16 "
                        "(+2 B, counted); [raw]: the compressor codes the vectors themselves.")
    by_task: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(recs):
        if "method" not in r or "bytes_per_vector" not in r:
            raise SectionError(f"record {i} lacks 'method' or 'bytes_per_vector'")
        by_task.setdefault(str(r.get("task", "task")), []).append(r)
    for task, rows in by_task.items():
        ok = [r for r in rows if "error" not in r]
        metrics = [m for m in _RECSYS_METRICS if any(isinstance(r.get(m), (int, float)) for r in ok)]
        if not metrics:
            raise SectionError(f"task {task}: no record carries {' or '.join(_RECSYS_METRICS)}")
        codings = list(dict.fromkeys(r["variant"] for r in ok if r.get("variant"))) or [None]
        for metric in [m for m in metrics if m != "ndcg@10"][:2]:
            front = pareto_front(ok, metric)
            for coding in codings:
                fig = _recsys_figure(task, metric, coding, ok, front)
                sec.figures.append((f"{_slug(source)}_{_slug(task)}_{_slug(metric)}_{_slug(coding or '')}", fig))
        for metric in [m for m in metrics if m != "ndcg@10"][:2]:
            front = pareto_front(ok, metric)
            sec.tables.append(html_table(["bytes/item", "row on the Pareto front", metric],
                                         [[r["bytes_per_vector"], label(r), r[metric]] for r in front],
                                         f"{task}: Pareto front ({metric})"))
            pairs = equal_bytes(ok, metric)
            if pairs:
                sec.tables.append(html_table(["bytes/item", "SAE row", f"SAE {metric}", "peer at equal bytes",
                                              f"peer {metric}", "SAE - peer"],
                                             [[p["bytes"], p["focus"], p["focus_value"], p["peer"], p["peer_value"],
                                               p["delta"]] for p in pairs],
                                             f"{task}: SAE against every peer at equal bytes ({metric})"))
                claim = sparse_vs_truncation(ok, metric)
                sec.tables.append(html_table(["pairs", "SAE wins", "SAE loses", "ties"],
                                             [[claim["n"], claim["wins"], claim["losses"], claim["ties"]]],
                                             f"{task}: 'sparse beats equal-size truncation' ({metric}, PCA-ordered "
                                             "and raw truncation at equal bytes)"))
        body = [[label(r), r.get("bytes_per_vector")] + [r.get(m) for m in metrics] + [r.get("fit_time_s")]
                for r in sorted(ok, key=lambda r: (float(r.get("bytes_per_vector") or 0), label(r)))]
        sec.tables.append(html_table(["row", "bytes/item"] + metrics + ["fit s"], body, f"{task}: all rows"))
        errs = [[r.get("method"), r.get("error")] for r in rows if "error" in r]
        if errs:
            sec.tables.append(html_table(["method", "error"], errs, f"{task}: rows that failed"))
    return sec

