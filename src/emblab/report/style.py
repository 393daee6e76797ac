"""Stable colours and names for method families, so a method looks the same in every figure."""

from __future__ import annotations

import hashlib
import re

# fixed colours for the methods people compare most; others get a stable hash-based colour
_FIXED = {
    "uncompressed": "#000000", "float32": "#000000", "float16": "#555555",
    "pca": "#1f77b4", "pca store=f32": "#1f77b4", "pca store=int8": "#17becf", "pca+int8": "#0e7c86",
    "binary rescore=10": "#8c8c00", "binary rescore=10 rescore_source=int8": "#e0c000", "trunc": "#8c564b", "int8": "#7f7f7f",
    "binary": "#bcbd22", "PQ": "#ff7f0e", "OPQ+PQ": "#d62728", "SQ": "#9467bd",
    "sae": "#2ca02c", "sae omp": "#98df8a", "mcr2": "#e377c2", "ae": "#9edae5", "randproj": "#c49c94",
    "corrector": "#2ca02c", "stale": "#d62728", "refresh": "#ff7f0e", "inbatch": "#7f7f7f",
    "oracle": "#000000", "raw": "#000000",
}
_PALETTE = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
            "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#fdae6b"]


# size and training-budget parameters: they move a point along a line, they do not make a new line
_NOISE_KEYS = {"dim", "d", "m", "k", "epochs", "seed", "rescore_k", "progress", "lr", "batch_size", "device",
               "checkpoint_dir", "patience", "init", "val_fraction", "verbose"}


def family(spec: str) -> str:
    """Group a method spec into a plotted line: size parameters dropped, other options kept.

    Examples: ``pca:dim=64,store=int8`` -> ``pca store=int8``; ``faiss:OPQ32,PQ32`` -> ``OPQ+PQ``;
    ``pca:dim=128,store=f32|int8`` -> ``pca+int8``; ``sae:h=16384,k=32`` -> ``sae h=16384``. Full specs
    (defaults written out) group with their short form.
    """
    spec = str(spec).strip()
    if spec.startswith("faiss:"):
        fac = spec[6:]
        if "OPQ" in fac:
            return "OPQ+PQ" + (" 4-bit fs" if "fs" in fac else "")
        if fac.startswith("PQ"):
            return "PQ" + (" 4-bit fs" if "fs" in fac else "")
        return re.sub(r"\d+", "", fac) or "faiss"
    if spec.startswith("opq:"):
        return "OPQ+PQ"
    if spec.startswith("pq:"):
        return "PQ"
    stages = spec.split("|")
    if len(stages) > 1:
        return "+".join(s.split(":")[0] for s in stages)
    name, _, rest = _short(spec).partition(":")
    keep = []
    for item in rest.split(","):
        key, _, val = item.partition("=")
        if key and key not in _NOISE_KEYS:
            keep.append(f"{key}={val}")
    return " ".join([name] + keep)


def _short(spec: str) -> str:
    """Results hold full specs (every parameter); families group by the non-default ones."""
    from ..registry import build

    try:
        return build(spec).to_spec()
    except Exception:  # noqa: BLE001 - a label that is not a spec (e.g. "uncompressed") stays as it is
        return spec


def color(name: str) -> str:
    """Colour of a family or method name: fixed table, then a stable hash of the name.

    Names like ``uncompressed (float32)`` take the colour of their first word.
    """
    if name in _FIXED:
        return _FIXED[name]
    first = name.split(" ")[0]
    if first in _FIXED and first in ("uncompressed", "raw", "oracle"):
        return _FIXED[first]
    h = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    return _PALETTE[h % len(_PALETTE)]
