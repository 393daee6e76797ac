"""A user's own BEIR folder through `emblab bench`: the shared SciFact data as `beir:DIR` (issue 14).

Lays out ``scifact_beir`` + the precomputed MiniLM vectors as a user's folder (symbolic links in a
temporary directory, :func:`emblab.data.beir.assemble_beir_folder`; nothing is copied or
committed), runs exactly what a user runs::

    emblab bench --task beir:DIR --budgets 32,64,128 [--full]

(the peers and the seed compressors at their best-measured configurations, then the verdict) into
``runs/user_data/bench`` (a rerun resumes from its ``cells/``) and copies its
``user_data_scifact.{json,md}`` into ``results/``. The folder is ``runs/user_data/scifact_beir``
(git-ignored), so the verdict's commands can be run as printed. The markdown ends with a
reproduction check: every row whose spec was also measured on ``beir_scifact`` with the corpus as
fit set (``peers.json``, ``sae_transfer.json``; ``mcr2.json`` fitted on another set) is listed with
both nDCG@10 values.

    EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=2 .venv/bin/python benchmarks/user_data.py \
        --out benchmarks/results [--full]
    python benchmarks/user_data.py --render   # re-write the .md from the committed JSON only
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from emblab.bench.runner import render_markdown
from emblab.cli.commands.bench import DEFAULTS, execute
from emblab.data.beir import assemble_beir_folder
from emblab.experiment.results import read_results
from emblab.registry import resolve_spec
from emblab.spec import format_spec, parse_spec
from emblab.evaluation.tasks import get_task
from emblab.io import atomic_write_text

FOLDER = Path("runs/user_data/scifact_beir")
RUN = Path("runs/user_data/bench")
EARLIER = ("peers.json", "sae_transfer.json")


#: the ``sae`` defaults every compared run used (issue 16 changed them after these runs)
SAE_DEFAULTS_BEFORE_16 = {"pack": False, "index_coding": "fixed", "value_bits": 16, "encoder": "topk",
                          "center": False, "auxk": False, "batch_size": 1024}


def canonical(spec: str, before_16: bool = False) -> str:
    """The full spec a record ran with: resolved with the defaults of its run (``before_16``: the earlier
    benchmarks, run with the ``sae`` defaults of the time), not always today's."""
    if spec == "float32":
        return spec
    stages = parse_spec(spec)
    if before_16 and stages[0][0] == "sae":
        stages[0] = ("sae", {**SAE_DEFAULTS_BEFORE_16, **stages[0][1]})
    return resolve_spec(format_spec(stages))


def earlier_scores(results: Path) -> dict[str, float]:
    """nDCG@10 on beir_scifact (corpus as fit set) of every spec the earlier benchmarks measured."""
    out: dict[str, float] = {}
    for name in EARLIER:
        for r in read_results(results / name).records if (results / name).exists() else []:
            score = r["ndcg@10"] if r.get("task") == "beir_scifact" else (r.get("scifact") or {}).get("ndcg@10")
            if isinstance(score, float):
                out.setdefault(canonical(r["method"], before_16=True), score)
    return out


def reproduction_check(res, out: Path) -> list[str]:
    """Markdown lines comparing every row also measured on ``beir_scifact`` in the earlier runs."""
    before = earlier_scores(out)
    rows = [(r.get("spec") or r["method"], r["ndcg@10"], before[canonical(r.get("spec") or r["method"])])
            for r in res.records if "ndcg@10" in r and canonical(r.get("spec") or r["method"]) in before]
    lines = ["", "## Reproduction check against the earlier beir_scifact runs", "",
             f"Specs also measured on `beir_scifact` with the corpus as fit set ({', '.join(EARLIER)}): same "
             f"data and protocol, here through `beir:{FOLDER}` laid out from `shared/data` by symbolic links.", "",
             "| spec | nDCG@10 here (beir:DIR) | nDCG@10 earlier (beir_scifact) | difference |", "|---|---|---|---|"]
    return lines + [f"| `{s}` | {a:.4f} | {b:.4f} | {a - b:+.4f} |" for s, a, b in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--budgets", default="32,64,128")
    ap.add_argument("--full", action="store_true", help="add OPQ and FastScan PQ")
    ap.add_argument("--render", action="store_true", help="re-write user_data_scifact.md from its JSON only")
    args = ap.parse_args(argv)
    out = Path(args.out)
    md = out / "user_data_scifact.md"
    if args.render:
        res = read_results(out / "user_data_scifact.json")
        render_markdown(out / "user_data_scifact.json")
    else:
        shutil.rmtree(FOLDER, ignore_errors=True)   # symbolic links only
        assemble_beir_folder(FOLDER)
        task = get_task(f"beir:{FOLDER}")
        cfg = dict(DEFAULTS, tasks=[task.name], budgets=[int(b) for b in args.budgets.split(",")],
                   mode="full" if args.full else "quick", name="user_data_scifact", task_options={})
        res = execute(cfg, str(RUN), tasks=[task], command="python " + " ".join(["benchmarks/user_data.py"] + sys.argv[1:]))
        for suffix in (".json", ".md"):
            atomic_write_text(out / f"user_data_scifact{suffix}", (RUN / f"user_data_scifact{suffix}").read_text("utf-8"))
    atomic_write_text(md, md.read_text(encoding="utf-8") + "\n".join(reproduction_check(res, out)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
