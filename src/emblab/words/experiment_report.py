"""Markdown and figures of the QWEM experiment, rendered from its results JSON only.

:func:`write_qwem` writes ``qwem.json`` (via :func:`emblab.experiment.write_results`), the
``qwem_*.png`` figures and ``qwem.md``; :func:`render_qwem` rewrites the markdown and the figures
from a committed ``qwem.json`` without running anything (``--render``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..experiment import read_results, write_results
from ..experiment.markdown import document, table
from ..io import atomic_write_text

__all__ = ["write_qwem", "render_qwem", "render_markdown", "render_figures", "upgrade_document"]

TITLE = "QWEM benchmark (issue 6)"
DATASETS = {"imdb": "imdb_aclimdb (labelled + unsup, 100k reviews)", "text8": "text8_prefix"}
COMMANDS = ("regenerate: `EMBLAB_DATA=... OMP_NUM_THREADS=2 python benchmarks/qwem.py` (resumes from the cell store)",
            "re-render this page and the figures from qwem.json: `python benchmarks/qwem.py --render`")


def fmt(x: float | None, pct: bool = False, nd: int = 3) -> str:
    """A number as a table cell: percent with one decimal, or ``nd`` decimals; None as an en dash."""
    if x is None:
        return "–"
    return f"{100 * x:.1f}" if pct else f"{x:.{nd}f}"


def _k(V: int) -> str:
    return f"{V // 1000}k" if V % 1000 == 0 else str(V)


def upgrade_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Bring a results document of an earlier layout up to this one (numbers untouched).

    Documents written before the experiment was a set of cells carry a note on the old stage cache
    (``$EMBLAB_CACHE/qwem_bench``, ``--report-only``); it is replaced by the current note.
    """
    from .experiment import NOTES

    notes = [NOTES[-1] if "--report-only" in n else n for n in doc.get("notes", [])]
    return {**doc, "notes": notes}


def write_qwem(out_dir: str | Path, records: list[dict[str, Any]], extra: dict[str, Any], *,
               command: str) -> dict[str, Any]:
    """Write ``qwem.json``, the figures and ``qwem.md`` into ``out_dir``; returns the document."""
    out_dir = Path(out_dir)
    files = render_figures(extra, out_dir)
    doc = write_results(out_dir / "qwem.json", "qwem", records, command=command, dataset=DATASETS,
                        **extra, plots=files)
    atomic_write_text(out_dir / "qwem.md", render_markdown(doc))
    return doc


def render_qwem(out_dir: str | Path) -> dict[str, Any]:
    """Rewrite ``qwem.md`` and the figures from ``out_dir/qwem.json`` (nothing is run)."""
    out_dir = Path(out_dir)
    doc = upgrade_document(read_results(out_dir / "qwem.json").to_dict())
    doc["plots"] = render_figures(doc, out_dir)
    atomic_write_text(out_dir / "qwem.md", render_markdown(doc))
    return doc


def render_markdown(doc: dict[str, Any]) -> str:
    """The whole ``qwem.md`` page of a results document (kind ``qwem``)."""
    L = ["All analogy numbers: **all-pairs protocol** (paper) unless the column says gensim protocol; the two "
         "protocols are not comparable. Similarity: Spearman over covered pairs (coverage in brackets). "
         "Time = wall-clock to vectors on this shared 2-core machine.", "", "## Peers (d = 200 unless stated)", ""]
    L += table(["corpus", "V", "method", "all-pairs % (n)", "gensim-protocol % (n)", "WS353 (cov)", "SimLex (cov)",
                "time s"],
               [[r["corpus"], str(r["V"]), r["method"], f"{fmt(r['analogy_all_pairs'], True)} ({r['analogy_all_pairs_n']})",
                 f"{fmt(r['analogy_gensim'], True)} ({r['analogy_gensim_n']})", f"{fmt(r['ws353'])} ({r['ws353_covered']})",
                 f"{fmt(r['simlex'])} ({r['simlex_covered']})", f"{r['seconds']:.1f}"] for r in doc["records"]])
    L += _ordering(doc["records"])
    if doc.get("critical_size"):
        L += _critical(doc["critical_size"])
    if doc.get("dynamics"):
        L += _dynamics(doc["dynamics"])
    if doc.get("sgd"):
        L += _sgd(doc["sgd"], (doc.get("critical_size") or {}).get("V"))
    L += ["", "## Notes", ""] + [f"- {n}" for n in doc.get("notes", [])]
    L += ["", "Plots: " + ", ".join(f"`{f}`" for f in doc.get("plots", []))]
    return document(TITLE, L, doc, notes=COMMANDS)


def _ordering(records: list[dict[str, Any]]) -> list[str]:
    # the paper's ordering (Fig. 3b): SGNS ~ QWEM > svd(PPMI) >> svd(PMI); ours, by all-pairs accuracy
    groups: dict = {}
    for r in records:
        if r.get("d") == 200 or "GD" not in r["method"]:
            groups.setdefault((r["corpus"], r["V"]), []).append(r)
    L = ["", "Ordering by all-pairs accuracy (paper, V=10k Wikipedia: SGNS 68.0 ≈ QWEM-SGD 65.1 ≈ svd(M*) 66.3 > "
             "svd(PPMI) 50.6 >> svd(PMI) 8.4):", ""]
    for (corpus, V), rs in groups.items():
        rs = sorted(rs, key=lambda r: -(r["analogy_all_pairs"] or 0.0))
        L.append(f"- {corpus}, V={V}: " + " > ".join(f"{r['method'].split('(')[0]} {fmt(r['analogy_all_pairs'], True)}"
                                                      for r in rs))
    return L


def _critical(crit: dict[str, Any]) -> list[str]:
    snr = crit.get("snr") or {}
    rows = []
    for f, r in crit["critical"].items():
        s = snr.get("snr", {}).get(f)
        pk = snr["dims"][int(np.nanargmax(np.array(s, dtype=float)))] if s else None
        if r["status"] != "ok":
            rows.append([f, str(r["n"]), "insufficient coverage", "", "", "", ""])
        else:
            rows.append([f, str(r["n"]), *[str(r.get(f"d_c@{th}") or "not reached") for th in ("0.05", "0.1", "0.2")],
                         fmt(r["max_accuracy"], True), str(pk)])
    L = ["", f"## Critical size per family (IMDB, V = {crit['V']}, closed form, d grid 2..{crit['d_max']})", ""]
    L += table(["family", "analogies", "d_c @5%", "d_c @10%", "d_c @20%", "max acc %", "peak SNR d"], rows)
    acc = crit["accuracy_vs_dim"]
    fam_ok = [f for f, r in crit["critical"].items() if r["status"] == "ok" and f in snr.get("snr", {})]
    if len(fam_ok) >= 3:
        pk = [np.nanmax(np.array(snr["snr"][f], dtype=float)) for f in fam_ok]
        mx = [crit["critical"][f]["max_accuracy"] for f in fam_ok]
        rho = float(np.corrcoef(np.argsort(np.argsort(pk)), np.argsort(np.argsort(mx)))[0, 1])
        al = [snr["mean_alignment"][f][int(np.nanargmax(np.array(snr["snr"][f], dtype=float)))] for f in fam_ok]
        L += ["", f"Peak spike SNR vs best accuracy across the {len(fam_ok)} covered families: Spearman {rho:.3f}. "
              f"|cos| between the spike direction and the mean difference vector at the SNR peak: median "
              f"{np.median(al):.3f} (min {np.min(al):.3f})."]
    L += ["", "Overall accuracy vs d: " + ", ".join(f"d={d}: {fmt(a, True)}" for d, a in zip(acc["dims"], acc["overall"]))]
    return L


def _dynamics(dyn: dict[str, Any]) -> list[str]:
    L = ["", "## Dynamics: full-batch GD on ||WW^T - M*||^2 vs theory", ""]
    L += table(["start", "V", "d", "sigma", "dtype", "steps", "modes rose",
                "median rel. err of half-rise step (continuous / discrete-map)", "max (cont. / discrete)",
                "corr(pred, meas)", "corr(log)", "frac. in eigen-order", "final ‖WWᵀ−M*_d‖/‖M*_d‖", "time s"],
               [[init, str(r["V"]), str(r["d"]), f"{r['init_scale']:g}", r["dtype"], str(r["n_steps"]),
                 str(r["n_modes_rose"]), f"{fmt(r['median_rel_err'], nd=4)} / {fmt(r['median_rel_err_discrete'], nd=4)}",
                 f"{fmt(r['max_rel_err'], nd=4)} / {fmt(r['max_rel_err_discrete'], nd=4)}", fmt(r["corr_pred_meas"], nd=4),
                 fmt(r["corr_log"], nd=4), fmt(r["frac_in_order"]), f"{r['final_rel_err_vs_Md']:.2e}",
                 f"{r['seconds']:.1f}"] for init, r in dyn.items() if r])
    r = dyn.get("random") or {}
    for th, oa in (r.get("onset_agreement") or {}).items():
        L += ["", f"Onset agreement ({th}): accuracy-vs-d onset d_c mapped to tau_(d_c) vs the step where the trained "
              f"model's family accuracy first reaches the threshold (predicted step = discrete-map onset of mode d_c; "
              f"snapshots every {r['accuracy_vs_step']['steps'][0]} steps); Spearman {fmt(oa.get('spearman'))}, "
              f"Pearson(log) {fmt(oa.get('pearson_log'))} over {oa['n_families']} families.", ""]
        L += table(["family", "d_c", "predicted step", "measured step"],
                   [[f, str(x["d_c"] or "not reached"), fmt(x["predicted_step"], nd=0), str(x["measured_step"] or "not reached")]
                    for f, x in oa["families"].items()])
    return L


def _sgd(sgd: dict[str, Any], V: int | None) -> list[str]:
    L = ["", "## Sampled SGD (same sampler for both losses; CPU runs, far from the authors' millions of steps)", ""]
    return L + table(["loss", "V", "d", "steps", "batch", "lr", "share of GD horizon", "init", "all-pairs %", "WS353",
                      "SimLex", "time s"],
                     [[loss, str(V or r.get("cell", {}).get("V")), str(r["d"]), str(r["n_steps"]), str(r["batch"]), f"{r['lr']:g}",
                       fmt(r.get("horizon_fraction"), nd=2), f"{r['init_scale']:g}", fmt(r["analogy_all_pairs"], True),
                       fmt(r["ws353"]), fmt(r["simlex"]), f"{r['seconds']:.1f}"] for loss, r in sgd.items() if r])


def render_figures(doc: dict[str, Any], out_dir: str | Path) -> list[str]:
    """PNG figures (matplotlib Agg) of the dynamics, onsets, accuracy vs d / step, SNR and SGD; file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    files: list[str] = []

    def save(fig, name: str) -> None:
        for ax in fig.axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files.append(name)

    min_count = (doc.get("config") or {}).get("min_count", 50)  # families with enough analogies

    def families(ax, xs: Sequence, per: dict[str, list], n: dict[str, int], semilog: bool, style: str = "-") -> None:
        for f, a in per.items():
            if n.get(f, 0) >= min_count:
                (ax.semilogx if semilog else ax.plot)(xs, [np.nan if x is None else x for x in a], style, ms=3, label=f)

    dyn = doc.get("dynamics") or {}
    if dyn.get("random"):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, init in zip(axes, ("aligned", "random")):
            r = dyn.get(init)
            if not r:
                continue
            steps, sig, lam, s0 = (np.asarray(r[k], dtype=float) for k in ("steps", "sigma_modes", "lam", "s0"))
            # logistic curves with the discrete-map growth rate (1 + eta lam)^{2n} in place of e^{2 eta lam n}
            E = np.exp(2 * steps[:, None] * np.log1p(r["lr"] * lam)[None, :])
            theo = s0 * lam * E / (lam + s0 * (E - 1))
            cols = plt.cm.viridis(np.linspace(0, 1, len(lam)))
            for k in range(0, len(lam), max(1, len(lam) // 16)):
                ax.plot(steps, sig[:, k], color=cols[k], lw=1.5)
                ax.plot(steps, theo[:, k], color=cols[k], lw=0.8, ls="--")
            ax.set_yscale("log")
            ax.set_ylim(max(min(sig.min(), 1e-14), 1e-14), lam.max() * 2)
            ax.set(xlabel="GD step", ylabel="sigma_k = ||u_k^T W||^2")
            ax.set_title(f"{init} start, V={r['V']}, d={r['d']}, sigma={r['init_scale']:g}: measured (solid), "
                         "theory (dashed)", fontsize=9)
        save(fig, "qwem_dynamics.png")
        r = dyn["random"]
        fig, ax = plt.subplots(figsize=(5.5, 5))
        p, m = np.asarray(r["predicted_half_rise"], float), np.asarray(r["measured_half_rise"], float)
        ax.loglog(p, m, "o", ms=3)
        ax.plot([np.nanmin(p), np.nanmax(p)], [np.nanmin(p), np.nanmax(p)], "k--", lw=0.8)
        ax.set(xlabel="predicted onset step tau_k/(2 eta)", ylabel="measured half-rise step",
               title=f"random start: corr={fmt(r['corr_pred_meas'], nd=4)}")
        save(fig, "qwem_onsets.png")
    crit = doc.get("critical_size")
    if crit:
        acc = crit["accuracy_vs_dim"]
        fig, ax = plt.subplots(figsize=(8, 5))
        families(ax, acc["dims"], acc["per_family"], acc["n"], True, "-o")
        ax.semilogx(acc["dims"], acc["overall"], "k-", lw=2.5, label="overall")
        ax.set(xlabel="d (closed form W*_d)", ylabel="all-pairs analogy accuracy",
               title=f"IMDB V={_k(crit['V'])}: accuracy vs d per family")
        save(fig, "qwem_acc_vs_d.png")
        r = dyn.get("random") or {}
        if r.get("accuracy_vs_step"):
            at = r["accuracy_vs_step"]
            fig, ax = plt.subplots(figsize=(8, 5))
            families(ax, at["steps"], at["per_family"], acc["n"], False)
            ax.plot(at["steps"], at["overall"], "k-", lw=2.5, label="overall (trained, vs step)")
            # closed-form accuracy at d plotted at the predicted onset step of mode d
            pd_ = np.asarray(r["predicted_half_rise_discrete"], float)
            xs = [(pd_[d - 1], a) for d, a in zip(acc["dims"], acc["overall"]) if d <= len(pd_) and np.isfinite(pd_[d - 1])]
            if xs:
                ax.plot(*zip(*xs), "k--o", ms=4, lw=1.5, label="overall closed form W*_d at step tau_d")
            ax.set(xlabel=f"GD step (random start, sigma={r['init_scale']:g}, d={r['d']})",
                   ylabel="all-pairs analogy accuracy")
            save(fig, "qwem_acc_vs_step.png")
        snr = crit.get("snr")
        if snr:
            fig, ax = plt.subplots(figsize=(8, 5))
            families(ax, snr["dims"], snr["snr"], acc["n"], True)
            ax.set(xlabel="d", ylabel="spike SNR of difference vectors")
            save(fig, "qwem_snr.png")
    sgd = doc.get("sgd")
    if sgd:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, (loss, r) in zip(axes, sgd.items()):
            if r:
                ax.semilogy(r["steps"], np.asarray(r["singular_values"], dtype=float) ** 2, lw=0.8)
                ax.set(title=f"sampled SGD, {loss} loss: squared singular values of W", xlabel="step")
        save(fig, "qwem_sgd.png")
    return files
