"""STS-B and SICK loaders on small files in the real layout (tab parsing, not CSV)."""

from __future__ import annotations

import numpy as np
import pytest

from emblab import DataError
from emblab.data.sts import load_sick, load_stsb

STSB_LINES = [
    "main-captions\tMSRvid\t2012test\t0024\t2.500\tA girl is styling her hair.\tA girl is brushing her hair.",
    # an unbalanced quote: a CSV parser would swallow the following lines
    'main-news\theadlines\t2013\t0001\t4.000\t"Obama says "no" to it\tObama refuses it.\tsrc1\tsrc2',
    "main-forums\tdeft\t2014\t0003\t0.000\tx\ty",
]
SICK_HEADER = ("pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\t"
               "entailment_BA\tsentence_A_original\tsentence_B_original\tsentence_A_dataset\t"
               "sentence_B_dataset\tSemEval_set")


def _sick_row(i, a, b, score, split):
    return f"{i}\t{a}\t{b}\tNEUTRAL\t{score}\tx\ty\t{a}\t{b}\tFLICKR\tFLICKR\t{split}"


def write_stsb(root):
    folder = root / "stsb"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        (folder / f"sts-{split}.csv").write_text("\n".join(STSB_LINES) + "\n", encoding="utf-8")
    return folder


def write_sick(root):
    folder = root / "sick"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [SICK_HEADER, _sick_row(1, "A dog runs", "A dog is running", 4.5, "TRAIN"),
            _sick_row(2, "A man cooks", "A woman sings", 1.2, "TEST"),
            _sick_row(3, 'He said "hi', "He greets", 3.9, "TEST"),
            _sick_row(4, "Kids play", "Children play", 4.9, "TRIAL")]
    (folder / "SICK.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_stsb_tab_columns(tmp_path):
    write_stsb(tmp_path)
    with pytest.warns(UserWarning, match="expected 1379"):
        s1, s2, gold = load_stsb("test", data_dir=tmp_path)
    assert s1 == ["A girl is styling her hair.", '"Obama says "no" to it', "x"]
    assert s2 == ["A girl is brushing her hair.", "Obama refuses it.", "y"]
    np.testing.assert_array_equal(gold, [2.5, 4.0, 0.0])
    assert gold.dtype == np.float64
    with pytest.raises(DataError, match="unknown split 'validation'"):
        load_stsb("validation", data_dir=tmp_path)
    with pytest.raises(DataError, match="expected 1500"):
        load_stsb("dev", data_dir=tmp_path, check_counts=True)
    (tmp_path / "stsb" / "sts-dev.csv").write_text("a\tb\tc\td\tfive\tx\ty\n")
    with pytest.raises(DataError, match="score 'five' is not a number"):
        load_stsb("dev", data_dir=tmp_path, check_counts=False)
    (tmp_path / "stsb" / "sts-dev.csv").write_text("a\tb\tc\n")
    with pytest.raises(DataError, match="at least 7 tab-separated fields"):
        load_stsb("dev", data_dir=tmp_path, check_counts=False)
    (tmp_path / "stsb" / "sts-train.csv").unlink()
    with pytest.raises(DataError, match="sts-train.csv: missing"):
        load_stsb("train", data_dir=tmp_path)


def test_sick_splits(tmp_path):
    write_sick(tmp_path)
    s1, s2, gold = load_sick("test", data_dir=tmp_path, check_counts=False)
    assert s1 == ["A man cooks", 'He said "hi'] and s2 == ["A woman sings", "He greets"]
    np.testing.assert_allclose(gold, [1.2, 3.9])
    assert load_sick("dev", data_dir=tmp_path, check_counts=False)[0] == ["Kids play"]
    assert load_sick("TRIAL", data_dir=tmp_path, check_counts=False)[2].tolist() == [4.9]
    with pytest.raises(DataError, match="expected 4439"):
        load_sick("train", data_dir=tmp_path, check_counts=True)
    (tmp_path / "sick" / "SICK.txt").write_text("pair_ID\tsentence_A\n1\tx\n")
    with pytest.raises(DataError, match="header lacks"):
        load_sick("test", data_dir=tmp_path)


def test_missing_dataset_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="emblab data fetch stsb"):
        load_stsb("test", data_dir=tmp_path)
    with pytest.raises(DataError, match="emblab data fetch sick"):
        load_sick("test", data_dir=tmp_path)


@pytest.mark.skipif("not __import__('os').environ.get('EMBLAB_DATA')", reason="needs EMBLAB_DATA")
def test_shared_sts_counts():
    assert len(load_stsb("test", check_counts=True)[0]) == 1379
    assert len(load_stsb("dev", check_counts=True)[0]) == 1500
    assert len(load_sick("test", check_counts=True)[0]) == 4906
    assert len(load_sick("trial", check_counts=True)[0]) == 495
