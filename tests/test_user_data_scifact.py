"""The shared SciFact data as a user's BEIR folder (``beir:DIR``) reproduces ``beir_scifact`` exactly."""

from __future__ import annotations

import os

import pytest

from emblab.data.beir import assemble_beir_folder
from emblab.evaluation.tasks import evaluate, get_task

pytestmark = pytest.mark.skipif(not os.environ.get("EMBLAB_DATA"), reason="needs EMBLAB_DATA")


@pytest.mark.parametrize("model", [None, "pca:dim=64,store=int8", "binary"])
def test_scifact_through_beir_uri_equals_beir_scifact(tmp_path, model):
    folder = assemble_beir_folder(tmp_path / "scifact")
    ours = evaluate(model, f"beir:{folder}")
    reference = evaluate(model, "beir_scifact")
    shared = [k for k in ours.scores if k in reference.scores]
    assert {"ndcg@10", "recall@10", "recall@100"} <= set(shared)
    assert {k: ours.scores[k] for k in shared} == {k: reference.scores[k] for k in shared}   # exactly
    assert ours.dataset["n_corpus"] == 5183 and ours.dataset["n_queries"] == 300
    if model is None:
        assert round(ours.scores["ndcg@10"], 4) == 0.6451
        assert 0 < ours.scores["mrr@10"] <= 1


def test_scifact_dev_split_option_and_train_qrels(tmp_path):
    folder = assemble_beir_folder(tmp_path / "scifact")
    task = get_task(f"beir:{folder}", split="train")
    task.load()
    assert len(task.query_ids) == 809          # the 809 queries judged in qrels/train.tsv
