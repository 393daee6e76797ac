"""One module per CLI command group; each defines ``register(app: typer.Typer) -> None``.

``emblab.cli.main`` discovers every module here, so adding a command never edits a shared file.
"""
