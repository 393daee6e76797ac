"""Corrector networks vs stale / periodically refreshed / fresh caches (issue 7, spec corrector.md).

Runs every method (inbatch, stale, refresh-R for several R, corrector, oracle) for each seed on
the synthetic drifting-target task and on SciFact (frozen MiniLM features + shared adapter, IMDB
distractors), then writes per task::

    benchmarks/results/corrector_<task>.json   kind "corrector": records with curves + summary + headline
    benchmarks/results/corrector_<task>.md     tables, headline ratio, machine, versions, command, date
    benchmarks/results/corrector_<task>_quality.png, corrector_<task>_drift.png

Each finished run is also kept in ``$EMBLAB_CACHE/corrector_bench/`` so an interrupted benchmark
resumes where it stopped. Usage::

    OMP_NUM_THREADS=1 EMBLAB_DATA=../shared/data python benchmarks/corrector.py --setting cpu
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Bumped when a run record changes meaning, so cached runs of older code are not reused
# (2: every row through h is counted, replay rows included; costs in g-forward equivalents).
RECORD_VERSION = 2


def _methods(refresh: list[int]) -> list[tuple[str, int | None]]:
    return [("inbatch", None), ("stale", None)] + [("refresh", r) for r in refresh] + [("corrector", None), ("oracle", None)]


def run_block(task_name: str, setting: str, seed: int, refresh: list[int], work: Path,
              report_only: bool = False) -> list[dict]:
    """Every method for one (task, seed); finished runs are reused from ``work``."""
    import hashlib

    import torch

    from emblab.retrieval.experiments import build_experiment
    from emblab.retrieval.train import train_retriever

    records = []
    for method, r in _methods(refresh):
        label = f"refresh-R{r}" if r else method
        task, cfg = build_experiment(task_name, setting, method=method, refresh_every=r, seed=seed)
        key = hashlib.sha256(json.dumps([task.info, cfg.__dict__, RECORD_VERSION], sort_keys=True,
                                        default=str).encode()).hexdigest()[:10]
        path = work / f"{task_name}_{setting}" / f"{label}_s{seed}_{key}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            rec["reused_from_cache"] = True
            records.append(rec)
            continue
        if report_only:
            continue
        torch.manual_seed(seed)
        rec = train_retriever(task, cfg, progress=sys.stderr.isatty())
        rec["task_info"] = task.info
        rec["reused_from_cache"] = False
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))
        fin = rec["final"][task.final_split]
        print(f"{task_name} s{seed} {label:12s} R@10 {fin['recall@10']:.4f} nDCG@10 {fin['ndcg@10']:.4f} "
              f"refresh {rec['counts']['refresh']:>10,} cos(g0,g) {rec['curve'][-1]['cos_g0_fresh']:.3f} "
              f"{rec['wall_s']:.0f}s", flush=True)
        records.append(rec)
    return records


def write_outputs(task_name: str, records: list[dict], info: dict, command: str, out_dir: Path, note: str = "") -> dict:
    import numpy as np

    from emblab.experiment import environment, write_results
    from emblab.retrieval.report import headline, markdown_table, plot_drift, plot_quality, summarize

    split = "test"
    curve_key = f"{'val' if task_name == 'synthetic' else 'test'}/recall@10"
    summ = {m: summarize(records, m, split) for m in ("recall@10", "ndcg@10")}
    heads = {m: headline(summ[m], m) for m in summ}
    stem = f"corrector_{task_name}"
    write_results(out_dir / f"{stem}.json", "corrector", records, command=command, dataset=info,
                  summary=summ["recall@10"], headline=heads, metric_split=split, curve_metric=curve_key)
    plot_quality(records, curve_key, out_dir / f"{stem}_quality.png",
                 f"corrector benchmark, {task_name}: {curve_key} vs target-encoder refresh passes (mean over seeds)")
    plot_drift(records, out_dir / f"{stem}_drift.png", f"corrector benchmark, {task_name}: drift and top-10 overlap")
    env = environment(command)
    metrics = ["recall@1", "recall@10", "recall@100", "ndcg@10"]
    lines = [f"# Corrector networks: {task_name}", "",
             f"Setting: `{info.get('setting')}`; task: `{json.dumps({k: v for k, v in info.items() if k != 'g_flops_note'})}`", "",
             f"Every cost is in forward-pass equivalents of g ({info.get('g_flops_note', '')}): refresh "
             "encodes count 1 each; h counts the FLOPs of every row through it (scoring 1 forward, training "
             "3 = forward + backward, replay rows included); maintenance = refresh + h; total compute adds "
             "the loss encodes (3 each).", "",
             "Configuration of every run (`RetrieverConfig`; a row's label sets `method`, and `refresh_every` "
             "for refresh-R rows, which is unused by the others; seeds as listed below): `"
             + json.dumps({k: v for k, v in records[0]["config"].items() if k not in ("method", "seed", "refresh_every")},
                          sort_keys=True) + "`", "",
             markdown_table(summ["recall@10"], metrics, split), "",
             f"Runs: {len(records)} (seeds {sorted({r['config']['seed'] for r in records})}); "
             f"{sum(1 for r in records if r.get('reused_from_cache'))} were reused from the run cache written by an "
             f"earlier invocation of this script with identical task and config; summed per-run wall time "
             f"{sum(r['wall_s'] for r in records) / 60:.1f} min on this shared machine.", ""]
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
    lines += _reading(summ["recall@10"], heads.get("recall@10") or {})
    from emblab.retrieval.report import paired_differences

    labels = [r["label"] for r in summ["recall@10"]]
    if "corrector" in labels:
        lines += ["Paired per-seed differences, corrector minus method (each seed draws the same batches for "
                  "every method):", "", "| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for lbl in labels:
            if lbl == "corrector":
                continue
            cells = []
            for m in metrics:
                d = paired_differences(records, m, split, "corrector", lbl)
                cells.append(f"{np.mean(d):+.4f} ({', '.join(f'{x:+.3f}' for x in d)})" if d else "")
            lines.append(f"| {lbl} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Environment", "", f"- machine: {env['machine']}", f"- emblab {env['emblab']}, python {env['python']}, "
              f"packages: {env['packages']}", f"- git commit: {env['git_commit']}", f"- command: `{command}`",
              f"- date (UTC): {env['date_utc']}", ""]
    (out_dir / f"{stem}.md").write_text("\n".join(lines), encoding="utf-8")
    return heads


def _num(x) -> str:
    return "none" if x is None else f"{x:.3g}"


def _reading(rows: list[dict], h: dict) -> list[str]:
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


def main(argv=None) -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="synthetic,scifact")
    ap.add_argument("--setting", default="cpu", choices=["cpu", "full"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--refresh", default="10,50,200", help="R values of the periodic-refresh baseline")
    ap.add_argument("--budget-min", type=float, default=24.0, help="skip runs not yet started after this many minutes")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--report-only", action="store_true", help="only rewrite outputs from already finished runs")
    ap.add_argument("--note", default="", help="provenance note copied into the markdown")
    args = ap.parse_args(argv)
    import torch

    from emblab.data.paths import cache_dir

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    work = cache_dir() / "corrector_bench"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/corrector.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    t0 = time.time()
    tasks = args.tasks.split(",")
    seeds = [int(x) for x in args.seeds.split(",")]
    refresh = [int(r) for r in args.refresh.split(",")]
    records: dict[str, list[dict]] = {t: [] for t in tasks}
    block_s: dict[str, float] = {}
    # Seed-major order so that every task gets complete seeds; a (task, seed) block is skipped when
    # the previous block of that task says it would not fit in the remaining budget.
    for seed in seeds:
        for task in tasks:
            left = args.budget_min * 60 - (time.time() - t0)
            if block_s.get(task, 0.0) > left:
                print(f"[budget] skipping {task} seed {seed}: last block took {block_s[task]:.0f}s, {left:.0f}s left",
                      flush=True)
                continue
            tb = time.time()
            records[task] += run_block(task, args.setting, seed, refresh, work, args.report_only)
            block_s[task] = time.time() - tb
            if not records[task]:
                continue
            heads = write_outputs(task, records[task], records[task][0].get("task_info", {}), command, out, args.note)
            print(json.dumps({task: heads}, default=str), flush=True)
    print(f"total {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
