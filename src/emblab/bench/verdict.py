"""The verdict of a compression benchmark: for each byte budget, the method to use.

For budget B the verdict is the **Pareto-best** row among those that store at most B bytes per
vector: the highest main score (nDCG@10, Recall@10, Spearman), ties broken by fewer bytes, then
by shorter fit time. No other row at or under B bytes scores higher, so the chosen row is on the
Pareto front of (bytes, score). Each entry carries the score as a ratio to uncompressed float32,
the fit and search times, the exact spec, and the command that reproduces and ships it
(``emblab export``).

Reads typed results only (:class:`~emblab.experiment.Results`, design.md section 9): nothing is
re-run here.
"""

from __future__ import annotations

import shlex
from typing import Any

from ..experiment.results import Results

#: headline metric names as people write them
METRIC_LABELS = {"ndcg@10": "nDCG@10", "recall@10_asym": "Recall@10", "spearman": "Spearman",
                 "recall@10": "Recall@10", "mrr@10": "MRR@10"}


def _ok(r: dict[str, Any]) -> bool:
    # reference rows that are not compressors (popularity, random) are context, never a choice
    return ("error" not in r and "skipped" not in r and not r.get("baseline")
            and isinstance(r.get(r.get("main_score") or ""), (int, float)))


def verdict(res: Results) -> list[dict[str, Any]]:
    """One entry per (task, budget) of a benchmark's results (budgets: ``res.extra["budgets"]``).

    Returns
    -------
    list of dict
        ``task``, ``budget``, ``spec`` (None when nothing fits the budget), ``method``,
        ``bytes_per_vector``, ``metric``, ``score``, ``ratio`` (score ÷ float32), ``float32``,
        ``fit_time_s``, ``search_time_s``, ``n_queries``, ``runner_up`` (spec and score of the
        next best row, or None), ``reproduce`` (command line).
    """
    out: list[dict[str, Any]] = []
    records = res.records
    tasks: list[str] = []
    for r in records:
        if r.get("task") not in tasks:
            tasks.append(r.get("task"))
    for task in tasks:
        recs = [r for r in records if r.get("task") == task and _ok(r)]
        if not recs:
            continue
        main = recs[0]["main_score"]
        base = next((r for r in recs if r["method"] == "float32"), None)
        info = res.dataset.get(task, {})
        for b in res.extra.get("budgets") or []:
            pool = [r for r in recs if r["bytes_per_vector"] <= b]
            ranked = sorted(pool, key=lambda r: (-r[main], r["bytes_per_vector"], r.get("fit_time_s") or 0.0))
            entry: dict[str, Any] = {"task": task, "budget": int(b), "metric": main, "spec": None,
                                     "float32": base[main] if base else None}
            if ranked:
                best = ranked[0]
                spec = best.get("spec") or best["method"]
                entry.update(spec=spec, method=best["method"], bytes_per_vector=best["bytes_per_vector"],
                             score=best[main], ratio=best[main] / base[main] if base and base[main] else None,
                             fit_time_s=best.get("fit_time_s"), search_time_s=best.get("search_time_s"),
                             n_queries=info.get("n_queries"),
                             runner_up=({"spec": ranked[1].get("spec") or ranked[1]["method"],
                                         "score": ranked[1][main]} if len(ranked) > 1 else None),
                             reproduce=reproduce_command(spec, info))
            out.append(entry)
    return out


def reproduce_command(spec: str, dataset_info: dict[str, Any], out: str = "served/") -> str:
    """``emblab export SPEC --task URI [--set k=v ...] --out DIR`` for a verdict entry."""
    uri = dataset_info.get("uri")
    if not uri:
        return f"emblab fit {shlex.quote(spec)} --data VECTORS.npy --out model/"
    sets = "".join(f" --set {shlex.quote(f'{k}={v}')}" for k, v in (dataset_info.get("uri_options") or {}).items())
    return f"emblab export {shlex.quote(spec)} --task {shlex.quote(uri)}{sets} --out {out}"


def _seconds(v: Any) -> str:
    return "–" if v is None else (f"{v:.1f} s" if v >= 1 else f"{v * 1000:.0f} ms")


def verdict_lines(res: Results) -> list[str]:
    """Plain-text verdict (terminal): one block per task, two lines per budget, no truncation."""
    lines: list[str] = []
    entries = res.extra.get("verdict") or verdict(res)
    for task in dict.fromkeys(e["task"] for e in entries):
        es = [e for e in entries if e["task"] == task]
        metric = METRIC_LABELS.get(es[0]["metric"], es[0]["metric"])
        base = es[0].get("float32")
        lines.append(f"Verdict for {task} ({metric}" + (f"; float32 = {base:.4f})" if base is not None else ")"))
        for e in es:
            label = f"  <= {e['budget']} B: "
            if not e["spec"]:
                lines.append(f"{label}no method stores at most {e['budget']} B per vector")
                continue
            lines.append(f"{label}{e['spec']}")
            ratio = f" = {e['ratio']:.3f} x float32" if e.get("ratio") is not None else ""
            nq = f" ({e['n_queries']} queries)" if e.get("n_queries") else ""
            lines.append(f"{' ' * len(label)}{e['score']:.4f}{ratio}, {e['bytes_per_vector']:g} B, "
                         f"fit {_seconds(e['fit_time_s'])}, search {_seconds(e['search_time_s'])}{nq}")
        last = next((e for e in reversed(es) if e.get("reproduce")), None)
        if last:
            lines.append(f"  ship it: {last['reproduce']}")
    return lines


def verdict_markdown(res: Results) -> list[str]:
    """Markdown verdict table(s) with the exact specs and the export command."""
    entries = res.extra.get("verdict") or verdict(res)
    lines: list[str] = []
    for task in dict.fromkeys(e["task"] for e in entries):
        es = [e for e in entries if e["task"] == task]
        metric = METRIC_LABELS.get(es[0]["metric"], es[0]["metric"])
        lines += [f"## Verdict: {task}", "",
                  f"Pareto-best method at or under each budget ({metric}; ties: fewer bytes, then faster fit).", "",
                  f"| budget | method (exact spec) | B/vec | {metric} | ÷ float32 | fit | search |",
                  "|---|---|---|---|---|---|---|"]
        for e in es:
            if not e["spec"]:
                lines.append(f"| ≤ {e['budget']} B | no method fits | | | | | |")
                continue
            ratio = f"{e['ratio']:.3f}" if e.get("ratio") is not None else "–"
            spec = e["spec"].replace("|", "\\|")
            lines.append(f"| ≤ {e['budget']} B | `{spec}` | {e['bytes_per_vector']:g} | {e['score']:.4f} | {ratio} | "
                         f"{_seconds(e['fit_time_s'])} | {_seconds(e['search_time_s'])} |")
        cmds = [e["reproduce"] for e in es if e.get("reproduce")]
        if cmds:
            lines += ["", "Reproduce and ship (per budget):", ""] + [f"    {c}" for c in dict.fromkeys(cmds)]
        lines.append("")
    return lines
