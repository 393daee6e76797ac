"""Recommendation benchmark (issue 18): collaborative item vectors, compressed, against popularity.

Tasks: ``recsys/movielens_100k`` and ``recsys/movielens_latest_small`` (every rating is an
interaction; leave-last-out by timestamp for HR@10 / NDCG@10, leave-last-5 for Recall@10), with
implicit ALS item and user factors of width 64 and 256 (regularization, alpha and weighting chosen
on a validation split, the last training item of each user; see ``emblab.recsys.factors``).

Methods at equal bytes per item vector (8/16/32/64 B for 64-d factors, 32/64/128/256 B for 256-d):
every peer of ``peer_specs_for_budgets`` (PCA-ordered truncation ``pca:dim=p``, raw truncation,
PCA-int8, PQ/OPQ, int8/SQ8, SQ4, binary) and the SAE with top-k and OMP codes (h = 16 d, k = B/4,
batch 128, about 1,500 training steps: 100 epochs on ml-100k, 20 on ml-latest-small; the step
count was chosen on catalogue reconstruction cosine, which involves no interaction). Every method
is scored twice (RecsysTask codings): direction + float16 norm (+2 B) and raw vectors.

Everything (scoring, CF fits and their cache, SAE checkpoints, resume) lives in the library; this
file is the configuration. Usage::

    EMBLAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/recsys.py [--factors 64,256]
        [--datasets movielens_100k,movielens_latest_small] [--out benchmarks/results]

Writes ``recsys.json`` and ``recsys.md``. Every finished (task, spec) is a cell kept in
``$EMBLAB_CACHE/bench/<fingerprint>``: a rerun computes only the missing ones. ``--render``
re-writes ``recsys.md`` from the committed ``recsys.json`` without running anything.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

from emblab.bench.candidates import peer_specs_for_budgets  # noqa: E402
from emblab.bench.runner import cache_store, render_markdown, run_bench  # noqa: E402
from emblab.evaluation.tasks.recsys_task import recsys_movielens  # noqa: E402

BUDGETS = {64: (8, 16, 32, 64), 256: (32, 64, 128, 256)}
SAE_EPOCHS = {"movielens_100k": 100, "movielens_latest_small": 20}  # ~1,500 steps of 128 items


def methods_for(task) -> list[str]:
    d = task.fit_data().shape[1]
    # binary:rescore re-ranks Hamming candidates; scores here come from decoded vectors, where it
    # equals plain binary
    peers = [s for _, s in peer_specs_for_budgets(d, BUDGETS[d], pipelines=False, fastscan=False)
             if not s.startswith("binary:rescore")]
    epochs = SAE_EPOCHS[task.metadata.dataset]
    # the layout of the committed results (recsys.md): uint16 indices + float16 values (4 B per
    # non-zero), no centring or AuxK, top-k and OMP coding; packed codes are compared in sae_codes.md
    sae = [f"sae:h={16 * d},k={b // 4},batch_size=128,epochs={epochs},pack=false,index_coding=fixed,"
           f"value_bits=16,center=false,auxk=false,encoder={enc}" for b in BUDGETS[d] for enc in ("topk", "omp")]
    return peers + sae


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--factors", default="64,256")
    p.add_argument("--datasets", default="movielens_100k,movielens_latest_small")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    p.add_argument("--render", action="store_true", help="re-write recsys.md from the committed recsys.json only")
    a = p.parse_args(argv)
    if a.render:
        print(f"rendered {render_markdown(os.path.join(a.out, 'recsys.json'))}")
        return
    try:
        import faiss
        import torch

        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
    except ImportError:
        pass
    factors = [int(f) for f in a.factors.split(",")]
    tasks = [recsys_movielens(ds, cf=f"als:factors={f}", name=f"recsys/{ds}/als{f}")
             for ds in a.datasets.split(",") for f in factors]
    budgets = sorted({b for f in factors for b in BUDGETS[f]})

    def show(rec: dict) -> None:
        main_score = rec.get("main_score", "hr@10")
        print(f"{rec['task']:<36} {rec['method'][:60]:<60} {rec.get('variant', ''):<11} "
              f"{rec.get('bytes_per_vector', 0):>6g} B  " + (rec.get("error") or f"{main_score}={rec.get(main_score):.4f}"),
              flush=True)

    run_bench(methods_for, tasks, budgets, out_dir=a.out, name="recsys", store=cache_store, on_record=show,
              command=" ".join(["benchmarks/recsys.py"] + sys.argv[1:]),
              config={"factors": factors, "datasets": a.datasets, "budgets": {str(k): v for k, v in BUDGETS.items()},
                      "sae_epochs": SAE_EPOCHS})


if __name__ == "__main__":
    main()
