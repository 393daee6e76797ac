"""``emblab fit SPEC --data X.npy --out DIR``: fit a compressor and save its artifact directory."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    @app.command("fit")
    def fit(
        spec: str = typer.Argument(..., help="Method spec, e.g. 'pca:dim=64' or 'pca:dim=128,store=f32|int8'."),
        data: str = typer.Option(..., "--data", "-d", help="Training vectors: .npy or .parquet."),
        out: str = typer.Option(..., "--out", "-o", help="Artifact directory to write."),
        val: Optional[str] = typer.Option(None, "--val", help="Validation vectors (early stopping where used)."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Fit SPEC on the vectors in --data and save the model to --out."""
        from ...io import guard_output
        from ...registry import build
        from ._common import RESUME_NOTE, console, load_matrix, on_interrupt

        model = build(spec)          # unknown spec / bad parameter: fail before reading data
        checkpoints = [s.get_params().get("checkpoint_dir") for s in getattr(model, "stages", [model])]
        checkpoints = [c for c in checkpoints if c]
        guard_output(out, "model", inputs=[data, val, *checkpoints], overwrite=overwrite)
        if checkpoints:
            on_interrupt(RESUME_NOTE.replace("finished chunks are kept", "the last epoch checkpoint is kept"))
        _, X = load_matrix(data)
        X_val = load_matrix(val, dim=X.shape[1])[1] if val else None
        model.fit(X, X_val=X_val)
        model.save(out)
        console().print(f"fitted [bold]{model.to_spec(full=True)}[/] on {X.shape[0]} x {X.shape[1]} in "
                        f"{model.fit_time_s_:.2f} s: {model.bytes_per_vector:g} bytes/vector, "
                        f"model {model.model_bytes} bytes -> {out}")
