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
            f"`{r.get('key', r['method'])}`", _f(r["bytes_per_vector"], 0),
            *[_f(s.get(f"recall@10_{m}")) for m in modes],
            _f(s.get("r10@100_asym")), _f(s.get("r10@100_sparse")),
            f"{_f(r.get('fit_time_s'), 0)}/{_f(r.get('fit_cpu_s'), 0)}",
            _f(100 * use["dead_fraction"], 1) if use else "–",
            _f(use.get("effective_latents"), 0) if use else "–",
            _f(vc[r["extra"]["best_epoch"]] if vc and x.get("best_epoch", -1) >= 0 else None)]) + " |")
    return head + "\n".join(rows) + "\n"


def _control(r: dict) -> dict:
    """MovieLens title-embedding rows of a record (``recsys`` in records written before issue 18)."""
    return r.get("title_control", r.get("recsys", {}))


def _hr(v: dict):
    return v.get("hr@10", v.get("hitrate@10"))


def _transfer_table(recs: list[dict]) -> str:
    pop = [_hr(_control(r).get(n, {}).get("popularity", {})) for r in recs if r["method"] == "float32"
           for n in ("movielens_100k", "movielens_latest_small")]
    out = [f"MovieLens columns: MiniLM **title** embeddings, the no-signal control (popularity HR@10 "
           f"{' / '.join(_f(p) for p in pop)} on ml-100k / ml-latest-small). Collaborative item vectors, "
           "compressed: `recsys.md`.", "",
           "| method | B/vec | SciFact nDCG@10 asym | nDCG@10 sym | nDCG@10 sparse | nDCG@10 recon | R@100 asym |"
           " ml-100k HR@10 (control) | ml-100k NDCG@10 (control) | ml-100k R@10 last5 (control) |"
           " ml-small HR@10 (control) | ml-small R@10 last5 (control) | fit s (SciFact) |", "|" + "---|" * 13]
    for r in sorted(recs, key=lambda r: (r["bytes_per_vector"], r["method"])):
        s = r["scifact"]
        rows = {}
        for n in ("movielens_100k", "movielens_latest_small"):
            res = _control(r).get(n, {})
            best = res.get("asymmetric", {})
            rows[n] = best
        a, b = rows["movielens_100k"], rows["movielens_latest_small"]
        out.append("| " + " | ".join([f"`{r['method']}`", _f(r["bytes_per_vector"], 0), _f(s.get("ndcg@10")),
                                      _f(s.get("ndcg@10_sym")), _f(s.get("ndcg@10_sparse")),
                                      _f(s.get("ndcg@10_reconstructed")), _f(s.get("recall@100")),
                                      _f(_hr(a)), _f(a.get("ndcg@10")), _f(a.get("recall@10_last5")),
                                      _f(_hr(b)), _f(b.get("recall@10_last5")),
                                      _f((r.get("fit_time_s") or {}).get("scifact"), 1)]) + " |")
    # every mode / variant of the recommendation task
    out += ["", "MovieLens title embeddings (no-signal control), every scoring mode (HR@10 / NDCG@10 / Recall@10 "
            "leave-last-5):", "", "| method | dataset | mode | HR@10 | NDCG@10 | R@10 last5 |", "|---|---|---|---|---|---|"]
    for r in recs:
        for n, res in _control(r).items():
            for mode, v in res.items():
                out.append(f"| `{r['method']}` | {n} | {mode} | {_f(_hr(v))} | {_f(v.get('ndcg@10'))} "
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
    title = {"imdb": "SAE vs peers: IMDB kNN fidelity",
             "transfer": "SAE vs peers: SciFact, and the MovieLens title-embedding control",
             "scale": "SAE search latency and throughput", "grid": "SAE h x k grid (IMDB, few epochs)"}[stage]
    body = {"imdb": _knn_table, "grid": _knn_table, "transfer": _transfer_table, "scale": _scale_table}[stage](recs)
    return f"# {title}\n\n{body}\n## Environment\n{_env(doc)}"


# --- acceptance summary (issue 3) ----------------------------------------------------------------
_IMDB_MODES = ("recall@10_asym", "recall@10_sym", "recall@10_sparse", "recall@10_reconstructed")
_SCI_MODES = ("ndcg@10", "ndcg@10_sym", "ndcg@10_sparse", "ndcg@10_reconstructed")


def _best(recs: list[dict], budget: float, keys: tuple[str, ...], scores_of, exact: bool) -> tuple[float, str] | None:
    """(best score, 'method [mode]') over records at (or, if not exact, under) ``budget`` bytes."""
    best = None
    for r in recs:
        b = r.get("bytes_per_vector")
        if b is None or (b != budget if exact else b > budget):
            continue
        s = scores_of(r)
        for k in keys:
            if s.get(k) is not None and (best is None or s[k] > best[0]):
                best = (float(s[k]), f"`{r.get('key', r['method'])}` ({k}, {b:g} B)")
    return best


def summary(imdb: dict | None, transfer: dict | None, scale: dict | None, grid: dict | None,
            peers: dict | None) -> str:
    """Acceptance table of issue 3 from the result documents (peers.json supplies the OPQ rows)."""
    out = ["# CompresSAE (`sae`) acceptance summary (generated by `benchmarks/sae.py --stages report`)", ""]
    is_sae = lambda r: str(r.get("method", "")).startswith("sae")  # noqa: E731
    p_imdb = [r for r in (peers or {}).get("records", []) if r["task"] == "knn_fidelity/imdb-minilm"]
    p_sci = [r for r in (peers or {}).get("records", []) if r["task"] == "beir_scifact"]
    if imdb:
        recs = imdb["records"]
        sae = [r for r in recs if is_sae(r)] + (grid or {}).get("records", [])  # same task and protocol
        peer = [r for r in recs if not is_sae(r) and r["method"] != "float32"] + p_imdb
        out += ["## IMDB Recall@10 (best SAE mode vs best peer at or under the same bytes)", "",
                "| B/vector | best SAE | best peer | SAE − peer | met |", "|---|---|---|---|---|"]
        for budget in (64, 128):
            s = _best(sae, budget, _IMDB_MODES, lambda r: r["scores"], True)
            p = _best(peer, budget, _IMDB_MODES, lambda r: r.get("scores", r), False)
            if s and p:
                out.append(f"| {budget} | {s[0]:.3f} {s[1]} | {p[0]:.3f} {p[1]} | {s[0] - p[0]:+.3f} | "
                           f"{'yes' if s[0] >= p[0] else 'no'} |")
        d = next((r for r in recs if r.get("key") == "sae:h=4096,k=32"), None)
        if d:
            out += ["", f"Fit of the default setting `sae:h=4096,k=32` on 50,000 x 384 (10 epochs, batch 1024): "
                        f"{d['fit_time_s']:.0f} s wall on this CPU (goal < 300 s: "
                        f"{'met' if d['fit_time_s'] < 300 else 'not met'})."]
    if transfer:
        recs = transfer["records"]
        own = [r for r in recs if is_sae(r) and "imdb" not in str(r.get("fit_set", ""))]
        peer = [r for r in recs if not is_sae(r) and r["method"] != "float32"] + p_sci
        full = next((r["scifact"]["ndcg@10"] for r in recs if r["method"] == "float32"), None)
        out += ["", "## SciFact nDCG@10 (SAE fit on the SciFact corpus)", "",
                "| B/vector | best SAE | best peer | SAE − peer | met | SAE / uncompressed |", "|---|---|---|---|---|---|"]
        for budget in (64, 128):
            s = _best(own, budget, _SCI_MODES, lambda r: r["scifact"], True)
            p = _best(peer, budget, _SCI_MODES, lambda r: r.get("scifact", r), False)
            if s and p:
                ratio = f"{s[0] / full:.3f}" + (" (goal ≥ 0.98)" if budget == 128 else "") if full else "–"
                out.append(f"| {budget} | {s[0]:.4f} {s[1]} | {p[0]:.4f} {p[1]} | {s[0] - p[0]:+.4f} | "
                           f"{'yes' if s[0] >= p[0] else 'no'} | {ratio} |")
        if full:
            out.append(f"\nUncompressed SciFact nDCG@10: {full:.4f}.")
    if scale:
        out += ["", "## Single-query search at 10^6 codes (one thread, same process)", ""]
        for r in scale["records"]:
            lat = r["latency_ms"]
            if "sae_sparse_inverted" in lat and "faiss_flat_f32" in lat:
                line = (f"- n = {r['n']:,}: SAE sparse inverted {lat['sae_sparse_inverted']:.1f} ms vs FAISS flat "
                        f"float32 {lat['faiss_flat_f32']:.1f} ms ({lat['faiss_flat_f32'] / lat['sae_sparse_inverted']:.1f}x)")
                for pq in ("faiss_pq32_adc", "faiss_pq128_adc"):
                    if pq in lat:
                        line += f"; {pq} {lat[pq]:.1f} ms"
                out.append(line)
    if grid:
        out += ["", "## h x k grid (IMDB Recall@10 asym; `sae_grid.md`)", "",
                "| h | encoder | " + " | ".join(f"k={k}" for k in (4, 8, 16, 24, 32, 48, 64)) + " |",
                "|---|---|" + "---|" * 7]
        # the main grid's training specs end with the run's --grid-extra (recorded in the split note);
        # the recipe ablations share h=4096 / k_train=16 but not that suffix
        extra = str((grid.get("dataset") or {}).get("split", "")).split("epoch(s), ", 1)[-1]
        main = [r for r in grid["records"] if str(r.get("train_spec", r["key"].split("@")[0])).endswith(extra)]
        cells: dict = {}
        for r in main:
            cells[(r["h"], r.get("encoder", "topk"), r["k"])] = r["scores"]["recall@10_asym"]
        for h in sorted({k[0] for k in cells}):
            for enc in ("topk", "omp"):
                if any(k[:2] == (h, enc) for k in cells):
                    out.append(f"| {h} | {enc} | " + " | ".join(_f(cells.get((h, enc, k))) for k in (4, 8, 16, 24, 32, 48, 64)) + " |")
        abl: dict = {}
        for r in grid["records"]:
            if r["h"] == 4096 and r["k_train"] == 16 and r.get("train_spec"):
                abl.setdefault(r["train_spec"], {})[(r["k"], r.get("encoder", "topk"))] = r
        if abl:
            out += ["", "Recipe ablations (h=4096, trained at k=16, same epochs; Recall@10 asym, dead % of the "
                        "k=16 top-k catalogue codes):", "",
                    "| training spec | k=16 top-k | k=32 top-k | k=16 OMP | dead % |", "|---|---|---|---|---|"]
            for spec, c in abl.items():
                get = lambda k, e: _f(c[(k, e)]["scores"]["recall@10_asym"]) if (k, e) in c else "–"  # noqa: E731
                use = (c.get((16, "topk")) or {}).get("extra", {}).get("latent_usage_catalogue") or {}
                out.append(f"| `{spec}` | {get(16, 'topk')} | {get(32, 'topk')} | {get(16, 'omp')} | "
                           f"{_f(100 * use['dead_fraction'], 1) if use else '–'} |")
    return "\n".join(out) + "\n"
