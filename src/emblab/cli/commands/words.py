"""``emblab words ...``: quadratic word embedding models (co-occurrence, closed form, dynamics,
evaluation, critical model size). Thin wrappers over :mod:`emblab.words`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

words_app = typer.Typer(help="Quadratic word embedding models (QWEM): statistics, closed form, dynamics, eval.",
                        no_args_is_help=True)


def _console():
    from rich.console import Console

    return Console()


OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing emblab output of the same kind.")


def _guard(out: Optional[str], kind: str, inputs: list, overwrite: bool) -> None:
    from ...io import guard_output

    if out is not None:
        guard_output(out, kind, inputs=inputs, overwrite=overwrite)


def _cooc_files(cooc_dir: str) -> list[Path]:
    """The files a co-occurrence folder is read from (outputs may go beside them, inside the folder)."""
    return [Path(cooc_dir) / "cooc.npz", Path(cooc_dir) / "vocab.json"]


def _check_dir(path: str, what: str) -> Path:
    from ..._errors import DataError

    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} {p} does not exist.")
    return p


@words_app.command("cooc")
def cooc(corpus: str = typer.Argument(..., help="Text file, IMDB *.jsonl.gz or the imdb_aclimdb folder."),
         vocab: int = typer.Option(10000, "--vocab", "-V", help="Keep the V most frequent words."),
         window: int = typer.Option(16, "--window", "-L", help="Context size L on each side."),
         weighting: str = typer.Option("linear", help="linear (L+1-j) or uniform window weights."),
         out: str = typer.Option(..., "--out", "-o", help="Output folder (cooc.npz + vocab.json)."),
         overwrite: bool = OVERWRITE) -> None:
    """Tokenise CORPUS and count windowed co-occurrences."""
    import time

    from ...words.cooccurrence import build_cooccurrence, load_token_stream_cached

    _guard(out, "cooc", [corpus], overwrite)

    t0 = time.perf_counter()
    ts = load_token_stream_cached(corpus)
    stats = build_cooccurrence(ts, vocab, window, weighting=weighting)
    stats.save(out)
    m = stats.meta
    _console().print(f"{m['n_tokens_in_vocab']:,} in-vocab tokens of {ts.ids.size:,}, V={vocab}, L={window}, "
                     f"{100 * m['frac_pairs_unseen']:.1f}% pairs unseen -> {out} ({time.perf_counter() - t0:.1f} s)")


@words_app.command("fit")
def fit(cooc_dir: str = typer.Argument(..., help="Folder written by `emblab words cooc`."),
        dim: int = typer.Option(200, "--dim", "-d", help="Embedding dimension d."),
        k: float = typer.Option(1.0, "--k", help="Negative-sampling ratio."),
        method: str = typer.Option("qwem", help="qwem (closed form), ppmi or pmi (SVD baselines)."),
        eig: str = typer.Option("auto", help="Eigen solver: auto, dense, eigsh, torch."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Output folder for the vectors."),
        word2vec: Optional[str] = typer.Option(None, help="Also export word2vec text format here."),
        overwrite: bool = OVERWRITE) -> None:
    """Closed-form QWEM vectors (or svd(PPMI)/svd(PMI)) from saved co-occurrence statistics."""
    from ..._errors import InvalidParameterError
    from ...words.closed_form import fit_closed_form, svd_embeddings
    from ...words.cooccurrence import CoocStats

    if method not in ("qwem", "ppmi", "pmi"):
        raise InvalidParameterError(f"--method must be qwem, ppmi or pmi; got {method!r}.")
    out = out or str(Path(cooc_dir) / f"{method}_d{dim}")
    _guard(out, "word-vectors", _cooc_files(cooc_dir), overwrite)
    _guard(word2vec, "word2vec", _cooc_files(cooc_dir) + [out], overwrite)

    stats = CoocStats.load(_check_dir(cooc_dir, "co-occurrence folder"))
    if method == "qwem":
        wv = fit_closed_form(stats, dim, k=k, method=eig)
    elif method in ("ppmi", "pmi"):
        wv = svd_embeddings(stats, dim, kind=method)
    else:
        raise InvalidParameterError(f"--method must be qwem, ppmi or pmi; got {method!r}.")
    wv.save(out)
    if word2vec:
        wv.to_word2vec(word2vec)
    _console().print(f"{method} d={dim} V={len(wv)} in {wv.meta['seconds']:.1f} s -> {out}")


@words_app.command("eval")
def evaluate(vectors: str = typer.Argument(..., help="Word-vectors folder or word2vec text file."),
             gensim_protocol: bool = typer.Option(True, "--gensim/--no-gensim", help="Also gensim's protocol."),
             json_out: Optional[str] = typer.Option(None, "--json", help="Write the scores as JSON."),
             overwrite: bool = OVERWRITE) -> None:
    """All-pairs analogies, gensim's analogy protocol, WS353 and SimLex-999."""
    from rich.table import Table

    from ...io import atomic_write_json
    from ...words.analogy import evaluate_all
    from ...words.vectors import WordVectors

    _guard(json_out, "words-json", [vectors], overwrite)

    wv = WordVectors.load(_check_dir(vectors, "vectors"))
    res = evaluate_all(wv, gensim_protocol=gensim_protocol)
    t = Table(title=f"{vectors} (V={len(wv)}, d={wv.dim})")
    t.add_column("task")
    t.add_column("score", justify="right")
    t.add_column("coverage", justify="right")
    ap = res["analogy_all_pairs"]
    t.add_row("analogy, all-pairs (paper)", f"{100 * (ap['accuracy'] or 0):.1f}%", f"{ap['n']} analogies")
    if "analogy_gensim" in res:
        g = res["analogy_gensim"]
        t.add_row("analogy, gensim protocol", f"{100 * g['accuracy']:.1f}%", f"{g['n']} questions")
    for name in ("ws353", "simlex"):
        r = res[name]
        t.add_row(name, f"{r['spearman']:.3f}" if r["spearman"] is not None else "-",
                  f"{r['n_covered']}/{r['n_total']}")
    _console().print(t)
    if json_out:
        atomic_write_json(json_out, res, kind="words-json")


@words_app.command("dynamics")
def dynamics(cooc_dir: str = typer.Argument(..., help="Folder written by `emblab words cooc`."),
             dim: int = typer.Option(64, "--dim", "-d"),
             steps: Optional[int] = typer.Option(None, help="GD steps (default 1.5 tau_d / (2 lr))."),
             init: str = typer.Option("random", help="random or aligned."),
             init_scale: float = typer.Option(1e-6, help="Initial scale sigma."),
             lr: Optional[float] = typer.Option(None, help="Step size (default min(0.5/lambda_1, 1/|lambda_min|)."),
             k: float = typer.Option(1.0, "--k"),
             out: Optional[str] = typer.Option(None, "--out", "-o", help="JSON with the curves."),
             overwrite: bool = OVERWRITE) -> None:
    """Full-batch GD on ||WW^T - M*||^2; compares half-rise steps with tau_k / (2 lr).

    The same experiment as the QWEM benchmark's dynamics cells (emblab.words.dynamics.gd_vs_theory)."""
    _guard(out, "words-json", _cooc_files(cooc_dir), overwrite)
    from ...io import atomic_write_json
    from ...words.closed_form import target_matrix, top_eigenpairs
    from ...words.cooccurrence import CoocStats
    from ...words.dynamics import gd_vs_theory
    from ...words.experiment import to_jsonable

    stats = CoocStats.load(_check_dir(cooc_dir, "co-occurrence folder"))
    M = target_matrix(stats.C, stats.unigram, k)
    lam, U, _ = top_eigenpairs(M, dim)
    rec, _ = gd_vs_theory(M, lam, U, dim, init=init, init_scale=init_scale, lr=lr, n_steps=steps)

    def num(x):
        return "-" if x is None else f"{x:.4f}"

    _console().print(f"{rec['n_steps']} steps in {rec['seconds']:.1f} s; {rec['n_modes_rose']}/{dim} modes rose; "
                     f"median |rel err| {num(rec['median_rel_err'])} (discrete map {num(rec['median_rel_err_discrete'])}), "
                     f"max {num(rec['max_rel_err'])}, corr(pred, measured) {num(rec['corr_pred_meas'])}")
    if out:
        atomic_write_json(out, to_jsonable(rec), kind="words-json")


@words_app.command("critical-size")
def critical_size(cooc_dir: str = typer.Argument(..., help="Folder written by `emblab words cooc`."),
                  d_max: int = typer.Option(1024, "--d-max", help="Largest d of the log grid."),
                  k: float = typer.Option(1.0, "--k"),
                  thresholds: str = typer.Option("0.05,0.2", help="Comma-separated accuracy thresholds."),
                  min_count: int = typer.Option(50, help="Fewer analogies = insufficient coverage."),
                  out: Optional[str] = typer.Option(None, "--out", "-o", help="JSON output."),
                  overwrite: bool = OVERWRITE) -> None:
    """Per-family accuracy vs d of the closed form and the smallest d reaching each threshold."""
    _guard(out, "words-json", _cooc_files(cooc_dir), overwrite)
    from rich.table import Table

    from ..._errors import InvalidParameterError
    from ...io import atomic_write_json
    from ...words.analogy import load_analogy_families
    from ...words.closed_form import target_matrix, top_eigenpairs
    from ...words.cooccurrence import CoocStats
    from ...words.critical import accuracy_vs_dim, critical_sizes, log_grid

    try:
        ths = tuple(float(x) for x in thresholds.split(","))
    except ValueError as exc:
        raise InvalidParameterError(f"--thresholds must be comma-separated numbers; got {thresholds!r}.") from exc
    stats = CoocStats.load(_check_dir(cooc_dir, "co-occurrence folder"))
    M = target_matrix(stats.C, stats.unigram, k)
    lam, U, _ = top_eigenpairs(M, min(d_max, stats.V))
    del M
    fams = load_analogy_families()
    acc = accuracy_vs_dim(stats.words, lam, U, log_grid(2, d_max), fams)
    crit = critical_sizes(acc, ths, min_count)
    t = Table(title=f"critical d per family (V={stats.V})")
    for c in ["family", "n", *[f"d_c@{th:g}" for th in ths], "max acc"]:
        t.add_column(c)
    for f, r in crit.items():
        t.add_row(f, str(r["n"]), *[str(r[f"d_c@{th:g}"] or ("-" if r["status"] == "ok" else "cov"))
                                     for th in ths], f"{100 * r.get('max_accuracy', 0):.1f}%")
    _console().print(t)
    if out:
        atomic_write_json(out, {"accuracy_vs_dim": acc, "critical": crit, "lam": lam}, kind="words-json")


@words_app.command("experiment")
def experiment(out: str = typer.Option(..., "--out", "-o", help="Folder for qwem.json, qwem.md and qwem_*.png."),
               stages: str = typer.Option("crit,peers5k,text8,peers10k,sgd", help="Comma list of stages."),
               store: Optional[str] = typer.Option(None, help="Cell store (default $EMBLAB_CACHE/bench_qwem); resumed."),
               corpus: str = typer.Option("imdb_aclimdb", help="Main corpus: dataset name or path."),
               second_corpus: str = typer.Option("text8_prefix", help="Corpus of the text8 stage: name or path."),
               vocab: int = typer.Option(10000, "--vocab", "-V", help="V of the peers10k stage."),
               vocab_small: int = typer.Option(5000, help="V of the other stages."),
               dim: int = typer.Option(200, "--dim", "-d", help="d of the peer rows."),
               d_max: int = typer.Option(1024, "--d-max", help="Largest d of the accuracy-vs-d grid."),
               dyn_d: int = typer.Option(64, help="d of the random-start GD run."),
               aligned_d: int = typer.Option(16, help="d of the aligned-start GD run."),
               sgns_epochs: int = typer.Option(1, help="gensim epochs on the main corpus (0: no SGNS row)."),
               sgd_max_steps: int = typer.Option(3000),
               sgd_batch: int = typer.Option(20000),
               min_count: int = typer.Option(50, help="Fewer analogies = insufficient coverage."),
               render: bool = typer.Option(False, "--render", help="Only re-render OUT/qwem.md and figures from its JSON.")
               ) -> None:
    """The QWEM experiment (closed form vs peers, dynamics, critical sizes, SGD) as resumable cells;
    the same module as benchmarks/qwem.py (emblab.words.experiment)."""
    import sys

    from ...data.paths import cache_dir
    from ...experiment import CellStore
    from ...words.experiment import FINGERPRINT, QwemConfig, run_qwem
    from ...words.experiment_report import render_qwem, write_qwem

    if render:
        render_qwem(out)
        return
    names, paths = [], {}
    for c in (corpus, second_corpus):
        p = Path(c)
        names.append(p.name if p.exists() else c)
        if p.exists():
            paths[p.name] = str(p)
    cfg = QwemConfig(corpus=names[0], second_corpus=names[1], paths=paths, V=vocab, V_small=vocab_small, d=dim,
                     d_max=d_max, dyn_d=dyn_d, aligned_d=aligned_d, sgns_epochs=sgns_epochs,
                     second_sgns_epochs=5 if sgns_epochs else 0, sgd_max_steps=sgd_max_steps, sgd_batch=sgd_batch,
                     min_count=min_count, stages=tuple(x for x in stages.split(",") if x))
    Path(out).mkdir(parents=True, exist_ok=True)
    console = _console()
    command = "emblab " + " ".join(sys.argv[1:])

    def write(records, extra):
        write_qwem(out, records, extra, command=command)

    write(*run_qwem(cfg, CellStore(store or cache_dir() / "bench_qwem", FINGERPRINT), log=console.print,
                    on_stage=write))
    console.print(f"-> {Path(out) / 'qwem.md'}")


def register(app: typer.Typer) -> None:
    app.add_typer(words_app, name="words")
