"""``emblab encode DIR --data X.npy --out codes.npz``: encode vectors with a saved model."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("encode")
    def encode(
        model_dir: str = typer.Argument(..., help="Artifact directory written by `emblab fit`."),
        data: str = typer.Option(..., "--data", "-d", help="Vectors to encode: .npy or .parquet."),
        out: str = typer.Option(..., "--out", "-o", help="Codes file (.npz) to write."),
    ) -> None:
        """Encode the vectors in --data into a codes file."""
        from ...pipeline import load_model
        from ._common import check_writable, console, load_matrix

        model = load_model(model_dir)
        check_writable(out)
        _, X = load_matrix(data, dim=model.n_features_in_)
        codes = model.encode(X)
        codes.save(out)
        console().print(f"encoded {len(codes)} vectors with [bold]{model.to_spec()}[/]: "
                        f"{codes.bytes_per_vector:g} bytes/vector ({codes.nbytes} bytes) -> {out}")
