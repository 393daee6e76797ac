"""Summaries, the headline ratio, plots and markdown for corrector results (reads records only).

Costs are in one unit, target-encoder forward equivalents (``train._costs``): *maintenance* =
refresh encodes + the FLOPs of every row through h (scoring, training, replay) over the FLOPs of
one forward of g; *total* adds the loss encodes (x3, forward + backward).

Headline (spec section 4): the maintenance compute of the cheapest periodic-refresh baseline that
reaches the corrector's final quality, divided by the corrector's maintenance compute (refresh
encodes + h). Computed two ways: (a) discrete, over the R values run; (b) interpolated in
log(maintenance compute) along the refresh family ordered by cost (stale = no refresh, refresh-R
for decreasing R, oracle = R=1). A ratio below 1 means the corrector costs more than the baseline.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import defaultdict
from typing import Any

import numpy as np

from ..experiment.markdown import document, table
from ..experiment.results import Results

#: final metrics of the markdown tables
TABLE_METRICS = ("recall@1", "recall@10", "recall@100", "ndcg@10")


def _order(label: str) -> tuple:
    if label.startswith("refresh-R"):
        return (2, -int(label[9:]))
    return ({"inbatch": 0, "stale": 1, "corrector": 3, "oracle": 4}.get(label, 5), 0)


def summarize(records: list[dict], metric: str, split: str) -> list[dict[str, Any]]:
    """Per method label: mean/std over seeds of the final metric, costs and last drift figures."""
    by = defaultdict(list)
    for r in records:
        if "final" in r:
            by[r["label"]].append(r)
    rows = []
    for label in sorted(by, key=_order):
        rs = by[label]
        vals = np.array([r["final"][split][metric] for r in rs])
        last = [r["curve"][-1] for r in rs]

        def mean_of(key):
            xs = [p[key] for p in last if key in p]
            return float(np.mean(xs)) if xs else None

        rows.append({"label": label, "n_seeds": len(rs), metric: float(vals.mean()), f"{metric}_std": float(vals.std()),
                     **{m: float(np.mean([r["final"][split][m] for r in rs])) for m in rs[0]["final"][split]},
                     "refresh_encodes": float(np.mean([r["counts"]["refresh"] for r in rs])),
                     "loss_encodes": float(np.mean([r["counts"]["loss"] for r in rs])),
                     "h_g_equiv": float(np.mean([r["counts"]["h_g_equiv"] for r in rs])),
                     "maintenance_g_equiv": float(np.mean([r["counts"]["maintenance_g_equiv"] for r in rs])),
                     "total_g_equiv": float(np.mean([r["counts"]["total_g_equiv"] for r in rs])),
                     "cos_g0_fresh_end": mean_of("cos_g0_fresh"), "cos_cache_fresh_end": mean_of("cos_cache_fresh"),
                     "cos_h_fresh_end": mean_of("cos_h_fresh"), "overlap@10_cache_end": mean_of("overlap@10_cache"),
                     "overlap@10_h_end": mean_of("overlap@10_h"),
                     "wall_s": float(np.mean([r["wall_s"] for r in rs]))})
    return rows


def headline(rows: list[dict], metric: str) -> dict[str, Any]:
    """Matched-quality maintenance-compute ratio of the corrector vs periodic refresh (see module doc)."""
    by = {r["label"]: r for r in rows}
    if "corrector" not in by:
        return {}
    c = by["corrector"]
    cost = "maintenance_g_equiv"
    qc, cost_c = c[metric], c[cost]
    fam = [by[lbl] for lbl in sorted(by, key=_order) if lbl == "stale" or lbl.startswith("refresh-R") or lbl == "oracle"]
    fam.sort(key=lambda r: r[cost])
    out: dict[str, Any] = {"metric": metric, "corrector": qc, "corrector_std": c[f"{metric}_std"],
                           "corrector_refresh_encodes": c["refresh_encodes"], "corrector_h_g_equiv": c["h_g_equiv"],
                           "corrector_maintenance_g_equiv": cost_c, "corrector_total_g_equiv": c["total_g_equiv"]}
    for lbl in ("stale", "oracle", "inbatch"):
        if lbl in by:
            out[f"{lbl}"] = by[lbl][metric]
            out[f"corrector_minus_{lbl}"] = qc - by[lbl][metric]
    for lbl in ("stale", "oracle") + tuple(r["label"] for r in fam if r["label"].startswith("refresh-R")):
        if lbl in by:
            out[f"{lbl}_maintenance_g_equiv"] = by[lbl][cost]
            out[f"{lbl}_total_g_equiv"] = by[lbl]["total_g_equiv"]
            out[f"{lbl}_{metric}"] = by[lbl][metric]
            out[f"{lbl}_{metric}_std"] = by[lbl][f"{metric}_std"]
    reach = [r for r in fam if r["label"].startswith("refresh-R") and r[metric] >= qc]
    if reach:
        out["cheapest_refresh_matching"] = reach[0]["label"]
        out["ratio_discrete"] = reach[0][cost] / cost_c
    else:
        out["cheapest_refresh_matching"] = None
        out["ratio_discrete"] = None
        refr = [r for r in fam if r["label"].startswith("refresh-R")]
        if refr:  # none matched: the ratio is at least that of the most expensive setting run
            out["ratio_at_least"] = max(r[cost] for r in refr) / cost_c
    if "oracle" in by and by["oracle"][metric] < qc:
        out["ratio_at_least_oracle"] = by["oracle"][cost] / cost_c
    # Interpolate quality vs log(cost) along the family; first crossing of the corrector's level.
    out["ratio_interpolated"] = None
    for a, b in zip(fam, fam[1:]):
        if a[metric] < qc <= b[metric]:
            la, lb = math.log(a[cost]), math.log(b[cost])
            w = (qc - a[metric]) / (b[metric] - a[metric])
            out["ratio_interpolated"] = math.exp(la + w * (lb - la)) / cost_c
            break
    if fam and fam[0][metric] >= qc:
        out["ratio_interpolated"] = fam[0][cost] / cost_c  # the cheapest baseline already matches
    return out


def markdown_table(rows: list[dict], metrics: list[str] | tuple[str, ...], split: str) -> str:
    """Markdown table of the summary rows."""
    head = ["method", "seeds"] + [f"{m} ({split})" for m in metrics] + [
        "refresh encodes", "h cost (g-fwd eq.)", "maintenance = refresh + h (g-fwd eq.)", "loss encodes",
        "total compute (g-fwd eq.)", "cos(g0,g) end", "cos(C,g) end",
        "cos(h(C),g) end", "overlap@10 C", "overlap@10 h(C)", "wall s/run"]

    def f(x, fmt="{:.3f}"):
        return "" if x is None else fmt.format(x)

    body = []
    for r in rows:
        cells = [r["label"], str(r["n_seeds"])]
        cells += [f"{r[m]:.4f} ± {r[m + '_std']:.4f}" if m + "_std" in r else f(r.get(m), "{:.4f}") for m in metrics]
        cells += [f"{r['refresh_encodes']:,.0f}", f(r["h_g_equiv"], "{:,.1f}"), f(r["maintenance_g_equiv"], "{:,.0f}"),
                  f"{r['loss_encodes']:,.0f}", f(r["total_g_equiv"], "{:,.0f}"),
                  f(r["cos_g0_fresh_end"]), f(r["cos_cache_fresh_end"]), f(r["cos_h_fresh_end"]),
                  f(r["overlap@10_cache_end"]), f(r["overlap@10_h_end"]), f(r["wall_s"], "{:.0f}")]
        body.append(cells)
    return "\n".join(table(head, body))


def _mean_curves(records: list[dict], key: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    by = defaultdict(list)
    for r in records:
        by[r["label"]].append(r["curve"])
    out = {}
    for label, curves in by.items():
        n = min(len(c) for c in curves)
        if n == 0 or key not in curves[0][0]:
            continue
        steps = np.array([p["step"] for p in curves[0][:n]])
        ys = np.array([[c[i].get(key, np.nan) for i in range(n)] for c in curves])
        xs = np.array([[c[i]["maintenance_g_equiv"] for i in range(n)] for c in curves]).mean(0)
        out[label] = (steps, xs, ys.mean(0))
    return out


_COLORS = {"inbatch": "tab:gray", "stale": "tab:orange", "refresh-R10": "tab:purple", "refresh-R50": "tab:red",
           "refresh-R200": "tab:green", "corrector": "tab:blue", "oracle": "black"}


def _color(label: str) -> str | None:
    return _COLORS.get(label)


def plot_quality(records: list[dict], key: str, path, title: str = "", final_split: str = "test",
                 final_metric: str = "recall@10") -> None:
    """Left: final quality (mean ± std over seeds) vs maintenance compute, with the training path
    faint; right: curve-split quality vs step. Means over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _mean_curves(records, key)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    rows = {r["label"]: r for r in summarize(records, final_metric, final_split)} if final_split else {}
    for label in sorted(curves, key=_order):
        steps, xs, ys = curves[label]
        c = _color(label)
        axes[0].plot(np.maximum(xs, 1), ys, "-", color=c, alpha=0.25, lw=1)
        if label in rows:
            r = rows[label]
            axes[0].errorbar([max(r["maintenance_g_equiv"], 1)], [r[final_metric]], yerr=[r[final_metric + "_std"]],
                             fmt="o", ms=7, color=c, capsize=3, label=f"{label} (final {final_split})")
        axes[1].plot(steps, ys, color=c, label=label)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("maintenance compute: refresh encodes + h, in g-forward equivalents (log; inbatch at 1)")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"final {final_split} {final_metric} (markers) and {key} path during training (faint)", fontsize=8)
    axes[1].set_xlabel("training step (after the cache is built)")
    axes[0].set_ylabel(final_metric)
    for ax in axes[1:]:
        ax.set_ylabel(key)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title or key)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_drift(records: list[dict], path, title: str = "") -> None:
    """Mean cosine of cache vs fresh (per method), h(C) vs fresh, g0 vs fresh; top-10 overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, ax, style in (("cos_cache_fresh", axes[0], "-"), ("cos_h_fresh", axes[0], "--"),
                           ("overlap@10_cache", axes[1], "-"), ("overlap@10_h", axes[1], "--")):
        for label, (steps, _, ys) in sorted(_mean_curves(records, key).items(), key=lambda kv: _order(kv[0])):
            ax.plot(steps, ys, style, color=_color(label),
                    label=f"{label}: {'h(C)' if key.endswith('_h') or 'h_fresh' in key else 'C'}")
    g0 = _mean_curves(records, "cos_g0_fresh")
    if "stale" in g0:
        axes[0].plot(g0["stale"][0], g0["stale"][2], ":", color="k", label="g0 vs g (total drift, stale run)")
    axes[0].set_ylabel("mean cos(approx, fresh g(y)) over all targets")
    axes[1].set_ylabel("top-10 overlap with fresh ranking (probe train queries)")
    for ax in axes:
        ax.set_xlabel("training step (after the cache is built)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "drift")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def paired_differences(records: list[dict], metric: str, split: str, a: str, b: str) -> list[float]:
    """Per-seed ``metric(a) - metric(b)`` for seeds where both labels finished (same batches per seed)."""
    by = {(r["label"], r["config"]["seed"]): r["final"][split][metric] for r in records if "final" in r}
    seeds = sorted({s for (_, s) in by})
    return [by[(a, s)] - by[(b, s)] for s in seeds if (a, s) in by and (b, s) in by]


# --- the benchmark page ---------------------------------------------------------------------------

def run_note(res: Results) -> str:
    """The provenance note of a results file: its ``note``, or (files written before notes were
    stored) the ``--note`` argument of the command that wrote it."""
    if res.extra.get("note"):
        return str(res.extra["note"])
    try:
        args = shlex.split(res.environment.get("command") or "")
    except ValueError:
        return ""
    return args[args.index("--note") + 1] if "--note" in args[:-1] else ""


def _num(x) -> str:
    return "none" if x is None else f"{x:.3g}"


def corrector_markdown(res: Results, name: str) -> str:
    """The markdown page of a corrector results file (kind ``corrector``): configuration, summary
    table, headline ratio, a generated reading, paired per-seed differences and the provenance
    footer. Everything is recomputed from the records, so the page always matches them."""
    records, info = res.records, res.dataset
    split = str(res.extra.get("metric_split", "test"))
    summ = {m: summarize(records, m, split) for m in ("recall@10", "ndcg@10")}
    heads = {m: headline(summ[m], m) for m in summ}
    lines = [f"Setting: `{info.get('setting')}`; task: `{json.dumps({k: v for k, v in info.items() if k != 'g_flops_note'})}`", "",
             f"Every cost is in forward-pass equivalents of g ({info.get('g_flops_note', '')}): refresh "
             "encodes count 1 each; h counts the FLOPs of every row through it (scoring 1 forward, training "
             "3 = forward + backward, replay rows included); maintenance = refresh + h; total compute adds "
             "the loss encodes (3 each).", "",
             "Configuration of every run (`RetrieverConfig`; a row's label sets `method`, and `refresh_every` "
             "for refresh-R rows, which is unused by the others; seeds as listed below): `"
             + json.dumps({k: v for k, v in records[0]["config"].items() if k not in ("method", "seed", "refresh_every")},
                          sort_keys=True) + "`", "",
             markdown_table(summ["recall@10"], TABLE_METRICS, split), "",
             f"Runs: {len(records)} (seeds {sorted({r['config']['seed'] for r in records})}); "
             f"{sum(1 for r in records if r.get('reused_from_cache'))} were reused from the run cache written by an "
             f"earlier invocation of this script with identical task and config; summed per-run wall time "
             f"{sum(r['wall_s'] for r in records) / 60:.1f} min on this shared machine.", ""]
    note = run_note(res)
    if note:
        lines += [f"Provenance: {note}", ""]
    for m, h in heads.items():
        if not h:
            continue
        lines.append(f"**Headline ({m}, {split})**: corrector {h['corrector']:.4f} ± {h['corrector_std']:.4f} "
                     f"(seed std) at maintenance compute {h['corrector_maintenance_g_equiv']:,.0f} g-forward equivalents "
                     f"({h['corrector_refresh_encodes']:,.0f} refresh encodes + h {h['corrector_h_g_equiv']:,.0f}), total "
                     f"{h['corrector_total_g_equiv']:,.0f}; stale {h.get('stale', float('nan')):.4f}, oracle "
                     f"{h.get('oracle', float('nan')):.4f}, inbatch {h.get('inbatch', float('nan')):.4f}. Cheapest "
                     f"refresh matching: {h['cheapest_refresh_matching']} (maintenance ratio {_num(h['ratio_discrete'])}); "
                     f"interpolated ratio {_num(h['ratio_interpolated'])}"
                     + (" (below 1: matching the corrector by refreshing costs less than the corrector)."
                        if min(x for x in (h["ratio_discrete"], h["ratio_interpolated"], 9.0) if x is not None) < 1
                        else "."))
        lines.append("")
    lines += reading(summ["recall@10"], heads.get("recall@10") or {})
    labels = [r["label"] for r in summ["recall@10"]]
    if "corrector" in labels:
        lines += ["Paired per-seed differences, corrector minus method (each seed draws the same batches for "
                  "every method):", ""]
        rows = []
        for lbl in labels:
            if lbl == "corrector":
                continue
            cells = [lbl]
            for m in TABLE_METRICS:
                d = paired_differences(records, m, split, "corrector", lbl)
                cells.append(f"{np.mean(d):+.4f} ({', '.join(f'{x:+.3f}' for x in d)})" if d else "")
            rows.append(cells)
        lines += table(["method", *TABLE_METRICS], rows)
    return document(f"Corrector networks: {name}", lines, res.to_dict())


def reading(rows: list[dict], h: dict) -> list[str]:
    """A short factual reading of the numbers (generated, so it always matches the table)."""
    by = {r["label"]: r for r in rows}
    out = ["## Reading (generated from the numbers above)", ""]
    if "stale" in by and by["stale"]["cos_g0_fresh_end"] is not None:
        st = by["stale"]
        out.append(f"- Drift: at the end of training the never-refreshed cache has mean cos(C, g) = "
                   f"{st['cos_cache_fresh_end']:.3f} (mean 1 - cos = {1 - st['cos_cache_fresh_end']:.3f}); its top-10 "
                   f"overlap with the fresh ranking on probe training queries is {st['overlap@10_cache_end']:.3f}.")
    if "corrector" in by:
        c = by["corrector"]
        out.append(f"- Corrector: cos(h(C), g) = {c['cos_h_fresh_end']:.3f} vs cos(C, g) = {c['cos_cache_fresh_end']:.3f} "
                   f"for the same cache; top-10 overlap {c['overlap@10_h_end']:.3f} with h(C) vs "
                   f"{c['overlap@10_cache_end']:.3f} with raw C.")
        n = c["refresh_encodes"] or 1.0
        out.append(f"- Cost of h (scoring + online training incl. replay rows, FLOPs): {c['h_g_equiv']:,.0f} "
                   f"target-encoder forward equivalents = {c['h_g_equiv'] / n:.3g} N, next to {n:,.0f} refresh encodes "
                   f"(N) for its one cache; maintenance {c['maintenance_g_equiv'] / n:.4g} N.")
        for lbl in [r["label"] for r in rows if r["label"].startswith("refresh-R") or r["label"] == "oracle"]:
            o = by[lbl]
            out.append(f"- {lbl}: maintenance {o['maintenance_g_equiv'] / n:.3g} N "
                       f"({o['maintenance_g_equiv'] / max(c['maintenance_g_equiv'], 1e-12):.3g}x the corrector's).")
    if h:
        sd = h["corrector_std"]
        for lbl in [r["label"] for r in rows if r["label"] != "corrector"]:
            d = c["recall@10"] - by[lbl]["recall@10"]
            within = "within" if abs(d) <= max(sd, by[lbl]["recall@10_std"]) else "outside"
            out.append(f"- Corrector minus {lbl}: {d:+.4f} Recall@10 ({within} one seed standard deviation: corrector "
                       f"{sd:.4f}, {lbl} {by[lbl]['recall@10_std']:.4f}).")
        if h.get("ratio_discrete"):
            out.append(f"- The cheapest periodic refresh that reaches the corrector's Recall@10 is "
                       f"{h['cheapest_refresh_matching']}: {h['ratio_discrete']:.3g}x the corrector's maintenance compute.")
        else:
            out.append(f"- No periodic-refresh setting run here reaches the corrector's mean Recall@10: matching it "
                       f"would take more than {h.get('ratio_at_least', float('nan')):.2f}x the corrector's maintenance compute"
                       + (f" (even the oracle, {h['ratio_at_least_oracle']:.2f}x, is below it)."
                          if h.get("ratio_at_least_oracle") else "."))
        if h.get("ratio_interpolated"):
            out.append(f"- Interpolated along stale -> refresh-R -> oracle (log cost): matching the corrector costs "
                       f"{h['ratio_interpolated']:.3g}x its maintenance compute.")
    out.append("")
    return out
