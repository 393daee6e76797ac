"""Report rendering: figures from results JSON, errors shown on the page, checked in Chromium."""

from __future__ import annotations

import json

import pytest

from emblab.experiment.results import write_results
from emblab.report.build import build_report, render_sections
from emblab.report.style import color, family


def _compression_results(path):
    recs = [{"task": "knn", "method": "float32", "bytes_per_vector": 1536, "scores": {"recall@10_asym": 1.0}}]
    for m in (16, 32, 64):
        recs.append({"task": "knn", "method": f"faiss:PQ{m}", "bytes_per_vector": m,
                     "scores": {"recall@10_asym": 0.3 + m / 200}})
        recs.append({"task": "knn", "method": f"pca:dim={m},store=int8", "bytes_per_vector": m,
                     "scores": {"recall@10_asym": 0.2 + m / 150}})
    write_results(path, "compression", recs, command="test")
    return path


def test_family_and_colour_are_stable():
    import hashlib

    from emblab.report.style import _PALETTE

    assert family("pca:dim=64,store=int8") == "pca store=int8"
    assert family("faiss:OPQ32,PQ32") == "OPQ+PQ"
    assert family("pca:dim=128,store=f32|int8") == "pca+int8"
    # results hold full specs: they join the family of their short form
    assert family("pca:dim=64,store=int8,whiten=false") == "pca store=int8"
    assert family("pca:dim=32,store=f16,whiten=false") == family("pca:dim=96") == "pca"
    # fixed colours for the common families, distinct from each other
    assert color("PQ") == "#ff7f0e" and color("OPQ+PQ") == "#d62728" and color("pca") == "#1f77b4"
    assert len({color(f) for f in ("PQ", "OPQ+PQ", "pca", "pca store=int8", "trunc", "binary")}) == 6
    # other names: a palette colour from a hash of the name (the same in every process, unlike hash())
    name = "sae h=16384"
    want = _PALETTE[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(_PALETTE)]
    assert color(name) == want
    assert color("uncompressed (float32)") == color("uncompressed") == "#000000"


def test_report_has_figures_tables_and_pngs(tmp_path):
    res = _compression_results(tmp_path / "peers.json")
    page = build_report([res], tmp_path / "report")
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 1
    assert "Pareto-best" in text and "faiss:PQ64" in text
    assert "AMD" in text or "cores" in text   # the machine line (CPU name varies between machines)
    assert len(list((tmp_path / "report").glob("*.png"))) == 1


def test_malformed_sections_become_messages(tmp_path):
    good = _compression_results(tmp_path / "good.json")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "norecords.json").write_text(json.dumps({"kind": "compression", "records": []}))
    (tmp_path / "nomethod.json").write_text(json.dumps({"kind": "compression", "records": [{"x": 1}]}))
    secs = render_sections([good, tmp_path / "broken.json", tmp_path / "norecords.json", tmp_path / "nomethod.json"])
    errors = [s.error for s in secs if s.error]
    assert len(errors) == 3
    assert any("not valid JSON" in e for e in errors)
    assert any("empty" in e for e in errors)
    assert any("lacks 'method'" in e for e in errors)


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path):
    from emblab.report.browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); skipping the browser check")
    pytest.importorskip("playwright", reason="Playwright is not installed; skipping the browser check")
    res = _compression_results(tmp_path / "peers.json")
    (tmp_path / "bad.json").write_text(json.dumps({"kind": "compression", "records": [{"method": "x"}]}))
    page = build_report([res, tmp_path / "bad.json"], tmp_path / "report")
    shot = tmp_path / "shot.png"
    check = check_page(page, shot)
    assert check.n_images == 1 and check.n_loaded == 1
    assert check.console_errors == []
    assert len(check.error_messages) == 1 and "lacks 'method'" in check.error_messages[0]
    assert shot.stat().st_size > 10_000


def test_folder_input_skips_non_results_json(tmp_path):
    _compression_results(tmp_path / "peers.json")
    (tmp_path / "config.json").write_text(json.dumps({"methods": ["pca"]}))
    secs = render_sections([tmp_path])
    assert [s.source for s in secs] == ["peers"] and secs[0].error is None
