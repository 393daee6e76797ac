"""FAISS codecs as peers: PQ, OPQ+PQ, fast-scan PQ, scalar quantisers (baselines_and_eval.md s.1).

Specs
-----
``faiss:<factory>``   any FAISS factory string that supports standalone codes, kept verbatim:
                      ``faiss:PQ32``, ``faiss:OPQ32,PQ32``, ``faiss:PQ32x4fs``, ``faiss:SQ8``,
                      ``faiss:SQfp16``.
``pq:m=32``           ``faiss:PQ32np`` (``nbits=4`` -> ``PQ32x4np``).
``opq:m=32``          ``faiss:OPQ32,PQ32np``.

``np`` switches off FAISS's polysemous training, which the plain ``PQ32`` factory runs after
k-means: it only permutes centroid ids so that Hamming distances between codes approximate
distances (for polysemous filtering, unused here), and costs seconds of CPU per sub-quantiser.
Reconstructions and ADC search results are identical with and without it (tested), but the code
bytes differ by that permutation, so ``pq:m=32`` codes are not interchangeable with
``faiss:PQ32`` codes.

FAISS does the work; nothing is re-implemented. The index is built with
``faiss.index_factory(d, factory, METRIC_INNER_PRODUCT)`` and trained on the fit set;
``encode`` is ``sa_encode`` (uint8 codes, ``sa_code_size`` bytes/vector), ``decode`` is
``sa_decode``. The trained index is saved in ``model.safetensors`` as the uint8 array that
``faiss.serialize_index`` produces (no pickle).

Search modes
------------
``asymmetric``  cos(q, decode(x)) with FAISS's ``sa_decode`` reconstructions, through the shared
                chunked search: the protocol definition (baselines_and_eval.md s.1), which the
                reference table uses (imdb-minilm PQ32: R@10 0.489 here vs 0.484 there).
``symmetric``   SDC by decoding: cos(decode(encode(q)), decode(encode(x))) through the same
                path (FAISS's own SDC tables exist only for L2 PQ).
``adc``         FAISS's own ADC search, exactly what FAISS returns when the catalogue is added
                directly: an index of the same type is filled with the stored codes
                (``add_sa_codes``; fast-scan indexes are rebuilt from an ``IndexPQ`` holding the
                codes) and searched with the L2-normalised query by inner product. Scores are
                ``q . decode(x)``, not divided by ``||decode(x)||``, so items with long
                reconstructions rank higher; on imdb-minilm PQ32 this gives R@10 0.416 against
                0.489 for ``asymmetric``. Report it under its own name.

Determinism: k-means is seeded through ``ClusteringParameters.seed`` (FAISS's default 1234 for
``faiss:``; ``random_state`` for ``pq``/``opq``). The OPQ rotation starts from FAISS's fixed
internal seed, and pre-transform (OPQ) training runs on one thread because its result depends on
the thread count; PQ/SQ training and all encoding/search do not, and use every thread (when
``OMP_NUM_THREADS`` is unset, the CPUs this process may use).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._deps import require
from .._errors import FitError, InvalidParameterError
from .._validation import Interval, Predicate, l2_normalize
from ..base import BaseCompressor
from ..codes import Codes
from ..faiss_log import quiet_clustering_warnings
from ..registry import register

_FAISS_DEFAULT_SEED = 1234


def _faiss(who: str):
    faiss = require("faiss", who)
    if not os.environ.get("OMP_NUM_THREADS") and hasattr(os, "sched_getaffinity"):
        faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    return faiss


def _one_line(exc: Exception) -> str:
    """FAISS errors carry a C++ location and newlines; keep the message part on one line."""
    text = " ".join(str(exc).split())
    return text.split(": ", 1)[-1] if "Error in" in text else text


def _seed_index(faiss: Any, index: Any, seed: int) -> None:
    """Set the k-means seed of every clustering stage FAISS will run while training ``index``."""
    idx = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexPreTransform):
        for i in range(idx.chain.size()):
            vt = faiss.downcast_VectorTransform(idx.chain.at(i))
            if isinstance(vt, faiss.OPQMatrix) and vt.pq is not None:
                vt.pq.cp.seed = seed
        _seed_index(faiss, idx.index, seed)
        return
    if getattr(idx, "pq", None) is not None:
        idx.pq.cp.seed = seed
    if getattr(idx, "cp", None) is not None:  # IVF coarse quantiser
        idx.cp.seed = seed


class FaissCodec(BaseCompressor):
    """Shared FAISS codec machinery; subclasses define :meth:`_factory_string`.

    Attributes
    ----------
    index_ : faiss.Index
        The trained (empty) index.
    index_bytes_ : ndarray of shape (nbytes,) uint8
        ``faiss.serialize_index(index_)``; the saved state.
    code_size_ : int
        ``index_.sa_code_size()``.
    """

    codes_layout = "uint8"
    search_modes = ("asymmetric", "symmetric", "adc")

    def _factory_string(self) -> str:
        raise NotImplementedError

    def _seed(self) -> int:
        return _FAISS_DEFAULT_SEED

    def _check_width(self, d: int) -> None:
        """Hook for method-specific checks of the input width."""

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        faiss = _faiss(type(self).__name__)
        d = X.shape[1]
        self._check_width(d)
        factory = self._factory_string()
        try:
            index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise InvalidParameterError(
                f"FAISS cannot build factory {factory!r} for d={d}: {_one_line(exc)}"
            ) from exc
        _seed_index(faiss, index, self._seed())
        # OPQ training gives thread-count-dependent rotations (multi-threaded BLAS rounding), so
        # pre-transformed indexes train on one thread: the same seed then gives the same codes on
        # any machine. PQ/SQ training is thread-count independent and keeps all threads.
        single = isinstance(faiss.downcast_index(index), faiss.IndexPreTransform)
        n_threads = faiss.omp_get_max_threads()
        try:
            if single:
                faiss.omp_set_num_threads(1)
            with quiet_clustering_warnings():
                index.train(X)
            index.sa_encode(X[:1])
        except RuntimeError as exc:
            raise FitError(f"FAISS {factory!r} failed to train on {X.shape[0]} x {d} data: {_one_line(exc)}") from exc
        finally:
            faiss.omp_set_num_threads(n_threads)
        self._set_index(faiss, index)
        self.index_bytes_ = np.ascontiguousarray(faiss.serialize_index(index), dtype=np.uint8)

    def _set_index(self, faiss: Any, index: Any) -> None:
        self.index_ = index
        self.code_size_ = int(index.sa_code_size())

    def _encode(self, X: np.ndarray) -> Codes:
        return Codes({"codes": np.ascontiguousarray(self.index_.sa_encode(X), dtype=np.uint8)}, "uint8")

    def _decode(self, codes: Codes) -> np.ndarray:
        return self.index_.sa_decode(np.ascontiguousarray(codes.data, dtype=np.uint8))

    def _bytes_per_vector(self) -> float:
        return float(self.code_size_)

    def _state_tensors(self) -> dict[str, np.ndarray]:
        return {"index": self.index_bytes_}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        faiss = _faiss(type(self).__name__)
        self.index_bytes_ = np.ascontiguousarray(tensors["index"], dtype=np.uint8)
        try:
            index = faiss.deserialize_index(self.index_bytes_)
        except RuntimeError as exc:
            raise ValueError(f"the serialized FAISS index is corrupt: {_one_line(exc)}") from exc
        self._set_index(faiss, index)
        if int(fitted.get("code_size_", self.code_size_)) != self.code_size_:
            raise ValueError(f"code size {self.code_size_} differs from config ({fitted['code_size_']})")

    def _fitted_meta(self) -> dict[str, Any]:
        return {"code_size_": self.code_size_, "factory_": self._factory_string()}

    # --- native ADC search (mode 'adc') ------------------------------------------------------------------------
    def code_index(self, codes: Codes):
        """A FAISS index holding ``codes`` for ADC search.

        Returns
        -------
        (root, transforms, searcher) or None
            ``root`` keeps the cloned index alive; queries go through ``transforms`` (the
            pre-transform chain, e.g. the OPQ rotation) and then ``searcher.search``. ``None``
            when the factory cannot take precomputed codes.
        """
        faiss = _faiss(type(self).__name__)
        root = faiss.clone_index(self.index_)
        idx, transforms = faiss.downcast_index(root), []
        while isinstance(idx, faiss.IndexPreTransform):
            transforms += [faiss.downcast_VectorTransform(idx.chain.at(i)) for i in range(idx.chain.size())]
            idx = faiss.downcast_index(idx.index)
        data = np.ascontiguousarray(codes.data, dtype=np.uint8)
        try:
            if isinstance(idx, faiss.IndexPQFastScan):
                # fast-scan stores codes in packed blocks: fill a plain IndexPQ and convert it the
                # way FAISS does (IndexPQFastScan(const IndexPQ&, bbs)).
                ipq = faiss.IndexPQ(idx.d, idx.pq.M, idx.pq.nbits, idx.metric_type)
                ipq.pq = idx.pq
                ipq.is_trained = True
                ipq.add_sa_codes(data)
                searcher = faiss.IndexPQFastScan(ipq, idx.bbs)
                return (root, ipq), transforms, searcher
            idx.reset()
            idx.add_sa_codes(data)
        except RuntimeError:
            return None
        return root, transforms, idx

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        if mode != "adc":
            return NotImplemented
        built = self.code_index(codes)
        if built is None:
            raise InvalidParameterError(
                f"FAISS factory {self._factory_string()!r} cannot search precomputed codes (no add_sa_codes); "
                "use mode 'asymmetric'."
            )
        _, transforms, searcher = built
        q = l2_normalize(xq)
        for vt in transforms:
            q = vt.apply(q)
        D, I = searcher.search(np.ascontiguousarray(q, dtype=np.float32), min(k, len(codes)))
        return D.astype(np.float32), I.astype(np.int64)


def _valid_factory(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and "|" not in value


@register("faiss")
class Faiss(FaissCodec):
    """Any FAISS factory string with standalone codes (``sa_encode``/``sa_decode``).

    Parameters
    ----------
    factory : str
        FAISS ``index_factory`` string, e.g. ``"PQ32"``, ``"OPQ32,PQ32"``, ``"PQ32x4fs"``,
        ``"SQ8"``. Exhaustive (no IVF) factories give fidelity numbers; IVF codes include the
        list id and are counted as such.

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(1000, 32)).astype("float32")
    >>> m = emblab.build("faiss:SQ8").fit(X)
    >>> m.bytes_per_vector
    32.0
    """

    _parameter_constraints = {"factory": [Predicate(_valid_factory, "a FAISS factory string such as 'PQ32'")]}
    test_spec = "faiss:PQ4x4fs"

    def __init__(self, factory: str = "PQ32"):
        self.factory = factory

    def _factory_string(self) -> str:
        return self.factory


class _PQBase(FaissCodec):
    _parameter_constraints = {
        "m": [Interval(int, 1, None)],
        "nbits": [Interval(int, 1, 16)],
        "random_state": [Interval(int, 0, 2**31 - 1)],
    }
    _prefix = ""

    def __init__(self, m: int = 32, nbits: int = 8, random_state: int = _FAISS_DEFAULT_SEED):
        self.m = m
        self.nbits = nbits
        self.random_state = random_state

    def _seed(self) -> int:
        return self.random_state

    def _check_width(self, d: int) -> None:
        if d % self.m:
            ok = [m for m in range(1, d + 1) if d % m == 0]
            raise InvalidParameterError(
                f"The 'm' parameter of {type(self).__name__} must divide n_features={d}; got {self.m} "
                f"(valid: {', '.join(map(str, ok))})."
            )

    def _factory_string(self) -> str:
        pq = f"PQ{self.m}" + (f"x{self.nbits}" if self.nbits != 8 else "") + "np"
        return f"{self._prefix.format(m=self.m)}{pq}"


@register("pq")
class PQ(_PQBase):
    """Product quantisation, ``faiss:PQ{m}np`` (m sub-quantisers of 2**nbits centroids).

    Parameters
    ----------
    m : int
        Number of sub-vectors; must divide d. Codes take ceil(m * nbits / 8) bytes.
    nbits : int
        Bits per sub-quantiser (8 = one byte each; needs >= 2**nbits training vectors).
    random_state : int
        k-means seed (1234 is FAISS's default, so ``pq:m=32`` searches exactly like
        ``faiss:PQ32``).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(1000, 32)).astype("float32")
    >>> emblab.build("pq:m=8").fit(X).bytes_per_vector
    8.0
    """

    test_spec = "pq:m=4"


@register("opq")
class OPQ(_PQBase):
    """Optimised PQ: a learned rotation then PQ, ``faiss:OPQ{m},PQ{m}np``.

    Parameters are those of :class:`PQ`. The rotation (d x d floats) is part of ``model_bytes``.
    """

    test_spec = "opq:m=4,nbits=4"
    _prefix = "OPQ{m},"
