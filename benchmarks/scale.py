"""Scale benchmark (issue 9, part 5): out-of-core and Ray encoding, a 5 GB kill-and-resume run,
exhaustive search at 10^5..10^7 and a Qdrant round trip (experiment: ``emblab.scale.experiment``).

Data: real ``imdb_unsup`` MiniLM vectors repeated with noise (``--sigma``), 100 parquet files of
``--file-rows`` rows generated under ``--work`` (15.6 GB at the default; deleted at the end unless
``--keep``). Each measurement is a cell of the store ``$EMBLAB_CACHE/scale_cells/<config>/``: a
rerun (after a crash, a ``--deadline`` or a failed cell) computes only the cells it lacks. Writes
``benchmarks/results/scale.json`` (kind ``scale``) and ``scale.md`` rendered from it.

Usage::

    EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=1 python benchmarks/scale.py \
        --work ~/.cache/emblab/scale_bench --deadline 15:50
    # smoke run (10^5 rows in 100 files of 1,000 rows; minutes, Ray included)
    ... benchmarks/scale.py --out /tmp/scale_smoke --work /tmp/scale_smoke/work --file-rows 1000 --fit-rows 5000
    python benchmarks/scale.py --render   # re-write scale.md from the committed scale.json, running nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import shutil
import sys
from pathlib import Path

from emblab.data.paths import cache_dir, data_root
from emblab.experiment import write_results
from emblab.scale.experiment import ScaleConfig, run
from emblab.scale.report import render_scale

HERE = Path(__file__).resolve().parent


def deadline_ts(hhmm: str | None) -> float | None:
    """``HH:MM`` (UTC, today) as a Unix time."""
    if not hhmm:
        return None
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.now(dt.timezone.utc).replace(hour=h, minute=m, second=0, microsecond=0).timestamp()


def show(rec: dict, resumed: bool) -> None:
    keys = ("stage", "key", "method", "n", "engine", "vectors_per_s", "seconds", "peak_mb", "error")
    print(("(stored) " if resumed else "") + " ".join(f"{k}={rec[k]}" for k in keys if k in rec), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--work", default=str(cache_dir() / "scale_bench"))
    ap.add_argument("--store", default=str(cache_dir() / "scale_cells"), help="root of the cell stores")
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--file-rows", type=int, default=100_000, help="rows per generated parquet file")
    ap.add_argument("--max-files", type=int, default=100, help="files generated; inputs needing more are skipped")
    ap.add_argument("--fit-rows", type=int, default=50_000, help="real vectors the models are fitted on")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--no-qdrant", action="store_true")
    ap.add_argument("--deadline", default=None, help="HH:MM UTC: cells not started by then are left to a rerun")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and codes in --work")
    ap.add_argument("--render", action="store_true", help="only re-write scale.md from scale.json in --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.render:
        cfg = ScaleConfig(work=str(Path(args.work).expanduser()), sigma=args.sigma, file_rows=args.file_rows,
                          base=str(data_root() / "embeddings_minilm" / "imdb_unsup.f16.npy"),
                          max_files=args.max_files, fit_rows=args.fit_rows, engines=tuple(args.engines.split(",")),
                          qdrant_spec=None if args.no_qdrant else ScaleConfig.qdrant_spec,
                          deadline=deadline_ts(args.deadline))
        records, skipped = run(cfg, args.store, on_record=show)
        skipped += [f"{r['stage']} {r['cell']}" for r in records if r.get("skipped")]
        command = (f"EMBLAB_DATA={os.environ.get('EMBLAB_DATA', '')} OMP_NUM_THREADS=1 python benchmarks/scale.py "
                   + shlex.join(argv if argv is not None else sys.argv[1:]))
        write_results(out / "scale.json", "scale", [r for r in records if not r.get("skipped")], command=command,
                      dataset={"name": "imdb_unsup repeated with noise", "sigma": cfg.sigma,
                               "queries": f"{cfg.queries}[:{cfg.nq}]"}, skipped=skipped)
        if not args.keep:
            shutil.rmtree(cfg.work, ignore_errors=True)
    print(f"wrote {render_scale(out / 'scale.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
