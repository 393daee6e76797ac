"""The spec grammar module: parse, format, split."""

import pytest

from emblab import build
from emblab._errors import InvalidParameterError
from emblab.spec import format_spec, format_stage, parse_spec, parse_stage, split_specs


@pytest.mark.parametrize("text, expected", [
    ("ae,ae:alpha=0.1,epochs=5,pca", ["ae", "ae:alpha=0.1,epochs=5", "pca"]),
    ("faiss:OPQ32,PQ32", ["faiss:OPQ32,PQ32"]),
    ("faiss:OPQ32,PQ32,pca:dim=8;int8", ["faiss:OPQ32,PQ32", "pca:dim=8", "int8"]),
    ("pca:dim=128,store=f32|int8, binary", ["pca:dim=128,store=f32|int8", "binary"]),
    ("faiss:IVF64,PQ8np ; sae:h=64,k=4", ["faiss:IVF64,PQ8np", "sae:h=64,k=4"]),
    (" ; ,", []),
    ("pca:dim=64 int8  binary:rescore=3", ["pca:dim=64", "int8", "binary:rescore=3"]),
    ("pca:dim=64, store=int8 faiss:OPQ32,PQ32", ["pca:dim=64,store=int8", "faiss:OPQ32,PQ32"]),
    ("pca:dim=64,store=f32|faiss:OPQ8,PQ8,int8", ["pca:dim=64,store=f32|faiss:OPQ8,PQ8", "int8"]),
    ("int8:calib=percentile:0.1,pca", ["int8:calib=percentile:0.1", "pca"]),
    ("faiss:PQ8;faiss:SQ8 faiss:IVF4,Flat", ["faiss:PQ8", "faiss:SQ8", "faiss:IVF4,Flat"]),
    (["pca;int8", "faiss:PQ8"], ["pca", "int8", "faiss:PQ8"]),
])
def test_split_specs(text, expected):
    assert split_specs(text) == expected


def test_every_split_piece_parses():
    for spec in split_specs("faiss:OPQ32,PQ32,pca:dim=8,store=int8;ae:alpha=0.1,epochs=5"):
        parse_spec(spec)


def test_parse_and_format_round_trip():
    stages = parse_spec("pca:dim=128,store=f32|int8:calib=minmax")
    assert stages == [("pca", {"dim": 128, "store": "f32"}), ("int8", {"calib": "minmax"})]
    assert format_spec(stages) == "pca:dim=128,store=f32|int8:calib=minmax"
    assert parse_stage("faiss:OPQ32,PQ32") == ("faiss", {"factory": "OPQ32,PQ32"})
    assert format_stage("faiss", {"factory": "OPQ32,PQ32"}) == "faiss:OPQ32,PQ32"
    assert format_stage("pca", {"dim": 64, "whiten": False}, {"dim": 64, "whiten": False}) == "pca"
    assert format_stage("pca", {"dim": 64, "whiten": False}, {"dim": 64, "whiten": False}, full=True) == \
        "pca:dim=64,whiten=false"


def test_pipeline_formats_itself():
    pipe = build("pca:dim=8,store=f32|int8")
    assert type(pipe).__name__ == "Pipeline"
    assert pipe.to_spec() == "pca:dim=8,store=f32|int8"
    from emblab.registry import to_spec

    assert to_spec(pipe, full=True) == pipe.to_spec(full=True)


@pytest.mark.parametrize("bad", ["", "pca:dim", "pca:dim=1,dim=2", "faiss:"])
def test_bad_specs_are_one_line_errors(bad):
    with pytest.raises(InvalidParameterError) as info:
        parse_spec(bad)
    assert "\n" not in str(info.value)
