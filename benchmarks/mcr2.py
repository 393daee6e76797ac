"""Benchmark: MCR² projection heads vs PCA / truncation on all-MiniLM-L6-v2 sentence embeddings.

STS-B and SICK-R (Spearman of cosine, both sides compressed) and SciFact nDCG@10 (300 test
queries, exact search, queries and documents compressed); every method is compared in its code
space. Fit set: unique STS-B train + SICK TRAIN sentences plus the SciFact corpus. ``--phase
select`` scores dev splits only (configuration choice); ``--phase final`` the test splits, once.
The experiment (data, cells, scoring through the task classes, tables) is
:mod:`emblab.bench.mcr2_study`; every head and baseline is a cell of a store under
``$EMBLAB_CACHE/bench_mcr2/<out>``, so a run cut short resumes.

Usage::

    EMBLAB_DATA=../shared/data OMP_NUM_THREADS=2 python benchmarks/mcr2.py --phase final
    EMBLAB_DATA=../shared/data OMP_NUM_THREADS=2 python benchmarks/mcr2.py --phase select \\
        --dims 64,128 --out mcr2_select_lr --epochs 10 --variants "mcr2 linear pca-init lr=1e-4,..."
    python benchmarks/mcr2.py --render        # every results/mcr2*.md from its JSON, nothing run

Writes ``benchmarks/results/<out>.json`` (kind "compression") and ``<out>.md`` (``mcr2`` by default;
the dev sweeps are ``mcr2_select_*``, their commands are in their footers). ``mcr2_notes.md`` is
appended to the test table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from emblab.bench import mcr2_study as study
from emblab.data.paths import cache_dir
from emblab.experiment import CellStore, read_results, write_results
from emblab.io import atomic_write_text, fingerprint_array

RESULTS = Path(__file__).resolve().parent / "results"


def render(name: str) -> None:
    doc = read_results(RESULTS / f"{name}.json").to_dict()
    notes = RESULTS / "mcr2_notes.md"
    atomic_write_text(RESULTS / f"{name}.md", study.render(doc, notes.read_text() if notes.exists() else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=("select", "final"), default="final")
    ap.add_argument("--dims", default=",".join(map(str, study.DIMS)))
    ap.add_argument("--variants", default=None, help="comma list of names (default: all of the phase)")
    ap.add_argument("--epochs", type=int, default=None, help="replace every head's epochs")
    ap.add_argument("--out", default=None, help="results name (default mcr2 / mcr2_select)")
    ap.add_argument("--store", default=str(cache_dir() / "bench_mcr2"), help="cell store root")
    ap.add_argument("--render", action="store_true", help="re-write the markdown from the JSON, run nothing")
    args = ap.parse_args(argv)
    sel = args.phase == "select"
    name = args.out or ("mcr2_select" if sel else "mcr2")
    if args.render:
        for n in [args.out] if args.out else sorted(p.stem for p in RESULTS.glob("mcr2*.json")):
            render(n)
        return 0
    t0 = time.perf_counter()
    table = study.SELECT if sel else study.FINAL
    if args.variants:
        table = {k: v for k, v in table.items() if k in args.variants.split(",")}
    data = study.load_data(scifact=not sel)
    print(data.info, f"data ready in {time.perf_counter() - t0:.1f}s", flush=True)
    store = CellStore(Path(args.store) / name, f"mcr2/{args.phase}/{fingerprint_array(data.fit)['sha256'][:16]}")
    cmd = "python benchmarks/mcr2.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows: list[dict] = []
    sci = None if sel else "scifact_beir test (300 queries, 339 qrels), exact search"

    def save():  # after every new cell, so a run cut short still leaves honest partial results
        write_results(RESULTS / f"{name}.json", "compression", rows, command=cmd,
                      dataset={**data.info, "splits": list(study.SPLITS[args.phase]), "phase": args.phase,
                               "scifact": sci}, total_seconds=time.perf_counter() - t0)
        render(name)

    def on_record(rec, resumed):
        rows.extend(study.rows_of([rec]))
        print(("resumed " if resumed else "") + str({k: v for k, v in rows[-1].items() if k not in ("cell",)}),
              flush=True)
        if not resumed:
            save()

    study.run_study(store, data, args.phase, [int(x) for x in args.dims.split(",")], table,
                    epochs=args.epochs, on_record=on_record)
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
