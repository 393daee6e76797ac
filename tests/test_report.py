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
    (tmp_path / "noschema.json").write_text(json.dumps({"kind": "compression", "records": [{"x": 1}]}))
    write_results(tmp_path / "norecords.json", "compression", [])
    write_results(tmp_path / "nomethod.json", "compression", [{"x": 1}])
    secs = render_sections([good, tmp_path / "broken.json", tmp_path / "noschema.json", tmp_path / "norecords.json",
                            tmp_path / "nomethod.json"])
    errors = [s.error for s in secs if s.error]
    assert secs[0].error is None and len(errors) == 4
    assert "not valid JSON" in errors[0]
    assert "not an emblab results file" in errors[1]   # read_results refuses a file without the schema
    assert "empty" in errors[2]
    assert "lacks 'method'" in errors[3]


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path):
    from emblab.report.browser import check_page, find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); skipping the browser check")
    pytest.importorskip("playwright", reason="Playwright is not installed; skipping the browser check")
    res = _compression_results(tmp_path / "peers.json")
    write_results(tmp_path / "bad.json", "compression", [{"method": "x"}])
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


def test_section_registry_refuses_a_second_renderer_for_a_kind():
    from emblab._errors import InvalidParameterError
    from emblab.report.registry import register_section, registered_kinds
    from emblab.report.sections import compression_section, section_for

    assert {"compression", "corrector", "intrinsic_dimension", "qwem", "recsys"} <= set(registered_kinds())
    assert section_for("compression") is compression_section
    with pytest.raises(InvalidParameterError, match="'compression' is already registered"):
        register_section("compression")(lambda res, source: None)
    assert section_for("compression") is compression_section   # the refused one did not replace it
    with pytest.raises(InvalidParameterError, match="non-empty"):
        register_section("")


def test_unknown_kind_gets_the_generic_table(tmp_path):
    from emblab.report.sections import generic_section, section_for

    write_results(tmp_path / "odd.json", "no_such_kind", [{"stage": "load", "seconds": 1.5, "nested": {"a": 1}},
                                                         {"stage": "fit", "seconds": 7.25}])
    assert section_for("no_such_kind") is generic_section
    (sec,) = render_sections([tmp_path / "odd.json"])
    assert sec.error is None and sec.kind == "no_such_kind"
    assert len(sec.tables) == 1 and "records (2)" in sec.tables[0]
    assert "<th>stage</th><th>seconds</th></tr>" in sec.tables[0] and "7.25" in sec.tables[0]
    assert "nested" not in sec.tables[0]   # nested values are not table cells
    page = build_report([tmp_path / "odd.json"], tmp_path / "report").read_text()
    assert "no_such_kind" in page and "class='error'" not in page


def test_each_kind_section_receives_typed_results(tmp_path):
    from emblab.experiment import Results
    from emblab.report import registry

    kinds = ["compression", "corrector", "intrinsic_dimension", "qwem", "recsys"]
    seen = {}
    saved = dict(registry._SECTIONS)
    try:
        for kind in kinds:
            def spy(res, source, _kind=kind, _real=saved[kind]):
                seen[_kind] = (res, source)
                return _real(res, source)
            registry._SECTIONS[kind] = spy
            write_results(tmp_path / f"{kind}.json", kind, [{"method": "float32"}], dataset={"t": {"n": 3}},
                          command="made in the test", title=f"title of {kind}")
        render_sections([tmp_path / f"{k}.json" for k in kinds])
    finally:
        registry._SECTIONS.clear()
        registry._SECTIONS.update(saved)
    assert sorted(seen) == kinds
    for kind, (res, source) in seen.items():
        assert isinstance(res, Results) and res.kind == kind and source == kind
        assert res.records == [{"method": "float32"}] and res.dataset == {"t": {"n": 3}}
        assert res.environment["command"] == "made in the test" and res.extra["title"] == f"title of {kind}"


def test_compression_record_without_one_byte_figure_is_listed_not_fatal(tmp_path):
    res = _compression_results(tmp_path / "peers.json")
    doc = json.loads(res.read_text())
    doc["records"].append({"task": "knn", "method": "sae:budget=64", "bytes_per_vector": {"sae": 63.0, "flat": 1536}})
    res.write_text(json.dumps(doc))
    (sec,) = render_sections([res])
    assert sec.error is None and len(sec.figures) == 1
    assert "1 record(s)" in sec.intro and "sae:budget=64" in sec.intro
