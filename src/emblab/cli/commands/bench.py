"""``emblab bench [CONFIG] --out DIR``: methods × byte budgets on tasks -> results JSON + table.

Config (TOML or JSON; every key optional)::

    tasks = ["knn_fidelity/imdb-minilm", "beir_scifact"]   # or recsys:DIR (a user's interactions folder)
    methods = ["pca:dim=64", "faiss:PQ32"]     # omit: every peer that reaches a budget exactly
    budgets = [32, 64, 96, 128, 192, 256, 384]
    fit_rows = 10000                            # fit on the first N rows of each fit set
    name = "bench"                              # output file stem
    faiss = true                                # include FAISS codecs among the default peers
    pipelines = false                           # include pca|int8 chains (same as store=int8)
    fastscan = false                            # include 4-bit FastScan PQ

Command-line flags override the file; ``--set key=value`` overrides any key (coerced to its type;
unknown keys are errors). The resolved config is written to ``DIR/config.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

DEFAULTS: dict[str, Any] = {
    "tasks": ["knn_fidelity/imdb-minilm"],
    "methods": None,
    "budgets": [32, 64, 96, 128, 192, 256, 384],
    "fit_rows": None,
    "name": "bench",
    "faiss": True,
    "pipelines": False,
    "fastscan": False,
}


def read_config(path: str) -> dict[str, Any]:
    """Read a TOML or JSON bench config (one-line errors)."""
    from ..._errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: config file not found.")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".json":
            cfg = json.loads(text)
        else:
            try:
                import tomllib
            except ImportError:  # pragma: no cover - python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            cfg = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is a user error
        raise DataError(f"{p}: cannot parse config ({' '.join(str(exc).split())}).") from exc
    if not isinstance(cfg, dict):
        raise DataError(f"{p}: the config must be a table/object.")
    return cfg


def resolve_config(file_cfg: dict[str, Any], overrides: dict[str, Any], sets: dict[str, str]) -> dict[str, Any]:
    """Defaults < file < flags < --set; unknown keys raise."""
    from ..._errors import InvalidParameterError
    from ._common import coerce_like

    cfg = dict(DEFAULTS)
    for source, values in (("config file", file_cfg), ("flags", overrides)):
        for key, val in values.items():
            if key not in DEFAULTS:
                raise InvalidParameterError(f"unknown bench config key {key!r} in {source}; valid: {', '.join(DEFAULTS)}.")
            cfg[key] = val
    for key, raw in sets.items():
        if key not in DEFAULTS:
            raise InvalidParameterError(f"--set {key}: unknown key; valid: {', '.join(DEFAULTS)}.")
        cfg[key] = coerce_like(raw, DEFAULTS[key] if cfg[key] is None else cfg[key], key)
    if isinstance(cfg["tasks"], str):
        cfg["tasks"] = [t.strip() for t in cfg["tasks"].split(",") if t.strip()]
    if isinstance(cfg["methods"], str):
        cfg["methods"] = split_methods([cfg["methods"]])
    if not cfg["tasks"]:
        raise InvalidParameterError("no tasks given; set tasks or --task.")
    if cfg["budgets"] is not None and (not isinstance(cfg["budgets"], list)
                                       or not all(isinstance(b, int) and b > 0 for b in cfg["budgets"])):
        raise InvalidParameterError(f"budgets must be a list of positive ints; got {cfg['budgets']!r}.")
    return cfg


def split_methods(values: list[str]) -> list[str]:
    """Specs from repeated --methods values; one value may hold several separated by ';'."""
    out: list[str] = []
    for v in values:
        out += [s.strip() for s in v.split(";") if s.strip()]
    return out


def execute(cfg: dict[str, Any], out: str, *, command: str | None = None, quiet: bool = False,
            overwrite: bool = False, inputs: tuple = ()) -> dict[str, Any]:
    """Run a resolved bench config, write outputs and print the tables; returns the results document.

    The folder ``out`` appears whole when the run ends (written under a temporary name, then
    moved into place): an error or Ctrl-C leaves nothing behind. An existing bench folder is
    replaced only with ``overwrite``; anything else there is refused before the run starts.
    """
    from ...bench.pareto import label
    from ...bench.runner import peer_specs_for_budgets, rich_tables, run_bench
    from ...evaluation.tasks import get_task
    from ...io import atomic_path, atomic_write_json, guard_output
    from ._common import console

    guard_output(out, "bench", inputs=inputs, overwrite=overwrite)
    tasks = [get_task(t) for t in cfg["tasks"]]
    methods = cfg["methods"]
    err = console(stderr=True)
    if methods is None:
        from ..._errors import DataError

        d = tasks[0].load().fit_data().shape[1]
        methods = [s for _, s in peer_specs_for_budgets(d, cfg["budgets"] or [], faiss=cfg["faiss"],
                                                        pipelines=cfg["pipelines"], fastscan=cfg["fastscan"])]
        if not methods:
            raise DataError(f"no peer method reaches budget(s) {', '.join(map(str, cfg['budgets'] or []))} "
                            f"bytes/vector on {d}-d vectors (float32 takes {4 * d}, int8 {d}); choose smaller budgets.")

    def progress(rec: dict) -> None:
        if quiet:
            return
        if "error" in rec:
            err.print(f"  [red]{rec['task']}  {rec['method']}: {rec['error']}[/]")
        else:
            main = rec.get("main_score")
            err.print(f"  {rec['task']}  {label(rec):<34} {rec['bytes_per_vector']:>7g} B  "
                      f"{main}={rec.get(main, float('nan')):.4f}")

    with atomic_path(out, is_dir=True, kind="bench") as tmp:
        doc = run_bench(methods, tasks, cfg["budgets"], out_dir=tmp, command=command, config=cfg,
                        on_record=progress, fit_rows=cfg["fit_rows"], name=cfg["name"])
        atomic_write_json(tmp / "config.json", {**cfg, "methods_run": methods})
    unreached = sorted(set(cfg["budgets"] or []) - {r.get("budget") for r in doc["records"]})
    if unreached:
        err.print(f"note: no method reached budget(s) {', '.join(map(str, unreached))} bytes/vector; "
                  "those budgets have no rows.")
    c = console()
    for t in rich_tables(doc):
        c.print(t)
    c.print(f"results -> {Path(out) / (cfg['name'] + '.json')}, {Path(out) / (cfg['name'] + '.md')}")
    return doc


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        config: Optional[str] = typer.Argument(None, help="Bench config (.toml or .json)."),
        out: str = typer.Option(..., "--out", "-o", help="Output folder for <name>.json, <name>.md, config.json."),
        task: Optional[List[str]] = typer.Option(None, "--task", "--dataset", "-t",
                                                 help="Task(s), e.g. knn_fidelity/imdb-minilm (repeat or comma-separate)."),
        methods: Optional[List[str]] = typer.Option(None, "--methods", "-m",
                                                    help="Spec(s); repeat or separate with ';' (default: all peers)."),
        budgets: Optional[str] = typer.Option(None, "--budgets", "-b", help="Bytes/vector, e.g. 32,64,128."),
        fit_rows: Optional[int] = typer.Option(None, "--fit-rows", min=1, help="Fit on the first N fit rows."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key: key=value."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-method progress lines."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier bench folder at --out."),
    ) -> None:
        """Benchmark methods x byte budgets on tasks; writes results JSON + markdown table."""
        import sys

        from ._common import parse_int_list, parse_sets

        file_cfg = read_config(config) if config else {}
        flags: dict[str, Any] = {}
        if task:
            flags["tasks"] = [t.strip() for v in task for t in v.split(",") if t.strip()]
        if methods:
            flags["methods"] = split_methods(methods)
        if budgets is not None:
            flags["budgets"] = parse_int_list(budgets, "--budgets")
        if fit_rows is not None:
            flags["fit_rows"] = fit_rows
        cfg = resolve_config(file_cfg, flags, parse_sets(sets))
        execute(cfg, out, command=" ".join(["emblab"] + sys.argv[1:]), quiet=quiet, overwrite=overwrite,
                inputs=(config,))
