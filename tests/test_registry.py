"""Registry and spec strings (design.md section 4): hypothesis round-trips, did-you-mean, duplicates."""

from __future__ import annotations

import string

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import emblab
from emblab import InvalidParameterError, UnknownMethodError
from emblab._validation import Interval, Options
from emblab.base import BaseCompressor
from emblab.pipeline import Pipeline
from emblab.registry import (RAW_ARGUMENT_METHODS, build, format_value, get_method, list_methods, parse_spec, parse_value,
                             register, resolve_spec, to_spec)

_KEYWORDS = {"true", "false", "none", "null", "nan", "inf", "infinity"}

ints = st.integers(min_value=-10**9, max_value=10**9)
floats = st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: not f.is_integer())
words = st.text(alphabet=string.ascii_letters + string.digits + "_.-:", min_size=1, max_size=12).filter(
    lambda s: s.lower() not in _KEYWORDS and not _is_number(s))
values = st.one_of(ints, floats, st.booleans(), st.none(), words)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(values)
def test_value_format_parse_round_trip(v):
    assert parse_value(format_value(v)) == v
    assert type(parse_value(format_value(v))) is type(v)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), values, max_size=5),
       st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True))
def test_stage_parse_round_trip(params, name):
    if name in ("faiss",):
        return
    text = name + (":" + ",".join(f"{k}={format_value(v)}" for k, v in params.items()) if params else "")
    [(n, p)] = parse_spec(text)
    assert n == name and p == params


def test_faiss_factory_kept_verbatim_and_pipelines_split():
    assert parse_spec("faiss:OPQ32,PQ32") == [("faiss", {"factory": "OPQ32,PQ32"})]
    assert parse_spec("pca:dim=128,store=f32|int8") == [("pca", {"dim": 128, "store": "f32"}), ("int8", {})]
    assert parse_spec("int8:calib=percentile:0.1") == [("int8", {"calib": "percentile:0.1"})]
    p = build("pca:dim=128,store=f32|int8")
    assert isinstance(p, Pipeline) and p.to_spec() == "pca:dim=128,store=f32|int8"
    assert build("faiss:OPQ32,PQ32").to_spec() == "faiss:OPQ32,PQ32"


@pytest.mark.parametrize("bad", ["", "   ", "pca:dim", "pca:=3", "pca:dim=1,dim=2", "pca|", "faiss:"])
def test_malformed_specs(bad):
    with pytest.raises(InvalidParameterError):
        build(bad)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(InvalidParameterError, match=r"'d' is not a parameter of 'pca'; valid keys: dim"):
        build("pca:d=3")


@pytest.mark.parametrize("typo,suggestion", [("pac", "pca"), ("binay", "binary"), ("flot16", "float16"),
                                             ("opg", "opq"), ("int9", "int8")])
def test_did_you_mean(typo, suggestion):
    with pytest.raises(UnknownMethodError, match=rf"'{typo}' is not a registered method\. Did you mean '{suggestion}'\?"):
        get_method(typo)
    with pytest.raises(UnknownMethodError):
        build(f"{typo}:dim=3")


def test_unknown_without_close_match_has_no_suggestion():
    with pytest.raises(UnknownMethodError) as err:
        get_method("zzzzzzzzzz")
    assert "Did you mean" not in str(err.value)


def test_duplicate_registration_fails_and_leaves_registry_alone():
    before = list_methods()
    original = get_method("pca")

    class Impostor(BaseCompressor):
        pass

    with pytest.raises(InvalidParameterError, match="already registered"):
        register("pca")(Impostor)
    assert get_method("pca") is original and list_methods() == before
    with pytest.raises(InvalidParameterError, match="must match"):
        register("Bad-Name")


def test_list_methods_sorted_and_complete():
    names = list_methods()
    assert names == sorted(names)
    for n in ["float32", "float16", "pca", "trunc", "int8", "binary", "faiss", "pq", "opq"]:
        assert n in names
        assert get_method(n).method == n


def _strategy_for(constraints):
    """A hypothesis strategy of valid values for one parameter, or None if we cannot generate one."""
    options = []
    for c in constraints:
        if c is None:
            options.append(st.none())
        elif c is bool:
            options.append(st.booleans())
        elif isinstance(c, Options):
            options.append(st.sampled_from(c.values))
        elif isinstance(c, Interval) and c.kind is int:
            lo = -1000 if c.low is None else int(c.low) + (0 if c.closed in ("both", "left") else 1)
            hi = lo + 5000 if c.high is None else int(c.high) - (0 if c.closed in ("both", "right") else 1)
            options.append(st.integers(min_value=lo, max_value=hi))
        elif isinstance(c, Interval) and c.kind is float:
            lo = -1e3 if c.low is None else float(c.low)
            hi = lo + 1e3 if c.high is None else float(c.high)
            options.append(st.floats(min_value=lo, max_value=hi, exclude_min=c.closed in ("neither", "right"),
                                     exclude_max=c.closed in ("neither", "left"), allow_nan=False))
    return st.one_of(options) if options else None


def _valid_params(cls):
    strategies = {}
    for name, cons in cls._parameter_constraints.items():
        s = _strategy_for(cons)
        if s is not None:
            strategies[name] = s
    return st.fixed_dictionaries(strategies)


@pytest.mark.parametrize("name", list_methods())
def test_to_spec_round_trip_with_generated_params(name):
    cls = get_method(name)

    # no shrinking: a failure already prints a concrete example, and shrinking a costly
    # constructor can take minutes
    @settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(_valid_params(cls))
    def check(params):
        obj = cls(**params)
        try:
            obj._validate_params()
        except InvalidParameterError:
            return  # a cross-parameter rule rejected this combination; that is allowed
        spec = obj.to_spec()
        again = build(spec)
        assert again.get_params() == obj.get_params()
        assert again.to_spec() == spec
        assert type(again) is cls
        full = obj.to_spec(full=True)   # every parameter, defaults included, round-trips too
        again = build(full)
        assert again.get_params() == obj.get_params() and again.to_spec(full=True) == full
        if name not in RAW_ARGUMENT_METHODS and obj.get_params():
            assert {k for k, _ in (kv.split("=", 1) for kv in full.split(":", 1)[1].split(","))} \
                == set(obj.get_params())

    check()


def test_set_params_rejects_unknown_names():
    with pytest.raises(InvalidParameterError, match="valid: dim, store, whiten"):
        emblab.build("pca").set_params(dimension=3)


def test_to_spec_omits_defaults_and_sorts_keys():
    m = build("pca:whiten=true,dim=64,store=int8")
    assert m.to_spec() == "pca:store=int8,whiten=true"
    assert to_spec(build("binary:rescore_source=int8,rescore=4")) == "binary:rescore=4,rescore_source=int8"


def test_full_spec_shows_every_parameter_and_never_collides():
    """The short form hides defaults (``pca:store=int8`` is PCA-64); the full form never does."""
    assert build("pca:dim=64,store=int8").to_spec(full=True) == "pca:dim=64,store=int8,whiten=false"
    assert to_spec(build("pca"), full=True) == "pca:dim=64,store=f16,whiten=false"
    assert resolve_spec("pca:dim=128,store=f32|int8") == "pca:dim=128,store=f32,whiten=false|int8:calib=minmax"
    assert resolve_spec("faiss:OPQ32,PQ32") == "faiss:OPQ32,PQ32"
    # specs building the same compressor resolve alike; different ones never do
    assert resolve_spec("pca") == resolve_spec("pca:dim=64") == resolve_spec("pca:store=f16,dim=64,whiten=false")
    assert resolve_spec("pca:dim=32") != resolve_spec("pca:dim=64")

