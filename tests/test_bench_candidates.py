"""`emblab bench` without --methods: peers + seed compressors per budget, reasons for those that
cannot fit, shared SAE fits, the time budget and the verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab import build
from emblab.bench import candidates as cand_mod
from emblab.bench.candidates import SEED_RECIPES, SeedRecipe, default_candidates, fit_requirement
from emblab.bench.runner import run_bench
from emblab.experiment import Results
from emblab.bench.verdict import verdict, verdict_lines
from emblab.cli.main import main
from helpers.user_data import make_beir

#: the seed recipes at toy size (same code path, seconds instead of minutes)
TINY = (
    SeedRecipe("sae", "sae:h=64,budget={units},epochs=2,batch_size=64,progress=false,encoder=topk", 1, "budget",
               lambda u: 50, "toy", "test"),
    SeedRecipe("sae-omp", "sae:h=64,budget={units},epochs=2,batch_size=64,progress=false,encoder=omp", 1, "budget",
               lambda u: 50, "toy", "test"),
    SeedRecipe("mcr2", "mcr2:dim={units},store=int8,objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=2,"
               "batch_size=64,progress=false", 1, "d", lambda u: 2 * max(8, u // 4), "toy", "test"),
    SeedRecipe("ae", "ae:dim={units},store=f16,epochs=2,batch_size=64", 2, "d", lambda u: 20, "toy", "test"),
)


def test_seed_recipes_are_explicit_buildable_specs_at_each_budget():
    cands = default_candidates(384, [32, 64, 128], n_fit=5000)
    seeds = {(c.family, c.budget): c.spec for c in cands if c.family != "peer"}
    # budget-first packed SAE codes in the best-measured layout (benchmarks/results/sae_codes.md)
    assert seeds[("sae", 64)] == ("sae:h=4096,budget=64,train_k=32,batch_size=256,center=true,auxk=true,"
                                  "epochs=20,index_coding=ef,value_bits=4,value_fit=refit,encoder=topk")
    assert seeds[("sae-omp", 128)].startswith("sae:h=4096,budget=128,") and seeds[("sae-omp", 128)].endswith(
        "encoder=omp")
    assert build(seeds[("sae-omp", 64)]).coding_k() == 40      # k chosen so the payload fits 64 B
    assert seeds[("mcr2", 32)] == "mcr2:dim=32,store=int8,objective=mcr2,head=linear,init=pca,lr=0.0001"
    assert seeds[("ae", 128)] == "ae:dim=64,store=f16"
    for (family, budget), spec in seeds.items():
        assert build(spec).get_params()   # a valid spec
        assert not any(c.skip for c in cands if c.spec == spec)
    peers = {c.spec for c in cands if c.family == "peer"}
    assert "faiss:PQ64np" in peers and not any("OPQ" in s for s in peers)       # quick: no OPQ
    assert any("OPQ64" in c.spec for c in default_candidates(384, [64], n_fit=5000, mode="full"))
    assert {r.family for r in SEED_RECIPES} == {"sae", "sae-omp", "mcr2", "ae"}


def test_methods_that_cannot_fit_get_a_reason():
    cands = default_candidates(384, [31, 64], n_fit=150)
    reasons = {(c.family, c.budget): c.skip for c in cands if c.skip}
    assert "1,000 rows for validation" in reasons[("sae", 64)] and "150" in reasons[("sae", 64)]
    assert "not a multiple" in reasons[("ae", 31)]                   # 2 B per float16 dimension
    assert "256 rows" in reasons[("peer", 64)]                       # PQ64 needs 256 centroids' rows
    assert ("mcr2", 64) not in reasons and ("ae", 64) not in reasons   # 150 rows are enough for them
    assert fit_requirement("faiss:PQ128x4fs", 10) and fit_requirement("pca:dim=64", 63)
    assert fit_requirement("pca:dim=64", 64) is None


def test_bench_on_a_beir_folder_lists_every_seed_at_every_budget(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cand_mod, "SEED_RECIPES", TINY)
    make_beir(tmp_path / "col", n_docs=300)
    out = tmp_path / "run"
    assert main(["bench", "--task", f"beir:{tmp_path / 'col'}", "--budgets", "8,16", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    doc = json.loads((out / "bench.json").read_text())
    recs = doc["records"]
    for family in ("sae", "sae-omp", "mcr2", "ae"):
        for budget in (8, 16):
            row = [r for r in recs if r.get("family") == family and r.get("budget") == budget]
            assert len(row) == 1 and "ndcg@10" in row[0] and row[0]["bytes_per_vector"] <= budget, row
    omp = next(r for r in recs if r.get("family") == "sae-omp" and r["budget"] == 8)
    # one SAE fit serves both encoders and both budgets (coding parameters share the dictionary)
    assert omp["extra"]["fit_shared_with"] == "sae:h=64,budget=8,epochs=2,batch_size=64,progress=false,encoder=topk"
    # the verdict ends the terminal output and the markdown
    assert stdout.rstrip().splitlines()[-1].startswith("  ship it: emblab export ")
    assert "Verdict for beir:" in stdout and "<= 16 B: " in stdout
    md = (out / "bench.md").read_text()
    assert md.rstrip().splitlines()[-1].startswith("    emblab export ")
    assert "## Verdict: beir:" in md
    assert doc["verdict"][0]["budget"] == 8 and doc["verdict"][0]["spec"]


def test_bench_lists_methods_it_could_not_fit(tmp_path):
    make_beir(tmp_path / "col", n_docs=200)
    # the real recipes at 4 B: 200 rows are too few for the SAE and for PQ's 256 centroids
    res = run_bench(None, [f"beir:{tmp_path / 'col'}"], [4], out_dir=tmp_path / "run")
    assert isinstance(res, Results) and res.kind == "compression"
    skipped = {r["spec"]: r["skipped"] for r in res.records if "skipped" in r}
    sae = [spec for spec in skipped if spec.startswith("sae:h=4096,budget=4,")]
    assert len(sae) == 2 and all(skipped[spec].startswith("cannot fit: the SAE holds out 1,000 rows for validation")
                                 for spec in sae)
    assert skipped["faiss:PQ4np"].startswith("cannot fit: PQ trains 256 centroids")
    md = (tmp_path / "run" / "bench.md").read_text()
    assert "- faiss:PQ4np (4 B): cannot fit: PQ trains 256 centroids" in md
    from emblab.report.build import render_sections

    (section,) = render_sections([tmp_path / "run" / "bench.json"])   # the report shows the rows that ran
    assert section.error is None and section.tables


def test_time_budget_skips_the_rest_with_a_reason(tmp_path):
    make_beir(tmp_path / "col", n_docs=120)
    res = run_bench(["pca:dim=4", "pca:dim=8", "trunc:dim=4"], [f"beir:{tmp_path / 'col'}"], [16],
                    time_budget_s=1e-9, store=tmp_path / "cells")
    assert [r.get("skipped") for r in res.records[1:]] == ["not run: the time budget of 1e-09 s was used up"] * 3


def test_verdict_picks_the_pareto_best_at_or_under_each_budget():
    def rec(method, b, score, fit=1.0):
        return {"task": "t", "method": method, "spec": method, "bytes_per_vector": b, "main_score": "ndcg@10",
                "ndcg@10": score, "fit_time_s": fit, "search_time_s": 0.01}

    doc = Results("compression", [rec("float32", 1536, 0.65), rec("a", 32, 0.50), rec("b", 32, 0.55, fit=9.0),
                                  rec("c", 64, 0.55, fit=0.1), rec("d", 64, 0.60), rec("e", 128, 0.58),
                                  {"task": "t", "method": "f", "spec": "f", "skipped": "cannot fit"}],
                  dataset={"t": {"uri": "beir:/data/x", "uri_options": {"split": "dev"}, "n_queries": 7}},
                  extra={"budgets": [32, 64, 128]})
    v = {e["budget"]: e for e in verdict(doc)}
    assert v[32]["spec"] == "b" and v[64]["spec"] == "d" and v[128]["spec"] == "d"   # 128 B: d (64 B) still best
    assert v[64]["ratio"] == pytest.approx(0.60 / 0.65)
    assert v[64]["reproduce"] == "emblab export d --task beir:/data/x --set split=dev --out served/"
    doc.records.append(rec("g", 32, 0.55, fit=0.5))       # a tie at 32 B: same bytes, faster fit wins
    assert {e["budget"]: e for e in verdict(doc)}[32]["spec"] == "g"
    doc.extra["budgets"] = [16]
    assert verdict(doc)[0]["spec"] is None and "no method stores at most 16 B" in "\n".join(verdict_lines(doc))
    # a reference row that is not a compressor (popularity: 0 B) is never the verdict
    doc.records.append({**rec("popularity", 0, 0.30), "baseline": "popularity"})
    assert verdict(doc)[0]["spec"] is None


def test_notes_recorded_in_the_results_render_above_the_tables(tmp_path):
    from emblab.bench.runner import markdown_table, render_markdown
    from emblab.experiment import write_results

    rec = {"task": "t", "method": "pca:dim=4", "spec": "pca:dim=4", "bytes_per_vector": 8, "main_score": "ndcg@10",
           "ndcg@10": 0.5, "fit_time_s": 1.0, "search_time_s": 0.01}
    write_results(tmp_path / "b.json", "compression", [rec], budgets=[8], notes=["rows ran with the old defaults"])
    md = render_markdown(tmp_path / "b.json").read_text()
    assert md.splitlines()[2] == "> rows ran with the old defaults"
    assert md.index("> rows ran") < md.index("## t") and md == markdown_table(Results.from_dict(
        __import__("json").loads((tmp_path / "b.json").read_text())))
