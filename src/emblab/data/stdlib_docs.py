"""A real text corpus every Python install carries: the standard library's own documentation.

Sources, in this order:

1. ``pydoc_data.topics.topics``: the language reference topics that ``help()`` shows
   (about 80 topics, 0.45 MB of text in Python 3.11);
2. docstrings of public stdlib modules (``sys.stdlib_module_names`` and their public submodules,
   two levels deep) and of the public classes, functions and methods they define.

Text is cut into passages of one to three sentences (at most ``max_chars`` characters). The order
is deterministic for a given Python version (topics by key, modules by name, members by name),
duplicates are dropped, and ids say where a passage came from (``topic:assert:0``,
``doc:json.dumps:1``). This is the offline corpus of ``make demo``.

Modules whose import has side effects or needs a GUI (``antigravity``, ``this``, ``tkinter``,
``turtle``, ``idlelib``, ``readline`` ...) are never imported. Imports run with stdout/stderr
captured and warnings silenced, so loading prints nothing; a module that fails to import is
skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import sys
import warnings

import numpy as np

from .._errors import DataError

__all__ = ["load_stdlib_passages", "load_stdlib_embeddings", "split_passages", "stdlib_query_catalogue_split"]

# Never import: side effects on import (browser, printing, terminal state, GUI), or huge/test-only.
_SKIP = {
    "antigravity", "this", "tkinter", "turtle", "turtledemo", "idlelib", "readline", "rlcompleter",
    "test", "tests", "lib2to3", "ensurepip", "venv", "webbrowser", "encodings", "__main__", "msilib", "winreg", "winsound",
    "msvcrt", "nt", "curses", "xxlimited", "xxlimited_35", "xxsubtype", "tty", "pty",
    "crypt", "nis", "spwd", "ossaudiodev", "audioop", "chunk", "sndhdr", "imghdr", "telnetlib",
    "nntplib", "cgi", "cgitb", "mailcap", "pipes", "uu", "xdrlib", "asynchat", "asyncore", "smtpd",
    "distutils", "imp", "sre_compile", "sre_constants", "sre_parse", "site", "sitecustomize",
    "usercustomize", "__future__", "__phello__", "__hello__",
}
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`*])")
_WS = re.compile(r"\s+")


def split_passages(text: str, *, max_chars: int = 400, max_sentences: int = 3) -> list[str]:
    """Cut ``text`` into passages of at most ``max_sentences`` sentences and ``max_chars`` characters.

    Paragraphs (blank-line separated) never share a passage; whitespace is collapsed; a sentence
    longer than ``max_chars`` is cut at a word boundary.

    Parameters
    ----------
    text : str
    max_chars : int
    max_sentences : int

    Returns
    -------
    list of str
    """
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = _WS.sub(" ", para).strip()
        if not para:
            continue
        current: list[str] = []
        size = 0
        for sent in _SENT.split(para):
            for piece in _wrap(sent, max_chars):
                if current and (size + 1 + len(piece) > max_chars or len(current) >= max_sentences):
                    out.append(" ".join(current))
                    current, size = [], 0
                current.append(piece)
                size += len(piece) + (1 if size else 0)
        if current:
            out.append(" ".join(current))
    return out


def _wrap(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces, rest = [], sentence
    while len(rest) > max_chars:
        cut = rest.rfind(" ", 0, max_chars)
        cut = cut if cut > max_chars // 2 else max_chars
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _import_quietly(name: str):
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - SystemExit/ImportError/OSError alike: skip the module
            return None


def _module_docs(module) -> list[tuple[str, str]]:
    """``(qualified name, docstring)`` for a module, its public classes/functions and their methods."""
    name = module.__name__
    docs = []
    if isinstance(module.__doc__, str):
        docs.append((name, module.__doc__))
    public = getattr(module, "__all__", None)
    try:
        members = sorted(vars(module).items())
    except TypeError:
        return docs
    for attr, obj in members:
        if attr.startswith("_") or (public is not None and attr not in public):
            continue
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if getattr(obj, "__module__", None) not in (name, f"_{name}", None) and public is None:
            continue  # re-exported from elsewhere: it is documented with its own module
        doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
        if doc:
            docs.append((f"{name}.{attr}", doc))
        if inspect.isclass(obj):
            for mname, meth in sorted(vars(obj).items()):
                if mname.startswith("_") or not callable(meth):
                    continue
                mdoc = getattr(meth, "__doc__", None)
                if isinstance(mdoc, str) and mdoc:
                    docs.append((f"{name}.{attr}.{mname}", mdoc))
    return docs


def _iter_sources():
    """Yield ``(source id, text)``: pydoc topics, then module documentation."""
    import pydoc_data.topics as topics

    for key in sorted(topics.topics):
        yield f"topic:{key}", topics.topics[key]
    for name in sorted(getattr(sys, "stdlib_module_names", ())):
        if name.startswith("_") or name in _SKIP:
            continue
        for module in _walk(name, depth=2):
            for qual, doc in _module_docs(module):
                yield f"doc:{qual}", inspect.cleandoc(doc)


def _walk(name: str, depth: int):
    """Import ``name`` and, for packages, its public submodules down to ``depth`` levels (sorted)."""
    module = _import_quietly(name)
    if module is None:
        return
    yield module
    path = getattr(module, "__path__", None)
    if not path or depth <= 0:
        return
    import pkgutil

    subs = sorted(m.name for m in pkgutil.iter_modules(path))
    for sub in subs:
        if sub.startswith("_") or sub in _SKIP or "test" in sub:
            continue  # never import __main__ (runs code) or test suites
        yield from _walk(f"{name}.{sub}", depth - 1)


def load_stdlib_passages(
    max_passages: int | None = 20_000,
    min_chars: int = 40,
    *,
    max_chars: int = 400,
    max_sentences: int = 3,
) -> tuple[list[str], list[str]]:
    """Passages of the standard library's documentation.

    Parameters
    ----------
    max_passages : int or None
        Keep at most this many; when there are more, an evenly spaced (deterministic) subset is
        kept so that every source stays represented. None keeps all.
    min_chars : int
        Drop passages shorter than this (signatures, "Return self==value." ...).
    max_chars, max_sentences : int
        Passage size; see :func:`split_passages`.

    Returns
    -------
    ids : list of str, length n
        ``"<source>:<k>"`` (``topic:assert:0``, ``doc:json.dumps:1``).
    texts : list of str, length n

    Raises
    ------
    DataError
        Nothing usable was found (``pydoc_data`` missing in a stripped Python).

    Examples
    --------
    >>> ids, texts = load_stdlib_passages(max_passages=1000)
    >>> len(texts) == 1000 and all(40 <= len(t) <= 400 for t in texts)
    True
    """
    if max_passages is not None and max_passages < 1:
        raise DataError(f"max_passages must be >= 1 or None; got {max_passages}.")
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    try:
        for source, text in _iter_sources():
            for k, passage in enumerate(split_passages(text, max_chars=max_chars, max_sentences=max_sentences)):
                if len(passage) < min_chars or passage in seen:
                    continue
                seen.add(passage)
                ids.append(f"{source}:{k}")
                texts.append(passage)
    except ImportError as exc:
        raise DataError("pydoc_data is not available in this Python; the stdlib corpus needs a full install.") from exc
    if not texts:
        raise DataError("no stdlib documentation passages found; this Python seems to ship without docstrings (-OO?).")
    if max_passages is not None and len(texts) > max_passages:
        keep = np.linspace(0, len(texts) - 1, max_passages).round().astype(int)
        ids = [ids[i] for i in keep]
        texts = [texts[i] for i in keep]
    return ids, texts


def stdlib_query_catalogue_split(n: int, n_queries: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` passages into a catalogue and held-out queries for the demo.

    Parameters
    ----------
    n : int
        Number of passages.
    n_queries : int
        Held-out query rows (at most n // 2).
    seed : int

    Returns
    -------
    catalogue : ndarray of shape (n - n_queries,), int64, sorted
    queries : ndarray of shape (n_queries,), int64, sorted
    """
    if n < 2:
        raise DataError(f"need at least 2 passages to split into catalogue and queries; got {n}.")
    n_queries = max(1, min(int(n_queries), n // 2))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_queries:]).astype(np.int64), np.sort(perm[:n_queries]).astype(np.int64)


def load_stdlib_embeddings(
    max_passages: int | None = 10_000,
    model: str = "all-MiniLM-L6-v2",
    *,
    device: str = "auto",
    batch_size: int = 64,
    show_progress: bool = True,
) -> tuple[list[str], list[str], np.ndarray]:
    """Passages of :func:`load_stdlib_passages` and their embeddings (cached, resumable).

    The first call embeds the passages (about 10k x 384 with the packaged MiniLM, a few minutes
    on a 2-core CPU); later calls read ``<cache>/embeddings/stdlib_docs-*.npy``.

    Returns
    -------
    ids : list of str, texts : list of str, X : ndarray of shape (n, d), float32, unit rows
    """
    from ..embed import embed_texts_cached

    ids, texts = load_stdlib_passages(max_passages=max_passages)
    X = embed_texts_cached(texts, key=f"stdlib_docs-{len(texts)}", model=model, device=device,
                           batch_size=batch_size, show_progress=show_progress)
    return ids, texts, X
