"""``emblab bench [CONFIG] --out DIR``: methods × byte budgets on tasks -> results, table, verdict.

``emblab bench --task beir:./my_collection --budgets 64,128 --out runs/mine`` runs, on the user's
own data, every peer and seed compressor (``sae`` top-k and OMP, ``mcr2``, ``ae``) that reaches
each budget, lists those that cannot be fitted with the reason, and ends with the verdict: for
each budget the Pareto-best method, its score as a ratio to uncompressed, its fit and search
time and the exact spec (:mod:`emblab.bench.verdict`).

Config (TOML or JSON; every key optional)::

    tasks = ["knn_fidelity/imdb-minilm", "beir:./my_collection"]   # or recsys:DIR (a user's interactions)
    methods = ["pca:dim=64", "faiss:PQ32"]     # omit: the peers and seed compressors (candidates)
    budgets = [32, 64, 96, 128, 192, 256, 384]
    mode = "quick"                              # quick: no OPQ/FastScan; full: everything
    time_budget_s = 600                         # start no new method after this many seconds
    fit_rows = 10000                            # fit on the first N rows of each fit set
    name = "bench"                              # output file stem
    faiss = true                                # FAISS codecs among the default peers
    additive = false                            # add FAISS RQ/LSQ to the peers (slow encoders)
    rabitq = false                              # add FAISS RaBitQ at exactly each budget
    task_options = {split = "dev"}              # options of URI tasks (beir:, knn:, sts:)

Command-line flags override the file; ``--set key=value`` overrides a config key (coerced to its
type), and any other key is a task option of the URI tasks (``--set split=dev``); keys that are
neither are errors. The resolved config is written to ``DIR/config.json``.

Every finished (task, method) is kept in ``DIR/cells`` as it finishes: rerunning the same command
after an error or Ctrl-C runs only the methods still missing (a failed method is tried again);
``--fresh`` computes every method again. A ``DIR/cells`` of another configuration (other data,
budgets, fit rows or mode) is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from ...bench.candidates import DEFAULT_BUDGETS
from ...spec import split_specs

if TYPE_CHECKING:
    from ...experiment.results import Results

DEFAULTS: dict[str, Any] = {
    "tasks": ["knn_fidelity/imdb-minilm"],
    "methods": None,
    "budgets": list(DEFAULT_BUDGETS),
    "mode": "quick",
    "time_budget_s": None,
    "fit_rows": None,
    "name": "bench",
    "faiss": True,
    "additive": False,
    "rabitq": False,
    "task_options": {},
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

    cfg = dict(DEFAULTS, task_options={})
    for source, values in (("config file", file_cfg), ("flags", overrides)):
        for key, val in values.items():
            if key not in DEFAULTS:
                raise InvalidParameterError(f"unknown bench config key {key!r} in {source}; valid: {', '.join(DEFAULTS)}.")
            cfg[key] = val
    for key, raw in sets.items():
        if key in DEFAULTS and key != "task_options":
            cfg[key] = coerce_like(raw, DEFAULTS[key] if cfg[key] is None else cfg[key], key)
        else:
            cfg["task_options"] = {**cfg["task_options"], key: raw}   # checked against the URI tasks' options
    if isinstance(cfg["tasks"], str):
        cfg["tasks"] = [t.strip() for t in cfg["tasks"].split(",") if t.strip()]
    if isinstance(cfg["methods"], str):
        cfg["methods"] = split_specs(cfg["methods"])
    if not cfg["tasks"]:
        raise InvalidParameterError("no tasks given; set tasks or --task.")
    if cfg["budgets"] is not None and (not isinstance(cfg["budgets"], list)
                                       or not all(isinstance(b, int) and b > 0 for b in cfg["budgets"])):
        raise InvalidParameterError(f"budgets must be a list of positive ints; got {cfg['budgets']!r}.")
    if cfg["mode"] not in ("quick", "full"):
        raise InvalidParameterError(f"mode must be 'quick' or 'full'; got {cfg['mode']!r}.")
    if cfg["time_budget_s"] is not None and not (isinstance(cfg["time_budget_s"], (int, float))
                                                  and cfg["time_budget_s"] > 0):
        raise InvalidParameterError(f"time_budget_s must be a positive number of seconds; got {cfg['time_budget_s']!r}.")
    if not isinstance(cfg["task_options"], dict):
        raise InvalidParameterError(f"task_options must be a table of key = value; got {cfg['task_options']!r}.")
    return cfg


def build_tasks(names: list[str], options: dict[str, Any]) -> list[Any]:
    """Tasks by name or URI; ``options`` go to every URI task (unknown keys are errors)."""
    from ..._errors import InvalidParameterError
    from ...evaluation.tasks import get_task, is_task_uri

    uris = [t for t in names if is_task_uri(t)]
    if options and not uris:
        keys = ", ".join(sorted(options))
        raise InvalidParameterError(f"--set {keys}: not a bench config key ({', '.join(k for k in DEFAULTS if k != 'task_options')}) "
                                    "and no task URI (beir:, knn:, sts:) to take it as an option.")
    return [get_task(t, **options) if t in uris else get_task(t) for t in names]


def execute(cfg: dict[str, Any], out: str, *, command: str | None = None, quiet: bool = False,
            tasks: list[Any] | None = None, recipes: Any = None, print_verdict: bool = True,
            overwrite: bool = False, fresh: bool = False, inputs: tuple = ()) -> Results:
    """Run (or resume) a resolved bench config, write outputs, print the tables and (last) the verdict.

    ``tasks`` (Task objects) replaces ``cfg["tasks"]`` (in-memory tasks such as the demo's);
    ``recipes`` replaces the seed recipes of the default candidates. Every finished (task, method)
    cell is kept in ``out/cells`` (:func:`~emblab.bench.runner.run_bench`), so rerunning the same
    command after an error or Ctrl-C computes only the missing cells; ``fresh`` computes them all
    again. ``out`` is created (with its marker) once the data have loaded, and ``<name>.json``,
    ``<name>.md`` and ``config.json`` are written atomically when the run ends. ``overwrite``
    starts over in a new folder that replaces the old one when the run ends (the old one stays until
    then). Anything at ``out`` that is not a bench folder is refused before the run starts. Returns
    the :class:`~emblab.experiment.Results` of :func:`~emblab.bench.runner.run_bench`.
    """
    from ...bench.candidates import unreachable_budgets
    from ...bench.runner import check_specs, not_run_lines, rich_tables, run_bench, tasks_in
    from ...bench.verdict import verdict_lines
    from ...io import atomic_path, atomic_write_json, guard_output, make_output_dir
    from ._common import console, on_interrupt

    state = guard_output(out, "bench", inputs=inputs, overwrite=overwrite, resume=True)
    tasks = tasks if tasks is not None else build_tasks(cfg["tasks"], cfg["task_options"])
    err = console(stderr=True)
    if cfg["methods"] is None:
        from ..._errors import DataError

        d = tasks[0].load().fit_data().shape[1]
        budgets = cfg["budgets"] or []
        if set(unreachable_budgets(d, budgets, faiss=cfg["faiss"])) == set(budgets):
            raise DataError(f"no method reaches budget(s) {', '.join(map(str, budgets))} bytes/vector on {d}-d "
                            f"vectors (float32 takes {4 * d}, int8 {d}); choose smaller budgets.")
    else:
        check_specs(cfg["methods"])
    for t in tasks:   # a data error leaves nothing behind
        t.load()

    pending_note: list[str] = []   # printed with the first progress line: the store was accepted by then

    def note() -> None:
        while pending_note:
            err.print(pending_note.pop(), markup=False, soft_wrap=True)

    def started(info: dict) -> None:
        if not quiet:
            note()
            err.print(f"[{info['index']}/{info['total']}] fitting {info['spec']}", markup=False, soft_wrap=True)

    def progress(rec: dict) -> None:
        if quiet:
            return
        note()
        name = rec.get("spec") or rec["method"]
        if "skipped" in rec:
            err.print(f"  - {name}: {rec['skipped']}", markup=False, soft_wrap=True)
        elif "error" in rec:
            err.print(f"  ! {name}: {rec['error']}", style="red", markup=False, soft_wrap=True)
        else:
            main = rec.get("main_score")
            ratio = (rec.get("ratio_to_uncompressed") or {}).get(main)
            fit = f", fit {rec['fit_time_s']:.1f} s" if rec.get("fit_time_s") else ""
            head = "" if rec.get("spec") else f"{rec['task']}: {name} "
            if rec.get("variant"):  # one spec scored several ways (recsys codings)
                head += f"[{rec['variant']}] "
            err.print(f"  {head}{rec['bytes_per_vector']:g} B, {main} {rec.get(main, float('nan')):.4f}"
                      + (f" ({ratio:.3f} x float32)" if ratio is not None else "") + fit, markup=False, soft_wrap=True)

    def run(folder: Path) -> Results:
        res = run_bench(cfg["methods"], tasks, cfg["budgets"], out_dir=folder, command=command, config=cfg,
                        on_record=progress, on_start=started, fit_rows=cfg["fit_rows"], name=cfg["name"],
                        mode=cfg["mode"], time_budget_s=cfg["time_budget_s"], recipes=recipes, faiss=cfg["faiss"],
                        ladders={"additive": cfg["additive"], "rabitq": cfg["rabitq"]}, fresh=fresh)
        atomic_write_json(folder / "config.json", {**cfg, "methods_run": [r.get("spec") or r["method"]
                                                                          for r in res.records]})
        return res

    if state == "replace":   # a fresh run beside the old folder, swapped in when it ends
        with atomic_path(out, is_dir=True, kind="bench") as tmp:
            res = run(tmp)
    else:
        folder = make_output_dir(out, "bench")
        if state == "resume" and not fresh and (folder / "cells" / "cells.jsonl").is_file():
            pending_note.append(f"resuming from {folder / 'cells'}: finished methods are not run again "
                                "(--fresh starts over)")
        on_interrupt(f"interrupted; finished methods are kept in {folder / 'cells'}: rerun the same command to resume.")
        res = run(folder)
    ran = {r.get("budget") for r in res.records if "skipped" not in r and "error" not in r}
    unreached = sorted(set(cfg["budgets"] or []) - ran)
    if unreached:
        err.print(f"note: no method ran at budget(s) {', '.join(map(str, unreached))} bytes/vector; "
                  "those budgets have no rows.", markup=False, soft_wrap=True)
    c = console()
    for t, task in zip(rich_tables(res), tasks_in(res)):
        c.print(t)
        missing = not_run_lines(res, task)
        if missing:
            c.print("Not run or failed:", markup=False, soft_wrap=True)
            for line in missing:
                c.print(f"  {line}", markup=False, soft_wrap=True)
    if cfg["methods"] is None and cfg["mode"] == "quick":
        c.print("quick mode: OPQ and FastScan PQ left out (--full adds them).", markup=False, soft_wrap=True)
    c.print(f"results -> {Path(out) / (cfg['name'] + '.json')}, {Path(out) / (cfg['name'] + '.md')}", markup=False, soft_wrap=True)
    if print_verdict:
        c.print("", markup=False, soft_wrap=True)
        for line in verdict_lines(res):
            c.print(line, markup=False, soft_wrap=True)
    return res


def register(app: typer.Typer) -> None:
    @app.command("bench")
    def bench(
        config: Optional[str] = typer.Argument(None, help="Bench config (.toml or .json)."),
        out: str = typer.Option(..., "--out", "-o", help="Output folder for <name>.json, <name>.md, config.json."),
        task: Optional[List[str]] = typer.Option(None, "--task", "--dataset", "-t",
                                                 help="Task(s), e.g. knn_fidelity/imdb-minilm (repeat or comma-separate)."),
        methods: Optional[List[str]] = typer.Option(None, "--methods", "-m",
                                                    help="Spec(s); repeat, or separate with ';', ',' or spaces (default: all peers)."),
        budgets: Optional[str] = typer.Option(None, "--budgets", "-b", help="Bytes/vector, e.g. 32,64,128."),
        fit_rows: Optional[int] = typer.Option(None, "--fit-rows", min=1, help="Fit on the first N fit rows."),
        full: Optional[bool] = typer.Option(None, "--full/--quick",
                                            help="Default methods: --quick (default) leaves out OPQ and FastScan PQ."),
        time_budget: Optional[float] = typer.Option(None, "--time-budget", min=1,
                                                    help="Seconds; start no new method after that."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Config key or URI-task option: key=value."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-method progress lines."),
        fresh: bool = typer.Option(False, "--fresh", help="Compute every method again (default: a rerun resumes, "
                                                           "keeping the finished ones in OUT/cells)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start over in a new folder that replaces the one "
                                                                   "at --out when the run ends."),
    ) -> None:
        """Benchmark methods x byte budgets on tasks (or your own data: beir:DIR, knn:PATH, sts:PATH);
        writes results JSON + markdown and ends with the verdict per budget."""
        import sys

        from ._common import parse_int_list, parse_sets

        file_cfg = read_config(config) if config else {}
        flags: dict[str, Any] = {}
        if task:
            flags["tasks"] = [t.strip() for v in task for t in v.split(",") if t.strip()]
        if methods:
            flags["methods"] = split_specs(methods)
        if budgets is not None:
            flags["budgets"] = parse_int_list(budgets, "--budgets")
        if fit_rows is not None:
            flags["fit_rows"] = fit_rows
        if full is not None:
            flags["mode"] = "full" if full else "quick"
        if time_budget is not None:
            flags["time_budget_s"] = time_budget
        cfg = resolve_config(file_cfg, flags, parse_sets(sets))
        execute(cfg, out, command=" ".join(["emblab"] + sys.argv[1:]), quiet=quiet, overwrite=overwrite,
                fresh=fresh, inputs=(config,))
