"""Reading a benchmark's records side by side: Pareto front, equal-bytes match-ups, the sparse claim.

Pure functions over result records (dicts with ``method``, ``bytes_per_vector``, metric values and
optionally ``variant`` / ``baseline`` / ``error``), shared by the report sections and the benchmark
summaries so both say the same thing.

Examples
--------
>>> recs = [{"method": "a", "bytes_per_vector": 8, "hr@10": 0.1},
...         {"method": "b", "bytes_per_vector": 16, "hr@10": 0.09},
...         {"method": "c", "bytes_per_vector": 16, "hr@10": 0.2}]
>>> [r["method"] for r in pareto_front(recs, "hr@10")]
['a', 'c']
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["comparable", "pareto_front", "equal_bytes", "is_sparse", "is_truncation", "sparse_vs_truncation",
           "label", "markdown_summary"]


def label(rec: dict[str, Any]) -> str:
    """``method [variant]``: the row's spec and how it was scored."""
    return f"{rec['method']} [{rec['variant']}]" if rec.get("variant") else str(rec["method"])


def comparable(records: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows that are vectors at a byte cost with a value of ``metric`` (no baselines, no errors)."""
    return [r for r in records if "error" not in r and not r.get("baseline")
            and isinstance(r.get(metric), (int, float)) and (r.get("bytes_per_vector") or 0) > 0]


def pareto_front(records: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Rows no other row beats: none has fewer-or-equal bytes and a higher ``metric`` (or equal
    ``metric`` at fewer bytes). Sorted by bytes; among exact duplicates the first listed is kept."""
    rows = comparable(records, metric)
    front = []
    for i, r in enumerate(rows):
        b, v = float(r["bytes_per_vector"]), float(r[metric])
        beaten = any((float(o["bytes_per_vector"]) <= b and float(o[metric]) > v)
                     or (float(o["bytes_per_vector"]) < b and float(o[metric]) >= v)
                     or (float(o["bytes_per_vector"]) == b and float(o[metric]) == v and j < i)
                     for j, o in enumerate(rows) if j != i)
        if not beaten:
            front.append(r)
    return sorted(front, key=lambda r: float(r["bytes_per_vector"]))


def is_sparse(rec: dict[str, Any]) -> bool:
    """An SAE (CompresSAE) row."""
    return str(rec.get("method", "")).startswith("sae")


def is_truncation(rec: dict[str, Any]) -> bool:
    """A truncation row: leading coordinates kept as floats, of a PCA-ordered basis (Matryoshka-style
    ``pca:dim=p``) or of the raw coordinates (``trunc:dim=p``); PCA with int8 storage is not one."""
    m = str(rec.get("method", ""))
    return "|" not in m and (m.startswith("trunc") or (m.startswith("pca") and "int8" not in m))


def equal_bytes(records: list[dict[str, Any]], metric: str, focus=is_sparse) -> list[dict[str, Any]]:
    """Every (focus row, other row) pair at exactly the same bytes per vector.

    Returns
    -------
    list of dict with ``bytes``, ``focus``, ``focus_value``, ``peer``, ``peer_value`` and ``delta``
    (focus - peer), by bytes then focus label then peer value (best first).
    """
    rows = comparable(records, metric)
    out = []
    for f in (r for r in rows if focus(r)):
        for p in (r for r in rows if not focus(r) and r["bytes_per_vector"] == f["bytes_per_vector"]):
            out.append({"bytes": float(f["bytes_per_vector"]), "focus": label(f), "focus_value": float(f[metric]),
                        "peer": label(p), "peer_value": float(p[metric]),
                        "delta": float(f[metric]) - float(p[metric])})
    return sorted(out, key=lambda x: (x["bytes"], x["focus"], -x["peer_value"]))


def sparse_vs_truncation(records: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The CompresSAE claim, "sparse codes beat equal-size truncation", counted over the records.

    Returns
    -------
    dict with ``pairs`` (SAE row vs truncation row at equal bytes, see :func:`equal_bytes`),
    ``wins``, ``losses``, ``ties`` and ``n``.
    """
    pairs = [p for p in equal_bytes([r for r in records if is_sparse(r) or is_truncation(r)], metric)]
    wins = sum(p["delta"] > 0 for p in pairs)
    losses = sum(p["delta"] < 0 for p in pairs)
    return {"pairs": pairs, "wins": wins, "losses": losses, "ties": len(pairs) - wins - losses, "n": len(pairs)}


def _f(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def markdown_summary(records: list[dict[str, Any]], metric: str, dataset: dict[str, Any] | None = None) -> str:
    """Markdown for one task's records: reference ratios, Pareto front, SAE rows against their
    equal-bytes peers (with the SAE's model size beside the catalogue's), and the
    sparse-vs-truncation count.

    ``dataset`` (the task's entry of the document's ``dataset``) supplies the number of evaluated
    users (for the binomial standard error of a hit rate) and of items (catalogue size).
    """
    import math

    ok = [r for r in records if "error" not in r]
    ref = {str(r.get("baseline") or r["method"]): r.get(metric) for r in ok
           if r.get("baseline") or r["method"] == "float32"}
    ds = dataset or {}
    n_users = ((ds.get("splits") or {}).get("last1") or {}).get("n_users_evaluated")
    n_items = (ds.get("interactions") or {}).get("n_items")
    out = []
    if isinstance(ref.get("float32"), float) and ref.get("popularity"):
        out.append(f"Uncompressed {metric} {ref['float32']:.4f}; popularity {ref['popularity']:.4f} "
                   f"(uncompressed / popularity = {ref['float32'] / ref['popularity']:.2f}); random "
                   f"{_f(ref.get('random'))}.")
        if n_users and metric.startswith("hr@"):
            p = ref["float32"]
            out.append(f"Over {n_users} users a hit rate near {p:.3f} has a binomial standard error of "
                       f"{math.sqrt(p * (1 - p) / n_users):.4f}: rows closer than about twice that are not "
                       "told apart by this data.")
    front = pareto_front(ok, metric)
    out += ["", f"Pareto front ({metric} vs bytes per item; no row has fewer bytes and a higher value):", "",
            "| bytes | row | " + metric + " |", "|---|---|---|"]
    out += [f"| {r['bytes_per_vector']:g} | `{label(r)}` | {r[metric]:.4f} |" for r in front]
    pairs = equal_bytes(ok, metric)
    if pairs:
        on_front = {label(r) for r in front}
        f32 = next((r for r in ok if r["method"] == "float32"), None)
        catalogue = n_items * float(f32["bytes_per_vector"]) if (n_items and f32) else None
        model_of = {label(r): r.get("model_bytes") for r in ok}
        out += ["", f"SAE rows against every peer at equal bytes ({metric}); model = the SAE's fitted state, "
                    "beside the uncompressed float32 catalogue" + (f" ({catalogue / 1e6:.2f} MB)" if catalogue else "")
                + ":", "", "| bytes | SAE row | " + metric + " | peers beaten | best peer at equal bytes | its "
                + metric + " | on front | model MB |", "|---|---|---|---|---|---|---|---|"]
        for name in dict.fromkeys(p["focus"] for p in pairs):
            mine = [p for p in pairs if p["focus"] == name]
            best = max(mine, key=lambda p: p["peer_value"])
            mb = f"{model_of[name] / 1e6:.2f}" if model_of.get(name) else "–"
            out.append(f"| {mine[0]['bytes']:g} | `{name}` | {mine[0]['focus_value']:.4f} | "
                       f"{sum(p['delta'] > 0 for p in mine)} of {len(mine)} | `{best['peer']}` | "
                       f"{best['peer_value']:.4f} | {'yes' if name in on_front else 'no'} | {mb} |")
        claim = sparse_vs_truncation(ok, metric)
        out += ["", f"The paper's claim, sparse codes beat equal-size truncation (PCA-ordered `pca:dim=p` and "
                    f"raw `trunc:dim=p`, both codings): the SAE wins {claim['wins']} of {claim['n']} equal-bytes "
                    f"pairs, loses {claim['losses']}, ties {claim['ties']} ({metric})."]
    return "\n".join(out)


# --- arrays of (bytes, score) points and budgets ------------------------------------------------

def pareto_mask(bytes_per_vector: Sequence[float], scores: Sequence[float]) -> np.ndarray:
    """Boolean mask (n,) of the points ``(bytes_per_vector, score)`` on the front (arrays; see
    :func:`pareto_front` for records).

    Examples
    --------
    >>> pareto_mask([32, 64, 64, 128], [0.5, 0.7, 0.6, 0.69]).tolist()
    [True, True, False, False]
    """
    b = np.asarray(bytes_per_vector, np.float64)
    s = np.asarray(scores, np.float64)
    dominated = ((b[None, :] <= b[:, None]) & (s[None, :] >= s[:, None])
                 & ((b[None, :] < b[:, None]) | (s[None, :] > s[:, None])))
    return ~dominated.any(axis=1)


def front_value(bytes_per_vector: Sequence[float], scores: Sequence[float], budget: float) -> float | None:
    """Best score of any point with bytes <= ``budget`` (the front's height there); None if none."""
    b = np.asarray(bytes_per_vector, np.float64)
    s = np.asarray(scores, np.float64)
    ok = b <= budget
    return float(s[ok].max()) if ok.any() else None


def best_under(records: Sequence[dict[str, Any]], budget: float, score: Callable[[dict], float | None],
               keep: Callable[[dict], bool] = lambda r: True) -> dict[str, Any] | None:
    """The record with the highest ``score(r)`` among those with ``bytes_per_vector <= budget``."""
    cands = [(score(r), r) for r in records if keep(r) and r.get("bytes_per_vector") is not None
             and r["bytes_per_vector"] <= budget and score(r) is not None]
    return max(cands, key=lambda c: c[0])[1] if cands else None
