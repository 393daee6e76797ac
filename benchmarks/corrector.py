"""Corrector networks vs stale / periodically refreshed / fresh caches (issue 7, spec corrector.md).

Runs every method (inbatch, stale, refresh-R for several R, corrector, oracle) for each seed on
the synthetic drifting-target task and on SciFact (frozen MiniLM features + shared adapter, IMDB
distractors), then writes per task::

    benchmarks/results/corrector_<task>.json   kind "corrector": records with curves + summary + headline
    benchmarks/results/corrector_<task>.md     tables, headline ratio, reading, provenance footer
    benchmarks/results/corrector_<task>_quality.png, corrector_<task>_drift.png

The runs are cells of :mod:`emblab.retrieval.experiment` kept in ``$EMBLAB_CACHE/corrector_cells/``
(an interrupted benchmark resumes where it stopped); tables, figures and provenance come from the
library. Usage::

    OMP_NUM_THREADS=1 EMBLAB_DATA=../shared/data python benchmarks/corrector.py --setting cpu \
        --seeds 0,1,2 --budget-min 600
    python benchmarks/corrector.py --render     # re-write the .md and .png from the committed .json
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="synthetic,scifact")
    ap.add_argument("--setting", default="cpu", choices=["cpu", "full"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--refresh", default="10,50,200", help="R values of the periodic-refresh baseline")
    ap.add_argument("--budget-min", type=float, default=24.0, help="skip runs not yet started after this many minutes")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--render", action="store_true", help="only re-write .md and .png from the results JSON in --out")
    ap.add_argument("--note", default="", help="provenance note stored in the JSON and shown in the markdown")
    args = ap.parse_args(argv)
    from emblab.retrieval.experiment import benchmark, render_corrector, write_corrector

    out = Path(args.out)
    tasks = args.tasks.split(",")
    if args.render:
        for name in tasks:
            render_corrector(out / f"corrector_{name}.json", name)
        return 0
    import torch

    from emblab.data.paths import cache_dir

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    command = "python benchmarks/corrector.py " + shlex.join(argv if argv is not None else sys.argv[1:])

    def show(rec: dict) -> None:
        fin = rec["final"]["test"]
        print(f"{rec['task']} s{rec['config']['seed']} {rec['label']:12s} R@10 {fin['recall@10']:.4f} "
              f"nDCG@10 {fin['ndcg@10']:.4f} refresh {rec['counts']['refresh']:>10,} "
              f"cos(g0,g) {rec['curve'][-1]['cos_g0_fresh']:.3f} {rec['wall_s']:.0f}s"
              + (" (stored)" if rec["reused_from_cache"] else ""), flush=True)

    runs = benchmark(tasks, args.setting, [int(s) for s in args.seeds.split(",")],
                     [int(r) for r in args.refresh.split(",")], store_root=cache_dir() / "corrector_cells",
                     budget_s=args.budget_min * 60, progress=sys.stderr.isatty(), on_record=show)
    out.mkdir(parents=True, exist_ok=True)
    for name, (task, records) in runs.items():
        if records:
            write_corrector(out / f"corrector_{name}.json", task, records, command=command, note=args.note)
            render_corrector(out / f"corrector_{name}.json", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
