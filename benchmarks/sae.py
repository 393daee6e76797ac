"""CompresSAE benchmark side by side with the peers (issue 3, specs/sae.md).

Stages (the experiment lives in :mod:`emblab.bench.sae_study`; every finished cell is kept in
``$EMBLAB_CACHE/bench_sae/<stage>/``, so an interrupted run resumes):

``imdb``      knn_fidelity/imdb-minilm: peers and the headline SAEs       -> results/sae_imdb.{json,md}
``transfer``  beir_scifact, and the MovieLens title-embedding no-signal control  -> sae_transfer
``scale``     search latency / throughput at 10^5 and 10^6 items, one thread  -> sae_scale
``grid``      IMDB Recall@10 over h x k (few epochs) and recipe ablations  -> sae_grid

Each stage also re-writes ``sae_acceptance.md`` (``sae_summary.md`` is the hand-written narrative).

Full run::

    EMBLAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/sae.py --stages imdb,transfer,scale,grid

Re-write every markdown page from the committed JSON, running nothing::

    python benchmarks/sae.py --render

List options (``--imdb-methods``, ``--grid-ablations``...) take ``;``-separated values, number lists
``,``-separated; see ``SaeStudyConfig`` for the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from emblab.bench.sae_study import STAGES, SaeStudyConfig, run_stage  # noqa: E402
from emblab.bench.sae_study_report import render, write_acceptance  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def config_args(p: argparse.ArgumentParser) -> None:
    """One ``--option`` per field of SaeStudyConfig (lists: ';' for text, ',' for numbers)."""
    for f in dataclasses.fields(SaeStudyConfig):
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=None)


def build_config(a: argparse.Namespace) -> SaeStudyConfig:
    cfg = SaeStudyConfig()
    for f in dataclasses.fields(cfg):
        text, default = getattr(a, f.name), getattr(cfg, f.name)
        if text is None:
            continue
        if isinstance(default, list):
            value = [int(v) for v in text.split(",")] if default and isinstance(default[0], int) else text.split(";")
        else:
            value = type(default)(text)
        setattr(cfg, f.name, value)
    return cfg


def log(rec: dict, resumed: bool) -> None:
    scores = {k: round(v, 4) for k, v in (rec.get("scores") or {}).items() if isinstance(v, float)}
    print(f"[{'resumed' if resumed else 'done'}] {rec.get('key', rec['cell'])} {scores or rec.get('error', '')}",
          flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", default="imdb,transfer,scale,grid", help=f"comma list of {', '.join(STAGES)}")
    p.add_argument("--render", action="store_true", help="re-write the markdown from the committed JSON only")
    p.add_argument("--store", default=None, help="cell store folder (default $EMBLAB_CACHE/bench_sae)")
    p.add_argument("--results", default=str(RESULTS))
    config_args(p)
    a = p.parse_args(argv)
    if a.render:
        for page in render(Path(a.results)):
            print(page)
        return 0
    import torch
    import faiss

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    from emblab.data.paths import cache_dir

    cfg, root = build_config(a), Path(a.store or cache_dir() / "bench_sae")
    command = "python benchmarks/sae.py " + " ".join(sys.argv[1:] if argv is None else argv)
    for stage in a.stages.split(","):
        run_stage(stage, cfg, root, Path(a.results), command=command, on_record=log)
    write_acceptance(Path(a.results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
