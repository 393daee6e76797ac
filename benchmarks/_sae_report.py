"""Markdown tables for benchmarks/sae.py result documents (reads the JSON document only)."""

from __future__ import annotations

from typing import Any


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _env(doc: dict) -> str:
    e = doc["environment"]
    m = e.get("machine", {})
    pk = e.get("packages", {})
    return (f"\n- machine: {m}\n- python {e.get('python')}, emblab {e.get('emblab')}, numpy {pk.get('numpy')}, "
            f"scipy {pk.get('scipy')}, torch {pk.get('torch')}, faiss-cpu {pk.get('faiss-cpu')}\n"
            f"- command: `{e.get('command')}`\n- date (UTC): {e.get('date_utc')}, commit {e.get('git_commit')}\n"
            f"- dataset: {doc.get('dataset')}\n")


def _knn_table(recs: list[dict]) -> str:
    modes = ["asym", "sym", "sparse", "reconstructed"]
    head = ("| method | B/vec | R@10 asym | R@10 sym | R@10 sparse | R@10 recon | R10@100 asym | R10@100 sparse "
            "| fit s (wall/cpu) | dead % (catalogue) | eff. latents | val cos |\n|" + "---|" * 12 + "\n")
    rows = []
    for r in sorted(recs, key=lambda r: (r["bytes_per_vector"], r["method"])):
        s, x = r["scores"], r.get("extra", {})
        use = x.get("latent_usage_catalogue") or {}
        vc = x.get("val_recon_cos")
        rows.append("| " + " | ".join([
            f"`{r['method']}`", _f(r["bytes_per_vector"], 0),
            *[_f(s.get(f"recall@10_{m}")) for m in modes],
            _f(s.get("r10@100_asym")), _f(s.get("r10@100_sparse")),
            f"{_f(r.get('fit_time_s'), 0)}/{_f(r.get('fit_cpu_s'), 0)}",
            _f(100 * use["dead_fraction"], 1) if use else "–",
            _f(use.get("effective_latents"), 0) if use else "–",
            _f(vc[r["extra"]["best_epoch"]] if vc and x.get("best_epoch", -1) >= 0 else None)]) + " |")
    return head + "\n".join(rows) + "\n"


def _transfer_table(recs: list[dict]) -> str:
    out = ["| method | B/vec | SciFact nDCG@10 asym | nDCG@10 sym | nDCG@10 sparse | nDCG@10 recon | R@100 asym |"
           " ml-100k HR@10 | ml-100k NDCG@10 | ml-100k R@10 (last5) | ml-small HR@10 | ml-small R@10 (last5) |"
           " fit s (SciFact) |", "|" + "---|" * 13]
    for r in sorted(recs, key=lambda r: (r["bytes_per_vector"], r["method"])):
        s = r["scifact"]
        rows = {}
        for n in ("movielens_100k", "movielens_latest_small"):
            res = r["recsys"].get(n, {})
            best = res.get("asymmetric", {})
            rows[n] = best
        a, b = rows["movielens_100k"], rows["movielens_latest_small"]
        out.append("| " + " | ".join([f"`{r['method']}`", _f(r["bytes_per_vector"], 0), _f(s.get("ndcg@10")),
                                      _f(s.get("ndcg@10_sym")), _f(s.get("ndcg@10_sparse")),
                                      _f(s.get("ndcg@10_reconstructed")), _f(s.get("recall@100")),
                                      _f(a.get("hitrate@10")), _f(a.get("ndcg@10")), _f(a.get("recall@10_last5")),
                                      _f(b.get("hitrate@10")), _f(b.get("recall@10_last5")),
                                      _f((r.get("fit_time_s") or {}).get("scifact"), 1)]) + " |")
    # every mode / variant of the recommendation task
    out += ["", "MovieLens, every scoring mode (HR@10 / NDCG@10 / Recall@10 leave-last-5):", "",
            "| method | dataset | mode | HR@10 | NDCG@10 | R@10 last5 |", "|---|---|---|---|---|---|"]
    for r in recs:
        for n, res in r["recsys"].items():
            for mode, v in res.items():
                out.append(f"| `{r['method']}` | {n} | {mode} | {_f(v.get('hitrate@10'))} | {_f(v.get('ndcg@10'))} "
                           f"| {_f(v.get('recall@10_last5'))} |")
    return "\n".join(out) + "\n"


def _scale_table(recs: list[dict]) -> str:
    out = []
    for r in recs:
        out.append(f"\n**n = {r['n']:,}** ({r['note']})\n")
        out.append("| searcher | B/vec | latency 1 query (ms, median) | throughput (queries/s, batch) | build s |")
        out.append("|---|---|---|---|---|")
        bpv = r["bytes_per_vector"]
        for name, lat in r["latency_ms"].items():
            b = bpv.get(name, bpv.get("sae") if name.startswith("sae") else None)
            build = r["build_s"].get(name, r["build_s"].get("sae_index") if name.startswith("sae") else None)
            out.append(f"| {name} | {_f(b, 0)} | {_f(lat, 2)} | {_f(r['throughput_qps'].get(name), 1)} | {_f(build, 2)} |")
    return "\n".join(out) + "\n"


def markdown(stage: str, doc: dict) -> str:
    recs = doc["records"]
    title = {"imdb": "SAE vs peers: IMDB kNN fidelity", "transfer": "SAE vs peers: SciFact and MovieLens",
             "scale": "SAE search latency and throughput", "grid": "SAE h x k grid (IMDB, few epochs)"}[stage]
    body = {"imdb": _knn_table, "grid": _knn_table, "transfer": _transfer_table, "scale": _scale_table}[stage](recs)
    return f"# {title}\n\n{body}\n## Environment\n{_env(doc)}"
