"""emblab.testing.check_compressor: the contract as a checker that a method outside emblab can run."""

from __future__ import annotations

import numpy as np
import pytest

from emblab._validation import Interval
from emblab.base import BaseCompressor
from emblab.codes import Codes
from emblab.registry import register, unregister
from emblab.testing import check_compressor, planted_low_rank


class HalfPrefix(BaseCompressor):
    """A method defined outside emblab: the first ``dim`` coordinates as float16."""

    _parameter_constraints = {"dim": [Interval(int, 1, None)]}

    def __init__(self, dim: int = 8):
        self.dim = dim

    def _fit(self, X, X_val):
        pass

    def _encode(self, X):
        return Codes({"codes": X[:, :self.dim].astype(np.float16)}, "float")

    def _decode(self, codes):
        out = np.zeros((len(codes), self.n_features_in_), np.float32)
        out[:, :self.dim] = codes.as_float()
        return out

    def _bytes_per_vector(self):
        return 2.0 * self.dim


class LyingPrefix(HalfPrefix):
    """The same codes, but it claims half the bytes they take."""

    def _bytes_per_vector(self):
        return 1.0 * self.dim


@pytest.fixture(autouse=True, scope="module")
def registered():
    """Register the two methods for this module only (other tests list every registered method)."""
    register("test_halfprec_prefix")(HalfPrefix)
    register("test_lying_prefix")(LyingPrefix)
    yield
    unregister("test_halfprec_prefix")
    unregister("test_lying_prefix")


def test_a_method_registered_outside_emblab_passes():
    check_compressor("test_halfprec_prefix:dim=8")
    check_compressor(HalfPrefix(dim=4), X=planted_low_rank(n=100, d=16, rank=3))


def test_a_method_that_lies_about_its_bytes_fails_with_the_check_named():
    with pytest.raises(AssertionError, match=r"check_bytes_per_vector_is_measured failed for "
                                             r"'test_lying_prefix:dim=8'.*says 8.0 but the codes hold 16"):
        check_compressor("test_lying_prefix:dim=8")


def test_every_builtin_method_passes_through_the_public_entry_point():
    # the contract suite runs each check per method; this runs the one-call form on two of them
    check_compressor("pca:dim=8,store=int8")
    check_compressor("pca:dim=8,store=f32|int8")


def test_too_little_data_is_refused():
    from emblab._errors import DataError

    with pytest.raises(DataError, match="at least 60 rows"):
        check_compressor("pca:dim=2", X=np.ones((5, 4), np.float32))
