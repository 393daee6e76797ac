"""QWEM benchmark (issue 6, spec qwem.md): closed form vs peers, dynamics vs theory, critical sizes.

A thin config over :mod:`emblab.words.experiment` (the stages as cells of one resumable
``CellStore``) and :mod:`emblab.words.experiment_report` (markdown and figures from the JSON).
Writes ``benchmarks/results/qwem.json`` (kind "qwem"), ``qwem.md`` and ``qwem_*.png``.

Usage (full run; a rerun computes only the cells the store lacks)::

    EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=2 python benchmarks/qwem.py

Re-render ``qwem.md`` and the figures from the committed ``qwem.json`` (runs nothing)::

    python benchmarks/qwem.py --render

Configuration (chosen for the spec's CPU budget, section 8; see qwem.md in results):
* IMDB, V = 10,000, L = 16, k = 1, d = 200: closed form, full-batch GD, svd(PPMI), svd(PMI), gensim SGNS.
* IMDB, V = 5,000: closed form top-1024 (dense evr) -> accuracy vs d (2..1024), critical sizes, SNR;
  full-batch GD (aligned d = 16, sigma = 1e-6; random d = 64, sigma = 1e-4) -> dynamics vs theory and
  accuracy vs step; a short sampled-SGD run (QWEM and SGNS losses on one sampler).
* text8 prefix (one stream), V = 5,000: closed form, full-batch GD, svd(PPMI), svd(PMI), gensim SGNS.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from emblab.data.paths import cache_dir
from emblab.experiment import CellStore
from emblab.words.experiment import FINGERPRINT, STAGES, QwemConfig, run_qwem
from emblab.words.experiment_report import render_qwem, write_qwem

OUT = Path(__file__).resolve().parent / "results"
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--render", action="store_true", help="re-render qwem.md and the figures from qwem.json")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma list of stages to run")
    ap.add_argument("--store", default=str(cache_dir() / "bench_qwem"), help="cell store (resumed)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--V", type=int, default=10000, help="IMDB vocabulary for the large peer table")
    ap.add_argument("--V-small", type=int, default=5000, help="vocabulary for critical size / dynamics / SGD")
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--d-max", type=int, default=1024)
    ap.add_argument("--dyn-d", type=int, default=64)
    ap.add_argument("--aligned-d", type=int, default=16)
    ap.add_argument("--init-scale", type=float, default=1e-6, help="sigma of the aligned run")
    ap.add_argument("--random-init-scale", type=float, default=1e-4)
    ap.add_argument("--random-dtype", default="float32")
    ap.add_argument("--n-snapshots", type=int, default=40)
    ap.add_argument("--sgns-epochs", type=int, default=1, help="gensim epochs on IMDB (text8 uses 5)")
    ap.add_argument("--sgd-max-steps", type=int, default=3000)
    ap.add_argument("--sgd-batch", type=int, default=20000)
    ap.add_argument("--sgd-d", type=int, default=64)
    ap.add_argument("--sgd-lr", type=float, default=0.0, help="0: the random GD run's step")
    ap.add_argument("--sgd-init", type=float, default=0.1)
    ap.add_argument("--dtype-10k", default="float32", help="precision of the V=10k factorisations")
    ap.add_argument("--eig-10k", default="dense", choices=["dense", "eigsh", "torch", "auto"])
    ap.add_argument("--gd-init", type=float, default=1e-3, help="init scale of the trained-QWEM rows (V=10k, text8)")
    args = ap.parse_args(argv)
    if args.render:
        render_qwem(args.out)
        log(f"re-rendered {args.out}/qwem.md and figures")
        return 0
    cfg = QwemConfig(V=args.V, V_small=args.V_small, d=args.d, d_max=args.d_max, dyn_d=args.dyn_d,
                     aligned_d=args.aligned_d, init_scale=args.init_scale, random_init_scale=args.random_init_scale,
                     random_dtype=args.random_dtype, n_snapshots=args.n_snapshots, sgns_epochs=args.sgns_epochs,
                     sgd_max_steps=args.sgd_max_steps, sgd_batch=args.sgd_batch, sgd_d=args.sgd_d, sgd_lr=args.sgd_lr,
                     sgd_init=args.sgd_init, dtype_large=args.dtype_10k, eig_large=args.eig_10k, gd_init=args.gd_init,
                     stages=tuple(s for s in args.stages.split(",") if s))
    command = "python benchmarks/qwem.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write = lambda records, extra: write_qwem(args.out, records, extra, command=command.strip())  # noqa: E731
    write(*run_qwem(cfg, CellStore(args.store, FINGERPRINT), log=log, on_stage=write))
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
