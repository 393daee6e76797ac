"""The compressor contract as a public checker, like scikit-learn's ``check_estimator``.

A method registered outside emblab (``@emblab.register("mine")``) proves it honours the contract
(design.md section 3) with one call::

    from emblab.testing import check_compressor
    check_compressor("mine:dim=8")            # or an unfitted instance; raises AssertionError

Each check is also a public function taking a :class:`ContractCase`, so a test suite can run them
one by one (emblab's own ``tests/test_contract.py`` does, over every registered method).
"""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ._errors import ArtifactError, DataError, InvalidParameterError, NotFittedError
from .codes import Codes
from .registry import build, get_method, to_spec
from .spec import parse_spec

#: values tried against each constrained parameter; at least one must be refused
BAD_VALUES = ["__bad__", -1, 1.5, "", None, -0.5]


def planted_low_rank(n: int = 600, d: int = 32, rank: int = 8, noise: float = 0.05, seed: int = 0,
                     normalize: bool = True) -> np.ndarray:
    """float32 (n, d): a rank-``rank`` signal plus isotropic noise, rows L2-normalised.

    The planted structure gives every method something to learn while staying tiny.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + noise * rng.normal(size=(n, d)) * np.sqrt(rank)
    if normalize:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32)


@dataclass
class ContractCase:
    """One method under test: its spec, the data, and a model fitted once (lazily).

    Attributes
    ----------
    spec : str
        Canonical spec of the method (chains allowed: ``pca:dim=8,store=f32|int8``).
    X : ndarray of shape (n, d), float32
        Data to fit and encode (at least 60 rows).
    workdir : Path
        A writable folder for save/load checks.
    fit : callable(spec) -> fitted model, optional
        Shared fitting (a cache across checks); default fits ``build(spec)`` on ``X`` once.
    """

    spec: str
    X: np.ndarray
    workdir: Path
    fit: Callable[[str], Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def fitted(self, spec: str | None = None) -> Any:
        """The model of ``spec`` (default: the case's own) fitted on ``X``; do not mutate it."""
        spec = spec or self.spec
        if self.fit is not None:
            return self.fit(spec)
        if spec not in self._cache:
            self._cache[spec] = build(spec).fit(self.X)
        return self._cache[spec]


@contextmanager
def raises(kind: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Assert that the block raises ``kind`` whose message matches the regex ``match``."""
    try:
        yield
    except kind as exc:
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(f"{kind.__name__} raised, but {str(exc)!r} does not match {match!r}") from exc
    else:
        raise AssertionError(f"expected {kind.__name__}{f' matching {match!r}' if match else ''}, nothing was raised")


def check_shapes_dtypes_and_finite(case: ContractCase) -> None:
    """encode gives one code per row; decode gives finite float32 (n, d); model_bytes is an int."""
    m, X = case.fitted(), case.X
    codes = m.encode(X)
    assert isinstance(codes, Codes) and len(codes) == len(X), "encode must return Codes with one row per input"
    assert codes.layout == m.codes_layout, f"codes layout {codes.layout!r} != codes_layout {m.codes_layout!r}"
    for name, arr in codes.arrays.items():
        assert arr.shape[0] == len(X), f"codes array {name!r} has {arr.shape[0]} rows for {len(X)} inputs"
    if codes.layout in ("uint8", "bits"):
        assert codes.data.dtype == np.uint8, f"{codes.layout} codes must be uint8"
    R = m.decode(codes)
    assert R.shape == X.shape and R.dtype == np.float32, f"decode gave {R.shape} {R.dtype}, not {X.shape} float32"
    assert np.isfinite(R).all(), "decode returned NaN or inf"
    one = m.encode(X[:1])
    assert len(one) == 1 and m.decode(one).shape == (1, X.shape[1]), "a single row must encode and decode"
    assert m.n_features_in_ == X.shape[1], "n_features_in_ must be the fitted width"
    assert isinstance(m.model_bytes, int) and m.model_bytes >= 0, "model_bytes must be a non-negative int"


def check_bytes_per_vector_is_measured(case: ContractCase) -> None:
    """bytes_per_vector equals the payload measured from the code arrays."""
    m = case.fitted()
    measured = m.encode(case.X[:37]).bytes_per_vector
    assert np.isclose(m.bytes_per_vector, measured), \
        f"bytes_per_vector says {m.bytes_per_vector} but the codes hold {measured} bytes per vector"


def check_not_fitted(case: ContractCase) -> None:
    """encode, bytes_per_vector and save before fit raise NotFittedError."""
    m = build(case.spec)
    with raises(NotFittedError, "not fitted"):
        m.encode(case.X)
    with raises(NotFittedError):
        m.bytes_per_vector
    with raises(NotFittedError):
        m.save(case.workdir / "never-written")


def check_invalid_parameters_are_named(case: ContractCase) -> None:
    """Unknown keys list the valid ones; each constrained parameter refuses a bad value, naming it."""
    name, _ = parse_spec(case.spec.split("|")[0])[0]
    with raises(InvalidParameterError, "valid keys"):
        build(f"{name}:no_such_param=1" if name != "faiss" else "pca:no_such_param=1")
    if "|" in case.spec:
        with raises(InvalidParameterError, "not a parameter"):
            build(case.spec).set_params(dim=0)
        return
    for pname in get_method(name)._parameter_constraints:
        rejected = False
        for bad in BAD_VALUES:
            m = build(case.spec).set_params(**{pname: bad})
            try:
                m._validate_params()
            except InvalidParameterError as exc:
                assert f"'{pname}'" in str(exc), f"the error for {pname}={bad!r} does not name it: {exc}"
                assert "\n" not in str(exc), f"the error for {pname}={bad!r} is not one line"
                with raises(InvalidParameterError):
                    m.fit(case.X)
                rejected = True
                break
        assert rejected, f"no value in {BAD_VALUES} is rejected for {name}.{pname}"


def check_determinism(case: ContractCase) -> None:
    """The same spec and data give identical codes; fitting twice gives the same model."""
    ref = case.fitted().encode(case.X)
    m = build(case.spec).fit(case.X)
    c1 = m.encode(case.X)
    m.fit(case.X)
    c2 = m.encode(case.X)
    for k in ref.arrays:
        assert np.array_equal(c1.arrays[k], ref.arrays[k]), f"a second fit gives other codes ({k!r})"
        assert np.array_equal(c2.arrays[k], ref.arrays[k]), f"refitting the same object gives other codes ({k!r})"
    assert m.fingerprint == case.fitted().fingerprint, "identical fits must have the same fingerprint"


def check_save_load_bit_identical(case: ContractCase) -> None:
    """save/load gives the same type, spec, params, fingerprint, codes and decodes; codes files too."""
    import emblab

    m = case.fitted()
    folder = case.workdir / "model"
    m.save(folder)
    m2 = emblab.load_model(folder)
    assert type(m2) is type(m), f"loaded a {type(m2).__name__}, saved a {type(m).__name__}"
    assert m2.to_spec() == m.to_spec() and m2.get_params() == m.get_params(), "params changed through save/load"
    assert m2.fingerprint == m.fingerprint, "fingerprint changed through save/load"
    c, c2 = m.encode(case.X), m2.encode(case.X)
    assert c.arrays.keys() == c2.arrays.keys(), "the reloaded model writes other code arrays"
    for k in c.arrays:
        assert np.array_equal(c.arrays[k], c2.arrays[k]), f"the reloaded model gives other codes ({k!r})"
    assert np.array_equal(m2.decode(c), m.decode(c)), "the reloaded model decodes differently"
    c.save(case.workdir / "codes.npz")
    assert np.array_equal(m2.decode(Codes.load(case.workdir / "codes.npz")), m.decode(c)), \
        "codes saved to a file decode differently"


def check_spec_round_trip(case: ContractCase) -> None:
    """to_spec() rebuilds an object with equal params; repr starts with the class name."""
    m = build(case.spec)
    canonical = m.to_spec()
    again = build(canonical)
    assert again.get_params() == m.get_params(), f"{canonical!r} does not rebuild the same params"
    assert again.to_spec() == canonical, "the canonical spec is not stable"
    assert build(to_spec(again)).get_params() == m.get_params(), "registry.to_spec disagrees with to_spec()"
    if "|" not in canonical:
        assert repr(m).startswith(type(m).__name__ + "("), "repr must start with the class name"


def check_width_mismatch(case: ContractCase) -> None:
    """Encoding a narrower matrix names both widths."""
    d = case.X.shape[1]
    with raises(DataError, rf"{d - 1} features.*{d}"):
        case.fitted().encode(case.X[:, :-1])


def check_nan_inf_and_empty_rejected(case: ContractCase) -> None:
    """NaN and inf rows are refused by encode and fit; an empty matrix by encode."""
    bad = np.array(case.X[:10], dtype=np.float32, copy=True)
    bad[3, 2] = np.nan
    with raises(DataError, "NaN"):
        case.fitted().encode(bad)
    bad[3, 2] = np.inf
    with raises(DataError, "inf"):
        build(case.spec).fit(bad)
    with raises(DataError, "empty"):
        case.fitted().encode(case.X[:0])


def check_codes_of_another_model_rejected(case: ContractCase) -> None:
    """decode and search refuse codes written by another model."""
    import emblab

    other = case.fitted("float16" if case.spec != "float16" else "float32")
    foreign = other.encode(case.X[:5])
    with raises(ArtifactError, "another model"):
        case.fitted().decode(foreign)
    with raises(ArtifactError):
        emblab.search(case.fitted(), case.X[:2], foreign, k=3)


def check_search_every_mode(case: ContractCase) -> None:
    """Every declared search mode returns sorted finite scores and valid ids; code-vs-code modes find
    an item from its own code; an unknown mode is refused."""
    import emblab

    m, X = case.fitted(), case.X
    codes = m.encode(X[20:])
    for mode in m.search_modes:
        D, I = emblab.search(m, X[:20], codes, k=5, mode=mode)
        assert D.shape == I.shape == (20, 5), f"{mode}: shapes {D.shape}, {I.shape}"
        assert D.dtype == np.float32 and I.dtype == np.int64, f"{mode}: dtypes {D.dtype}, {I.dtype}"
        assert np.isfinite(D).all() and (I >= 0).all() and (I < len(codes)).all(), f"{mode}: bad scores or ids"
        assert (np.diff(D, axis=1) <= 1e-6).all(), f"{mode}: scores not sorted"
        if mode in ("symmetric", "hamming", "code"):
            # a catalogue item used as the query has the same code, so it scores the maximum
            _, I_self = emblab.search(m, X[20:40], codes, k=5, mode=mode)
            assert (I_self == np.arange(20)[:, None]).any(axis=1).all(), f"{mode}: an item does not find itself"
    with raises(InvalidParameterError, "not supported"):
        emblab.search(m, X[:20], codes, k=5, mode="no-such-mode")


#: every check, in the order :func:`check_compressor` runs them
CHECKS: tuple[Callable[[ContractCase], None], ...] = (
    check_spec_round_trip, check_not_fitted, check_invalid_parameters_are_named, check_shapes_dtypes_and_finite,
    check_bytes_per_vector_is_measured, check_determinism, check_save_load_bit_identical, check_width_mismatch,
    check_nan_inf_and_empty_rejected, check_codes_of_another_model_rejected, check_search_every_mode)


def check_compressor(compressor: Any, X: np.ndarray | None = None) -> None:
    """Run every contract check on a registered method; raise AssertionError naming the first failure.

    Parameters
    ----------
    compressor : str or compressor
        A spec (``"mine:dim=8"``) or an unfitted instance of a registered method.
    X : ndarray of shape (n, d), optional
        Data to check on (n >= 60); default: :func:`planted_low_rank` (600 x 32).

    Raises
    ------
    AssertionError
        ``"<check> failed for '<spec>': <what is wrong>"``.
    """
    spec = compressor if isinstance(compressor, str) else to_spec(compressor, full=True)
    X = planted_low_rank() if X is None else np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 60:
        raise DataError(f"check_compressor needs a 2-D matrix of at least 60 rows; got shape {X.shape}.")
    with tempfile.TemporaryDirectory(prefix="emblab-check-") as tmp:
        case = ContractCase(spec, X, Path(tmp))
        for check in CHECKS:
            try:
                check(case)
            except AssertionError as exc:
                raise AssertionError(f"{check.__name__} failed for {spec!r}: {exc}") from exc
            except Exception as exc:  # an unexpected error is a contract failure too
                raise AssertionError(f"{check.__name__} failed for {spec!r}: "
                                     f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc
