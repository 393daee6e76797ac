"""MovieLens loaders and the leave-last-out recommendation protocol (baselines_and_eval.md §2.5)."""

from __future__ import annotations

import numpy as np
import pytest

from emblab._errors import DataError
from emblab.data.movielens import load_movielens
from emblab.evaluation.tasks import recsys as rs


@pytest.fixture
def ml100k(tmp_path):
    d = tmp_path / "movielens_100k"
    d.mkdir()
    flags = ["0"] * 19
    items = []
    for i, title in [(1, "Toy Story (1995)"), (2, "Café Society (1995)"), (3, "Heat (1995)"), (4, "Up (2009)")]:
        f = list(flags)
        f[1 + (i % 3)] = "1"
        items.append("|".join([str(i), title, "01-Jan-1995", "", "http://x"] + f))
    (d / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    # user 1: items 1,2 at t=5 (tie -> item id order), then 3 at t=9; user 2: 4, 1
    (d / "u.data").write_text("1\t3\t4\t9\n1\t2\t5\t5\n1\t1\t3\t5\n2\t4\t5\t1\n2\t1\t2\t2\n")
    return tmp_path


def test_ml100k_latin1_texts_and_order(ml100k):
    ml = load_movielens("ml-100k", data_dir=ml100k)
    assert ml.n_items == 4 and ml.n_users == 2
    assert ml.item_texts[1] == "Café Society (1995). Genres: Animation"
    assert ml.item_texts[0] == "Toy Story (1995). Genres: Adventure"
    h = ml.histories()
    assert h[0].tolist() == [0, 1, 2]  # (timestamp, item id): 1 and 2 tie at t=5
    assert h[1].tolist() == [3, 0]


def test_latest_small_csv(tmp_path):
    d = tmp_path / "movielens_latest_small" / "ml-latest-small"
    d.mkdir(parents=True)
    (d / "movies.csv").write_text('movieId,title,genres\n1,"Toy Story, The (1995)",Adventure|Comedy\n'
                                  "5,Nothing (2000),(no genres listed)\n")
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n7,5,4.0,10\n7,1,3.5,11\n")
    ml = load_movielens("movielens_latest_small", data_dir=tmp_path)
    assert ml.item_texts == ["Toy Story, The (1995). Genres: Adventure, Comedy", "Nothing (2000)."]
    assert ml.histories()[0].tolist() == [1, 0]


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="unknown MovieLens"):
        load_movielens("ml-1m", data_dir=tmp_path)
    with pytest.raises(DataError, match="missing"):
        load_movielens("ml-100k", data_dir=tmp_path)


def test_leave_last_out_metrics_known_answer():
    # 3 users, 12 items; item vectors = one-hot so user vectors point at their history
    E = np.eye(12, dtype=np.float32)
    hist = [np.array([0, 1, 2]), np.array([3, 4]), np.array([5, 6, 7, 8, 9, 10])]
    s1 = rs.leave_last_out(hist, 12, 1)
    assert [h.tolist() for h in s1.heldout] == [[2], [4], [10]]
    top = rs.popularity_topn(s1)
    # history items count 1, held-out items 0; ties by item index; own history excluded
    assert top[0].tolist() == [3, 5, 6, 7, 8, 9, 2, 4, 10, 11]
    m = rs.split_metrics(top, s1)
    ranks = [1 + int(np.flatnonzero(t == h[0])[0]) if h[0] in t else 11 for t, h in zip(top, s1.heldout)]
    assert m["hr@10"] == np.mean(np.array(ranks) <= 10)
    np.testing.assert_allclose(m["ndcg@10"], np.mean([1 / np.log2(r + 1) if r <= 10 else 0 for r in ranks]))
    exact = rs.evaluate_split(s1, E, None)
    assert 0 <= exact["hr@10"] <= 1
    s5 = rs.leave_last_out(hist, 12, 5)
    assert len(s5.histories) == 1  # only the user with > 5 interactions
    r = rs.split_metrics(rs.random_topn(s5), s5)
    assert 0 <= r["recall@10_last5"] <= 1


def test_user_vectors_normalised_mean():
    E = np.array([[3.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    U = rs.user_vectors(E, [np.array([0, 1])])
    np.testing.assert_allclose(U, [[np.sqrt(0.5), np.sqrt(0.5)]], atol=1e-6)


def test_compressed_evaluation_runs():
    pytest.importorskip("torch")
    import emblab

    rng = np.random.default_rng(0)
    E = rng.normal(size=(60, 16)).astype(np.float32)
    hist = [rng.permutation(60)[:8] for _ in range(5)]
    s1 = rs.leave_last_out(hist, 60, 1)
    m = emblab.build("pca:dim=4,store=f32").fit(E)
    codes = m.encode(E)
    for users in ("uncompressed", "decoded"):
        out = rs.evaluate_split(s1, E, m, codes, "asymmetric", users)
        assert set(out) == {"hr@10", "ndcg@10"}
