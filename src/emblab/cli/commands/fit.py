"""``emblab fit SPEC --data X.npy --out DIR``: fit a compressor and save its artifact directory."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("fit")
    def fit(
        spec: str = typer.Argument(..., help="Method spec, e.g. 'pca:dim=64' or 'pca:dim=128,store=f32|int8'."),
        data: str = typer.Option(..., "--data", "-d", help="Training vectors: .npy or .parquet."),
        out: str = typer.Option(..., "--out", "-o", help="Artifact directory to write."),
        val: Optional[str] = typer.Option(None, "--val", help="Validation vectors (early stopping where used)."),
    ) -> None:
        """Fit SPEC on the vectors in --data and save the model to --out."""
        from ...registry import build
        from ._common import check_writable, console, load_matrix

        model = build(spec)          # unknown spec / bad parameter: fail before reading data
        check_writable(out)
        _, X = load_matrix(data)
        X_val = load_matrix(val, dim=X.shape[1])[1] if val else None
        model.fit(X, X_val=X_val)
        model.save(out)
        console().print(f"fitted [bold]{model.to_spec(full=True)}[/] on {X.shape[0]} x {X.shape[1]} in "
                        f"{model.fit_time_s_:.2f} s: {model.bytes_per_vector:g} bytes/vector, "
                        f"model {model.model_bytes} bytes -> {out}")
