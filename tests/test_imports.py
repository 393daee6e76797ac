"""``import emblab`` stays light: no torch, faiss or sentence-transformers (design.md section 7)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "faiss", "sentence_transformers")


def _loaded_after(code: str) -> list[str]:
    script = (
        f"{code}\n"
        "import sys\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return [m for m in out.stdout.strip().splitlines()[-1].split(",") if m] if out.stdout.strip() else []


@pytest.mark.parametrize("code", [
    "import emblab",
    "import emblab; emblab.list_methods()",
    "import emblab; [emblab.build(emblab.get_method(n).test_spec or n) for n in emblab.list_methods()]",
    "import emblab, numpy as np; X = np.random.default_rng(0).normal(size=(50, 8)).astype('float32');"
    " m = emblab.build('pca:dim=2|int8').fit(X); emblab.search(m, X, m.encode(X), k=3)",
])
def test_no_heavy_imports(code):
    assert _loaded_after(code) == []


def test_faiss_is_imported_only_when_a_faiss_method_fits():
    code = ("import emblab, numpy as np; X = np.random.default_rng(0).normal(size=(300, 8)).astype('float32');"
            " emblab.build('faiss:SQ8').fit(X)")
    assert _loaded_after(code) == ["faiss"]
