"""``emblab retriever train``: train a dual encoder against cached targets (corrector networks).

Example::

    emblab retriever train --task synthetic --method corrector --out runs/corr
    emblab retriever train --task scifact --method refresh --refresh-every 50 --out runs/r50

Writes ``OUT/results.json`` (kind ``corrector``), ``OUT/quality_vs_passes.png``, ``OUT/drift.png``,
a resumable ``OUT/checkpoint/`` and the run as one cell of :mod:`emblab.retrieval.experiment` in
``OUT/cells/`` (a rerun of a finished run reuses it).
"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Dense-retriever training with stale caches and corrector networks.", no_args_is_help=True)
    app.add_typer(grp, name="retriever")

    @grp.command("train")
    def train(
        task: str = typer.Option("synthetic", help="synthetic | scifact"),
        method: str = typer.Option("corrector", help="corrector | stale | refresh | inbatch | oracle"),
        out: str = typer.Option(..., "--out", "-o", help="Output folder (results.json, plots, checkpoint/)."),
        refresh_every: Optional[int] = typer.Option(None, "--refresh-every", help="R for --method refresh."),
        steps: Optional[int] = typer.Option(None, help="Training steps after the cache is built."),
        setting: str = typer.Option("cpu", help="full (spec sizes) | cpu (reduced, fits 2 CPU cores) | tiny"),
        seed: int = typer.Option(0, help="Training seed."),
        k: Optional[int] = typer.Option(None, help="Hard negatives per query."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size"),
        lr: Optional[float] = typer.Option(None, help="Learning rate of f and g."),
        h: Optional[str] = typer.Option(None, help="Corrector kind: mlp | linear."),
        lambda_kl: Optional[float] = typer.Option(None, "--lambda-kl", help="Weight of the logit-matching loss."),
        gumbel: bool = typer.Option(False, help="Gumbel top-k negative sampling."),
        device: str = typer.Option("auto", help="auto | cpu | cuda"),
        checkpoint_every: int = typer.Option(0, "--checkpoint-every", help="Checkpoint period in steps (0: end only)."),
        resume: bool = typer.Option(True, help="Resume from OUT/checkpoint when present."),
        progress: bool = typer.Option(True, help="Show a progress bar."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an existing retriever folder at --out."),
    ) -> None:
        """Train one method and write results JSON plus plots."""
        import shlex
        import sys
        from pathlib import Path

        from rich.console import Console

        from ...io import atomic_path, guard_output, make_output_dir
        from ._common import on_interrupt
        from ...retrieval.experiment import open_store, run_configs, write_corrector
        from ...retrieval.experiments import build_experiment
        from ...retrieval.report import plot_drift, plot_quality

        t, cfg = build_experiment(task, setting, method=method, refresh_every=refresh_every, steps=steps, seed=seed,
                                  k=k, batch_size=batch_size, lr=lr, h=h, lambda_kl=lambda_kl,
                                  gumbel=gumbel or None, device=device, checkpoint_every=checkpoint_every)
        state = guard_output(out, "retriever", overwrite=overwrite, resume=True)

        def run(outp: Path) -> dict:
            store = open_store(outp / "cells", t) if resume else None   # --no-resume: train afresh
            (rec,) = run_configs(store, t, [cfg], out_dir=outp, progress=progress, resume=resume)
            write_corrector(outp / "results.json", t, [rec], command="emblab " + shlex.join(sys.argv[1:]))
            plot_quality([rec], f"{t.curve_split}/recall@10", outp / "quality_vs_passes.png",
                         f"{t.name}: {cfg.label}", final_split=t.final_split)
            plot_drift([rec], outp / "drift.png", f"{t.name}: {cfg.label}")
            return rec

        if state == "replace":   # a fresh run beside the old one, swapped in when it ends
            with atomic_path(out, is_dir=True, kind="retriever") as tmp:
                rec = run(tmp)
        else:
            if checkpoint_every:
                on_interrupt("interrupted; the last checkpoint is kept: rerun the same command to resume.")
            rec = run(make_output_dir(out, "retriever"))
        outp = Path(out)
        split = t.final_split
        fin = rec["final"][split]
        last = rec["curve"][-1]
        Console().print(
            f"[bold]{t.name} {cfg.label}[/] {split}: Recall@10 {fin['recall@10']:.4f}  nDCG@10 {fin['ndcg@10']:.4f}  "
            f"Recall@100 {fin['recall@100']:.4f} | refresh encodes {rec['counts']['refresh']:,}  "
            f"loss encodes {rec['counts']['loss']:,} | cos(g0,g) {last['cos_g0_fresh']:.3f} -> {outp / 'results.json'}")
