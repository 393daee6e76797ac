"""The compressor contract, checked for every registered method (design.md section 11).

Parametrised over :func:`emblab.list_methods` at collection time, so methods added later (sae,
mcr2, ae, ...) are covered automatically through their class attribute ``test_spec``. The checks
themselves are the public ones of :mod:`emblab.testing` (``check_compressor`` runs them all for a
method registered outside emblab), so there is one implementation of the contract.
"""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab.testing import CHECKS, ContractCase

from conftest import contract_spec

METHODS = emblab.list_methods()
# stores and chains the issue names explicitly, beside each method's own test_spec
_SAE = "sae:h=64,epochs=2,batch_size=64,progress=false"
# every SAE code layout (issue 16): packed fp16 / 8-bit / 4-bit values, row or per-latent quantiser,
# budget-chosen k, the uint16 + fp16 layout, non-negative codes, stored norms, both value fits
SAE_LAYOUTS = [f"{_SAE},budget=12,value_bits=4", f"{_SAE},budget=11,value_bits=8,index_coding=ef", f"{_SAE},k=4,value_bits=8,value_scale=latent",
               f"{_SAE},k=4,value_bits=16,store_norm=true", f"{_SAE},k=4,pack=false,index_coding=fixed,value_bits=16,encoder=topk",
               f"{_SAE},budget=10,value_bits=4,value_scale=latent,encoder=topk,value_fit=round",
               f"{_SAE},k=6,value_bits=4,activation=relu_topk,encoder=topk"]
EXTRA_SPECS = ["pca:dim=8,store=int8", "pca:dim=8,store=f32|int8", "int8:calib=percentile:0.1",
               "binary:rescore=3", "pq:m=4,nbits=4", "faiss:SQ8"] + SAE_LAYOUTS
SPECS = [contract_spec(m) for m in METHODS] + EXTRA_SPECS


def test_every_method_is_covered():
    assert {"float32", "float16", "trunc", "int8", "binary", "faiss", "pq", "opq", "pca"} <= set(METHODS)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("spec", SPECS)
def test_contract(spec, check, fitted_model, planted, tmp_path):
    check(ContractCase(spec, planted, tmp_path, fit=fitted_model))
