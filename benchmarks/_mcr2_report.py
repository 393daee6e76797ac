"""Markdown table for benchmarks/mcr2.py results (reads the JSON only; never re-runs models)."""

from __future__ import annotations

import json
from pathlib import Path


def _f(v, nd=4):
    return "–" if v is None else f"{v:.{nd}f}"


def write_markdown(json_path: Path, md_path: Path) -> None:
    doc = json.loads(Path(json_path).read_text())
    env, ds = doc["environment"], doc["dataset"]
    recs = doc["records"]
    ref = next((r for r in recs if r["method"] == "float32"), None)
    sel = ds.get("phase") == "select"
    split = "dev (STS-B dev 1,500 / SICK TRIAL 495)" if sel else "test (STS-B 1,379 / SICK-R 4,906)"
    lines = [f"# MCR² vs PCA / truncation on all-MiniLM-L6-v2 ({'dev sweep' if sel else 'test'})", "",
             f"Spearman of cosine on {split}; SciFact nDCG@10 on 300 test queries (exact search)."
             if not sel else f"Spearman of cosine on {split}. No test split is used in this file.", "",
             "Methods are shown by their full resolved spec (every parameter); MCR² heads keep the epoch with the "
             "best STS-B dev Spearman (`set_validation_pairs`), which is protocol, not part of the spec.", "",
             "| method | dim | store | B/vec | STS-B | SICK-R | SciFact nDCG@10 | STS-B ret. | SICK-R ret. | fit s | best ep. |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        ret = lambda k: _f(r[k] / ref[k], 3) if ref and r.get(k) is not None and ref.get(k) else "–"  # noqa: E731
        be = r.get("best_epoch")
        shown = str(r.get("spec") or r["method"]).replace("|", "\\|")
        lines.append(f"| `{shown}` | {r['dim']} | {r['store']} | {r['bytes_per_vector']:.0f} | "
                     f"{_f(r['stsb_spearman'])} | {_f(r['sickr_spearman'])} | {_f(r.get('scifact_ndcg10'))} | "
                     f"{ret('stsb_spearman')} | {ret('sickr_spearman')} | {_f(r['fit_time_s'], 1)} | "
                     f"{'–' if be is None else be + 1}/{r.get('epochs_run', '–')} |")
    if not sel:
        lines += ["", "## Goal: mcr2 vs PCA at 64 and 128 dims (float16 codes, test splits)", "",
                  "| variant | dim | ΔSTS-B vs PCA | ΔSICK-R vs PCA | ΔSciFact vs PCA |", "|---|---|---|---|---|"]
        pca = {r["dim"]: r for r in recs if r["method"].startswith("pca:") and r["store"] == "f16"}
        for r in recs:
            if r.get("variant") and r["store"] == "f16" and r["dim"] in (64, 128) and r["dim"] in pca:
                q = pca[r["dim"]]
                lines.append(f"| {r['variant']} | {r['dim']} | {r['stsb_spearman'] - q['stsb_spearman']:+.4f} | "
                             f"{r['sickr_spearman'] - q['sickr_spearman']:+.4f} | "
                             f"{r['scifact_ndcg10'] - q['scifact_ndcg10']:+.4f} |")
        notes = Path(md_path).with_name("mcr2_notes.md")
        if notes.exists():
            lines += ["", notes.read_text().strip()]
    m = env.get("machine", {})
    pk = env.get("packages", {})
    lines += ["", f"- fit set: {json.dumps(ds.get('fit_set'))}",
              f"- machine: {json.dumps(m)}", f"- versions: emblab {env.get('emblab')}, python {env.get('python')}, "
              + ", ".join(f"{k} {v}" for k, v in sorted(pk.items()) if v),
              f"- command: `{env.get('command')}`", f"- date: {doc.get('created_utc')}",
              f"- total time: {doc.get('total_seconds', 0):.0f} s"]
    lines += [f"- edit of the records after the run ({e['date']}): {e['what']}" for e in doc.get("record_edits", [])]
    lines.append("")
    Path(md_path).write_text("\n".join(lines))
