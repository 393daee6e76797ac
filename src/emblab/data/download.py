"""Fetch datasets from their canonical public sources into the cache directory.

Nothing downloads unless the user asks: ``load_*(..., download=True)`` or
``emblab data fetch NAME``. A download is streamed to ``<cache>/downloads/<file>.part``, its
checksum (sha256, else the md5 the publisher lists) is verified, the file is renamed into place,
and the archive is unpacked into a temporary folder that is moved to ``<cache>/data/<name>/``
only once it has the layout the loaders expect (the layout of ``shared/data``). An interrupted
run therefore never leaves a half-made dataset folder.

Lookup order used by the loaders (:func:`resolve_dataset_dir`): the data root
(``--data-dir`` / ``EMBLAB_DATA``), then ``<cache>/data/<name>``, then, with ``download=True``,
a fresh download.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .._errors import DataError
from .paths import cache_dir, data_root

__all__ = ["DatasetSource", "DATASETS", "resolve_dataset_dir", "fetch", "cached_dataset_dir"]

_USER_AGENT = "emblab-data-fetch/0.1 (+https://github.com/emblab)"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from and how its archive becomes the expected folder.

    Attributes
    ----------
    url : str
        Canonical public download URL.
    sha256 : str or None
        Expected sha256 of the downloaded file, when known.
    layout_fn : callable(extracted: Path, dest: Path) -> None
        Turns the unpacked archive (``extracted``) into the loader layout inside ``dest``.
    md5 : str or None
        Publisher-listed md5, checked when no sha256 is known.
    description, license : str
    """

    url: str
    sha256: str | None
    layout_fn: Callable[[Path, Path], None]
    md5: str | None = None
    description: str = ""
    license: str = ""
    files: tuple[str, ...] = field(default_factory=tuple)  # must exist after layout_fn

    @property
    def filename(self) -> str:
        return re.sub(r"[?#].*$", "", self.url).rstrip("/").rsplit("/", 1)[-1]


# --- layout functions: extracted archive -> loader layout -------------------------------------

def _move_children(src: Path, dest: Path) -> None:
    for child in src.iterdir():
        shutil.move(str(child), str(dest / child.name))


def _single_subdir(extracted: Path, name: str | None = None) -> Path:
    """The folder holding the data: ``extracted/name`` if given and present, else the only subdir."""
    if name and (extracted / name).is_dir():
        return extracted / name
    subdirs = [p for p in extracted.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", "."))]
    files = [p for p in extracted.iterdir() if p.is_file()]
    if len(subdirs) == 1 and not files:
        return subdirs[0]
    return extracted


def layout_flatten(subdir: str | None = None) -> Callable[[Path, Path], None]:
    """Layout: move the contents of the archive's top folder (or ``subdir``) into ``dest``."""
    def fn(extracted: Path, dest: Path) -> None:
        _move_children(_single_subdir(extracted, subdir), dest)
    return fn


def layout_keep(extracted: Path, dest: Path) -> None:
    """Layout: keep the archive's tree as is (e.g. ``movielens_latest_small/ml-latest-small/``)."""
    _move_children(extracted, dest)


def layout_aclimdb(extracted: Path, dest: Path) -> None:
    """aclImdb tarball -> ``imdb_labeled.jsonl.gz`` and ``imdb_unsup.jsonl.gz`` (+ README, imdb.vocab).

    Row order is train/neg, train/pos, test/neg, test/pos, each by numeric review id, then
    train/unsup by id: the order of ``shared/data/imdb_aclimdb`` and of the precomputed
    MiniLM embeddings. File names are ``<id>_<rating>.txt``.
    """
    src = _single_subdir(extracted, "aclImdb")

    def rows(split: str, label: str):
        folder = src / split / label
        if not folder.is_dir():
            raise DataError(f"{folder}: missing in the aclImdb archive; the download is incomplete.")
        items = []
        for p in folder.glob("*.txt"):
            m = re.fullmatch(r"(\d+)_(\d+)\.txt", p.name)
            if m:
                items.append((int(m.group(1)), int(m.group(2)), p))
        for rid, rating, p in sorted(items):
            yield {"split": split, "label": label, "id": rid, "rating": rating,
                   "text": p.read_text(encoding="utf-8")}

    def write(path: Path, parts) -> None:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for split, label in parts:
                for row in rows(split, label):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    write(dest / "imdb_labeled.jsonl.gz", [("train", "neg"), ("train", "pos"), ("test", "neg"), ("test", "pos")])
    write(dest / "imdb_unsup.jsonl.gz", [("train", "unsup")])
    for name in ("README", "imdb.vocab"):
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)


_BEIR = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"
_GROUPLENS = "https://files.grouplens.org/datasets/movielens"

#: Registry of downloadable datasets, keyed by the folder name under the data root.
DATASETS: dict[str, DatasetSource] = {
    "stsb": DatasetSource(
        "https://ixa2.si.ehu.eus/stswiki/images/4/48/Stsbenchmark.tar.gz", None, layout_flatten("stsbenchmark"),
        description="STS Benchmark (SemEval-2017), train/dev/test", license="CC BY-SA 4.0 (scores)",
        files=("sts-train.csv", "sts-dev.csv", "sts-test.csv")),
    "sick": DatasetSource(
        "https://zenodo.org/record/2787612/files/SICK.zip?download=1", None, layout_flatten(),
        description="SICK (Marelli et al. 2014), relatedness + SemEval-2014 split", license="CC BY-NC-SA 3.0",
        files=("SICK.txt",)),
    "scifact_beir": DatasetSource(
        f"{_BEIR}/scifact.zip", "536e14446a0ba56ed1398ab1055f39fe852686ecad24a6306c80c490fa8e0165",
        layout_flatten("scifact"), md5="5f7d1de60b170fc8027bb7898e2efca1",
        description="SciFact in BEIR layout (5,183 docs, 1,109 queries)", license="CC BY-NC 2.0",
        files=("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")),
    "movielens_100k": DatasetSource(
        f"{_GROUPLENS}/ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        layout_flatten("ml-100k"), md5="0e33842e24a9c977be4e0107933c0723",
        description="MovieLens 100K (943 users x 1,682 items)", license="GroupLens research use",
        files=("u.data", "u.item")),
    "movielens_latest_small": DatasetSource(
        f"{_GROUPLENS}/ml-latest-small.zip", None, layout_keep, md5="31a303aabbc519bd33d025e44d6c2570",
        description="MovieLens latest-small (610 users, 9,742 movies)", license="GroupLens research use",
        files=("ml-latest-small/ratings.csv", "ml-latest-small/movies.csv")),
    "imdb_aclimdb": DatasetSource(
        "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", None, layout_aclimdb,
        md5="7c2ac02c03563afcf9b574c7e56c153a",
        description="IMDB Large Movie Review Dataset v1.0 (50k labelled + 50k unlabelled)",
        license="research use (Maas et al. 2011)", files=("imdb_labeled.jsonl.gz", "imdb_unsup.jsonl.gz")),
}


# --- lookup --------------------------------------------------------------------------------------

def cached_dataset_dir(name: str) -> Path:
    """``<cache>/data/<name>`` (may not exist)."""
    return cache_dir() / "data" / name


def resolve_dataset_dir(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """Folder of dataset ``name``: data root, then cache, then (``download=True``) a fresh fetch.

    Raises
    ------
    DataError
        Not found and not downloadable (or ``download=False``), with the command that fixes it.
    """
    root = data_root(data_dir, required=False)
    if root is not None and (root / name).is_dir():
        return root / name
    cached = cached_dataset_dir(name)
    if cached.is_dir():
        return cached
    if download and name in DATASETS:
        return fetch(name)
    where = f"{root / name}" if root is not None else "EMBLAB_DATA (not set)"
    if name in DATASETS:
        raise DataError(f"dataset {name!r} not found in {where} or the cache; run `emblab data fetch {name}` "
                        "(or pass download=True), or point EMBLAB_DATA at a folder holding it.")
    raise DataError(f"dataset folder {name!r} not found in {where}; point EMBLAB_DATA / --data-dir at a folder holding it.")


# --- download ------------------------------------------------------------------------------------

def _download(url: str, dest: Path, *, timeout: float, progress: Callable[[int, int | None], None] | None) -> None:
    """Stream ``url`` to ``dest`` via ``dest.part``; the final name appears only when complete."""
    part = dest.with_name(dest.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as fh:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            for block in iter(lambda: resp.read(_BLOCK), b""):
                fh.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total is not None and done != total:
            raise DataError(f"download of {url} stopped after {done} of {total} bytes; run the command again.")
        os.replace(part, dest)
    except urllib.error.HTTPError as exc:
        raise DataError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the URL or try later.") from exc
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"download of {url} failed ({reason}); check the network connection and try again.") from exc
    finally:
        if part.exists():
            part.unlink()


def _verify(path: Path, source: DatasetSource) -> None:
    algo, expected = ("sha256", source.sha256) if source.sha256 else ("md5", source.md5)
    if not expected:
        return
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    if h.hexdigest() != expected:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        raise DataError(f"{source.url}: {algo} {h.hexdigest()} does not match the expected {expected}; "
                        f"the download is corrupt or the source changed (kept as {bad}).")


def _extract(archive: Path, into: Path) -> None:
    name = archive.name.lower()
    try:
        if name.endswith(".zip") or zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _check_member(member, into)
                zf.extractall(into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = [m for m in tf.getmembers() if m.isfile() or m.isdir()]  # no links/devices
                for m in members:
                    _check_member(m.name, into)
                # the "data" filter (Python >= 3.11.4) also rejects absolute paths and odd modes
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(into, members=members, **extra)
        elif name.endswith(".gz"):
            with gzip.open(archive, "rb") as src, open(into / archive.name[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            shutil.copy2(archive, into / archive.name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot unpack ({exc}); delete it and run the fetch again.") from exc


def _check_member(member: str, into: Path) -> None:
    target = (into / member).resolve()
    if not str(target).startswith(str(into.resolve())):
        raise DataError(f"archive member {member!r} would be written outside the target folder; refusing to unpack.")


def fetch(
    name: str,
    *,
    force: bool = False,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
    source: DatasetSource | None = None,
) -> Path:
    """Download and unpack dataset ``name`` into ``<cache>/data/<name>``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    force : bool
        Re-download even if the folder exists.
    timeout : float
        Socket timeout in seconds.
    progress : callable(done_bytes, total_bytes or None), optional
        Called after every block (the CLI draws a rich progress bar with it).
    source : DatasetSource, optional
        Override the registry entry (tests use a local server).

    Returns
    -------
    Path of the dataset folder.

    Raises
    ------
    DataError
        Unknown name, network failure, checksum mismatch, bad archive, or missing files after
        unpacking. Nothing is left in the dataset folder on failure.
    """
    if source is None:
        if name not in DATASETS:
            import difflib

            close = difflib.get_close_matches(name, list(DATASETS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(f"no download source for {name!r}; downloadable: {', '.join(DATASETS)}.{hint}")
        source = DATASETS[name]
    dest = cached_dataset_dir(name)
    if dest.is_dir() and not force:
        return dest
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / source.filename
    if force or not archive.exists():
        _download(source.url, archive, timeout=timeout, progress=progress)
    _verify(archive, source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=dest.parent))
    try:
        extracted, staged = work / "extracted", work / "staged"
        extracted.mkdir()
        staged.mkdir()
        _extract(archive, extracted)
        source.layout_fn(extracted, staged)
        missing = [f for f in source.files if not (staged / f).exists()]
        if missing:
            raise DataError(f"{source.url}: unpacked archive lacks {missing}; the source layout changed.")
        if not (staged / "SOURCE.txt").exists():
            (staged / "SOURCE.txt").write_text(
                f"{source.description}\nDownloaded by emblab from {source.url}\nLicense: {source.license}\n",
                encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
