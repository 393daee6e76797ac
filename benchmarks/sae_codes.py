"""Packed, quantised CompresSAE codes against the strongest quantisers at 32-128 B (issue 16).

The experiment lives in :mod:`emblab.bench.sae_codes_study` (cells) and
:mod:`emblab.bench.sae_codes_report` (results and markdown). Stages, over ``knn_fidelity/imdb-minilm``
and ``beir_scifact``:

``peers``  OPQ, PQ, RQ, LSQ, RaBitQ, PCA + int8 and binary at 32/48/64/96/128 B.
``sae``    SAEs trained once per (task, recipe), coded with every layout; SciFact also out of domain.
``scale``  single-query latency over 10^6 packed codes beside FAISS flat and PQ ADC.
``report`` ``results/sae_codes.{json,md}`` from the stored cells only.

Every cell is kept in ``$EMBLAB_CACHE/bench_sae_codes`` (fitted models too): a run resumes.

Full run::

    EMBLAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/sae_codes.py --stages peers,sae,scale,report

Re-write ``sae_codes.md`` from the committed JSON, running nothing::

    python benchmarks/sae_codes.py --render
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from emblab.bench.sae_codes_report import render, write_results_and_markdown  # noqa: E402
from emblab.bench.sae_codes_study import TASKS, run_study  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def log(rec: dict, resumed: bool) -> None:
    main = {k: round(v, 4) for k, v in rec.get("scores", {}).items()
            if k in ("recall@10_asym", "ndcg@10", "recall@10_adc", "recall@10_reconstructed")}
    print(f"[{'resumed' if resumed else 'done'}] {rec.get('method', rec['cell'])} "
          f"{rec.get('bytes_per_vector')} B {main or rec.get('error', '')} ({rec.get('cell_s', 0):.0f}s)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="peers,sae,scale,report")
    ap.add_argument("--render", action="store_true", help="re-write sae_codes.md from the committed JSON only")
    ap.add_argument("--tasks", default="imdb,scifact")
    ap.add_argument("--models", default="A,T,W", help="IMDB training recipes (keys of TRAIN['imdb'])")
    ap.add_argument("--faiss-fit-rows", type=int, default=10_000)
    ap.add_argument("--skip", default="", help="comma list of peer spec prefixes not to run (e.g. faiss:LSQ)")
    ap.add_argument("--only", default="", help="comma list of peer spec prefixes to run (default: all)")
    ap.add_argument("--scale-n", default="1000000")
    ap.add_argument("--scale-coding", default="budget=64,value_bits=4,index_coding=ef",
                    help="coding of the SAE in the scale stage")
    ap.add_argument("--store", default=None, help="cell store folder (default $EMBLAB_CACHE/bench_sae_codes)")
    ap.add_argument("--results", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.render:
        print(render(Path(args.results)))
        return 0
    from emblab.data.paths import cache_dir
    from emblab.evaluation.tasks import get_task
    from emblab.registry import parse_stage

    stages = args.stages.split(",")
    root = Path(args.store or cache_dir() / "bench_sae_codes")
    scale_task = None
    if {"peers", "sae", "scale"} & set(stages):
        tasks = {k: get_task(TASKS[k]).load() for k in args.tasks.split(",")}
        if "scale" in stages and "imdb" not in tasks:
            scale_task = get_task(TASKS["imdb"]).load()
        skip = tuple(s for s in args.skip.split(",") if s) or ("\0",)
        only = tuple(s for s in args.only.split(",") if s) or ("",)
        run_study(root, stages, tasks, models=args.models.split(","), fit_rows=args.faiss_fit_rows,
                  keep=lambda spec: spec.startswith(only) and not spec.startswith(skip),
                  scale_n=[int(v) for v in args.scale_n.split(",")],
                  scale_coding=dict(parse_stage("x:" + args.scale_coding)[1]), scale_task=scale_task,
                  on_record=log)
    if "report" in stages:
        write_results_and_markdown(root, Path(args.results), command="OMP_NUM_THREADS=1 python benchmarks/sae_codes.py "
                                   + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
