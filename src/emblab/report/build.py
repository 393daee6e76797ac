"""``build_report(paths, out_dir)``: one self-contained HTML page (images embedded) + PNG files.

The page has a summary table (one row per results file), then one section per file with its
figures, tables and provenance (dataset fingerprint, method specs, machine, versions, date,
command). Every file is read by :func:`emblab.experiment.read_results` and rendered by the section
registered for its kind (:mod:`emblab.report.registry`). A file that cannot be read or rendered
becomes a visible message on the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .._errors import DataError
from ..experiment.results import Results, read_results
from ..io import atomic_path
from .sections import Section, SectionError, html_table, section_for

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f4f4f4}
img{max-width:100%;border:1px solid #eee;margin:8px 0}.prov{font-size:12px;color:#555;background:#fafafa;padding:8px;border-left:3px solid #ccc}
.error{color:#a40000;background:#fff0f0;border-left:3px solid #a40000;padding:8px}
"""


def _is_other_json(path: Path) -> bool:
    """True for a readable JSON object that carries neither 'schema' nor 'kind'."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # malformed: keep it, so the page says what is wrong
    return isinstance(doc, dict) and "schema" not in doc and "kind" not in doc


def _provenance(res: Results) -> dict[str, Any]:
    env = res.environment
    mach = env.get("machine") or {}
    pk = env.get("packages") or {}
    return {
        "dataset": json.dumps(res.dataset, sort_keys=True)[:400],
        "machine": f"{mach.get('cpu', '?')}, {mach.get('cores', '?')} cores" + (f", GPU {mach['gpu']}" if mach.get("gpu") else ""),
        "versions": ", ".join([f"emblab {env.get('emblab', '?')}", f"python {env.get('python', '?')}"] +
                              [f"{k} {v}" for k, v in sorted(pk.items())]),
        "date": env.get("date_utc") or res.created_utc or "?",
        "command": env.get("command", "?"),
        "commit": env.get("git_commit") or "?",
    }


def render_sections(paths: Iterable[str | os.PathLike]) -> list[Section]:
    """Read each results file and render it with the section registered for its kind (errors
    become error sections)."""
    sections = []
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            # in a folder, JSON files that are not results (resolved configs, manifests) are skipped
            files.extend(f for f in sorted(p.glob("*.json")) if not _is_other_json(f))
        else:
            files.append(p)
    if not files:
        raise DataError("no results files given; pass result JSON files or folders holding them.")
    for f in files:
        try:
            res = read_results(f)
            sec = section_for(res.kind)(res, f.stem)
            sec.provenance = _provenance(res)
            for name in res.extra.get("plots") or []:
                png = f.parent / str(name)
                if png.suffix == ".png" and png.exists():
                    sec.images.append(png)
        except (SectionError, DataError) as exc:
            sec = Section(f"{f.stem}", "error", f.stem, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not sink the page
            sec = Section(f"{f.stem}", "error", f.stem,
                          error=f"could not render {f.name}: {type(exc).__name__}: {exc}")
        sections.append(sec)
    return sections


def build_report(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                 title: str = "emblab report") -> Path:
    """Write ``out_dir/index.html`` (self-contained) and one PNG per figure; returns the HTML path."""
    sections = render_sections(paths)
    out_dir = Path(out_dir)
    with atomic_path(out_dir, is_dir=True, kind="report") as tmp:
        parts = [f"<h1>{html.escape(title)}</h1>",
                 f"<p>Generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC from results files "
                 "only; no model was re-run. Each section says where its numbers came from.</p>"]
        summary = [[s.title, s.kind, len(s.figures) + len(s.images), "error: " + s.error if s.error else "ok",
                    s.provenance.get("date", "")] for s in sections]
        parts.append("<h2>Summary</h2>" + html_table(["experiment", "kind", "figures", "status", "date"], summary))
        for s in sections:
            parts.append(f"<h2 id='{html.escape(s.source)}'>{html.escape(s.title)}</h2>")
            if s.error:
                parts.append(f"<p class='error'>This section could not be shown: {html.escape(s.error)}</p>")
                continue
            if s.intro:
                parts.append(f"<p>{s.intro}</p>")
            for name, fig in s.figures:
                png = fig.render()
                (tmp / f"{name}.png").write_bytes(png)
                b64 = base64.b64encode(png).decode("ascii")
                parts.append(f"<img alt='{html.escape(fig.title)}' src='data:image/png;base64,{b64}'>")
            for png in s.images:
                b64 = base64.b64encode(png.read_bytes()).decode("ascii")
                parts.append(f"<img alt='{html.escape(png.stem)}' src='data:image/png;base64,{b64}'>")
            parts.extend(s.tables)
            if s.provenance:
                prov = "<br>".join(f"<b>{k}</b>: {html.escape(str(v))}" for k, v in s.provenance.items())
                parts.append(f"<div class='prov'>{prov}</div>")
        page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
                + "\n".join(parts) + "</body></html>")
        (tmp / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "index.html"
