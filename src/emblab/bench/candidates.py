"""What ``emblab bench`` runs when no ``--methods`` are given: the peers and the seed compressors.

For every byte budget the candidates are

* the peers that reach it exactly (:func:`peer_specs_for_budgets`: PCA
  float16/int8, truncation, int8/SQ8, binary, FAISS PQ, and in ``full`` mode OPQ and 4-bit
  FastScan PQ);
* the seed compressors emblab exists for, each in its **best-measured configuration**, spelled
  as an explicit spec in :data:`SEED_RECIPES` (the one place to update when a benchmark finds a
  better one).

``quick`` (the default) leaves out OPQ, whose rotation training took 85-720 s per budget on the
2-core CPU (``benchmarks/results/peers.md``, 5k-10k fit rows) against 5-50 s for PQ. What that
costs, measured there: at 96-192 B PQ is within 0.003 of OPQ on both tasks; at 32 and 64 B it is
0.006-0.018 below on SciFact nDCG@10 and 0.076-0.088 below on IMDB Recall@10. ``full`` adds OPQ
and 4-bit FastScan PQ: use it when the small budgets decide.

A candidate that cannot be fitted on the fit set at hand (fewer rows than its width, its
clusters or its centroids need) is returned with the reason, so the run lists it instead of
dropping it silently (:func:`fit_requirement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .._errors import InvalidParameterError

MODES = ("quick", "full")
DEFAULT_BUDGETS = (32, 64, 96, 128, 192, 256, 384)


@dataclass(frozen=True)
class SeedRecipe:
    """A seed compressor at its best-measured configuration, for any byte budget.

    Attributes
    ----------
    family : str
        Label in tables and reasons (``sae``, ``sae-omp``, ``mcr2``, ``ae``).
    template : str
        Spec with one ``{units}`` placeholder (SAE non-zeros k, or output dimensions).
    unit_bytes : int
        Payload bytes per unit: budget = units * unit_bytes.
    max_units : str
        ``"d"`` (units <= input width), ``"h"`` (units <= the SAE's latent count) or ``"budget"``
        (units are bytes, at most the float32 size 4 d: the method chooses its size for the budget).
    min_rows : callable
        Rows the fit set needs, as a function of ``units``.
    why_rows : str
        The reason, for the "cannot fit" line.
    source : str
        Where the configuration was measured.
    """

    family: str
    template: str
    unit_bytes: int
    max_units: str
    min_rows: Callable[[int], int]
    why_rows: str
    source: str

    def spec(self, units: int) -> str:
        return self.template.format(units=units)


# The SAE codes a catalogue with bit-packed indices and quantised values; ``budget=B`` chooses the
# non-zeros k so the payload fits B bytes (specs/sae.md, issue 16). The layout below is the best
# measured in benchmarks/results/sae_codes.md: OMP with refitted 4-bit row-scaled values and
# Elias-Fano indices (IMDB Recall@10 0.751 at 63 B, 0.823 at 96 B, 0.849-0.865 at 128 B).
_SAE = ("sae:h=4096,budget={units},train_k=32,batch_size=256,center=true,auxk=true,epochs=20,"
        "index_coding=ef,value_bits=4,value_fit=refit")
# the SAE's training loop holds out max(5%, 1,000) rows for validation and early stopping: below
# 2,000 rows that is half the fit set, and most of the 4,096 latents would never be trained
_SAE_ROWS = 2000
_SAE_WHY = "the SAE holds out 1,000 rows for validation and needs as many to train"
#: The seed compressors, each at its best-measured configuration. Keep this list current: when a
#: benchmark measures a better configuration (or a method's defaults become the best one), edit
#: the template here and nowhere else.
SEED_RECIPES: tuple[SeedRecipe, ...] = (
    SeedRecipe("sae", _SAE + ",encoder=topk", 1, "budget", lambda units: _SAE_ROWS, _SAE_WHY,
               "sae_codes.md: the paper's top-k encoder with the same packed layout (IMDB Recall@10 "
               "0.595 at 63 B against 0.751 with OMP; kept as the paper's reference)"),
    SeedRecipe("sae-omp", _SAE + ",encoder=omp", 1, "budget", lambda units: _SAE_ROWS, _SAE_WHY,
               "sae_codes.md: best SAE coding at 32-128 B on IMDB and SciFact (OMP, refit, 4-bit, EF)"),
    SeedRecipe("mcr2", "mcr2:dim={units},store=int8,objective=mcr2,head=linear,init=pca,lr=0.0001", 1, "d",
               lambda units: 2 * max(8, units // 4), "MCR2's k-means needs 2 rows per cluster (max(8, dim/4))",
               "mcr2.md: unsupervised MCR2 with a PCA-initialised linear head, lr 1e-4, int8 codes (0.523 "
               "nDCG@10 at 64 B vs 0.380 for float16 codes; the MLP default is 0.05 below PCA)"),
    SeedRecipe("ae", "ae:dim={units},store=f16", 2, "d", lambda units: 20,
               "the autoencoder holds out 10% of the fit rows for early stopping",
               "intrinsic_dimension.md §2: the reference recipe (AdamW 1e-4, batch 32, 25 epochs, "
               "patience 5); float16 codes give twice the dimensions of float32 at equal bytes"),
)


@dataclass(frozen=True)
class Candidate:
    """One method to run at one budget, or the reason it cannot run.

    Attributes
    ----------
    budget : int
        Bytes per vector the method reaches exactly.
    spec : str
        Exact spec (what the verdict prints to reproduce it).
    family : str
        ``peer`` or the seed family.
    skip : str or None
        Why it cannot be fitted here (None: run it).
    reaches : bool
        False when the method cannot store exactly ``budget`` bytes at this width (then ``skip``
        says why).
    """

    budget: int
    spec: str
    family: str
    skip: str | None = None
    reaches: bool = True


def rabitq_code_bytes(d: int, bits: int) -> int:
    """Code size of FAISS ``RaBitQ{bits}`` on d dimensions: sign bits + 8 B of factors (1 bit), or
    sign bits + extra bits + 20 B of factors (``IndexRaBitQ.sa_code_size`` in faiss-cpu 1.15)."""
    signs = -(-d // 8)
    return signs + 8 if bits == 1 else signs + -(-d * (bits - 1) // 8) + 20


def _rabitq_for_budget(d: int, b: int) -> str | None:
    """The RaBitQ spec of exactly ``b`` bytes with the most dimensions kept: the fewest bits per
    dimension, after a PCA + random rotation (``PCAR``) to d' < d dimensions when needed."""
    for bits in (1, 2, 3, 4):
        if rabitq_code_bytes(d, bits) == b:
            return f"faiss:RaBitQ{bits if bits > 1 else ''}"
        dims = [p for p in range(32, d, 8) if rabitq_code_bytes(p, bits) == b]
        if dims:
            return f"faiss:PCAR{max(dims)},RaBitQ{bits if bits > 1 else ''}"
    return None


def peer_specs_for_budgets(d: int, budgets: Iterable[int] = DEFAULT_BUDGETS, *, faiss: bool = True,
                           pipelines: bool = True, fastscan: bool = True, opq: bool = True, additive: bool = False,
                           rabitq: bool = False, sae: bool = False) -> list[tuple[int, str]]:
    """Every peer spec whose bytes/vector is exactly a budget, for input width ``d``.

    Parameters
    ----------
    d : int
        Embedding width.
    budgets : iterable of int
        Bytes per vector.
    faiss : bool
        Include FAISS codecs (PQm, OPQm+PQm, SQ8, SQ4, SQfp16, PQ 4-bit FastScan).
    pipelines : bool
        Include ``pca:dim=b,store=f32|int8`` chains.
    fastscan : bool
        Include 4-bit FastScan PQ (``faiss:PQ{2b}x4fs``).
    opq : bool
        Include OPQ+PQ (its rotation training dominates a run's time).
    additive : bool
        Include FAISS additive quantisers: residual with 8-bit codebooks (``faiss:RQ{b}x8``) and
        local search with 4-bit codebooks (``faiss:LSQ{2b}x4``). Their encoders are slow (beam /
        local search). LSQ updates all codebooks jointly by least squares, so with 8-bit codebooks
        (256 codewords each, 8,192 at 32 B) the update has about as many unknowns per dimension as
        the 10k fit rows and overfits: ``LSQ32x8`` kept Recall@10 0.281 on IMDB where ``RQ32x8``
        kept 0.578 (``benchmarks/results/sae_codes.md``); 16-codeword codebooks keep it well posed.
    rabitq : bool
        Include FAISS RaBitQ at exactly b bytes (:func:`_rabitq_for_budget`).
    sae : bool
        Include ``sae:budget=b`` (the SAE with its default layout, k chosen for the budget).

    Returns
    -------
    list of (budget, spec), by budget then in a fixed method order.

    Examples
    --------
    >>> [s for b, s in peer_specs_for_budgets(384, [48])]
    ['binary', 'binary:rescore=10', 'faiss:PQ48np', 'faiss:OPQ48,PQ48np', 'pca:dim=24', 'pca:dim=48,store=int8', 'pca:dim=48,store=f32|int8', 'trunc:dim=24', 'faiss:PQ96x4fs']
    """
    out: list[tuple[int, str]] = []
    for b in sorted(set(int(x) for x in budgets)):
        if b < 1:
            raise InvalidParameterError(f"budgets must be positive byte counts; got {b}.")
        specs: list[str] = []
        if b == 4 * d:
            specs.append("float32")
        if b == 2 * d:
            specs.append("float16")
            if faiss:
                specs.append("faiss:SQfp16")
        if b == d:
            specs.append("int8")
            if faiss:
                specs.append("faiss:SQ8")
        nbits = -(-d // 8)
        if b == nbits:
            specs += ["binary", "binary:rescore=10"]
        if b == nbits + d:
            specs.append("binary:rescore=10,rescore_source=int8")
        # PQ with one dimension per sub-quantiser (m = d) is excluded: m in {d/2, d/3, ...} as in §1
        if faiss and d % b == 0 and 2 * b <= d:
            # "np": no polysemous training. It only permutes centroid ids (same search results)
            # and costs minutes of CPU per codec on a 2-core machine
            specs += [f"faiss:PQ{b}np"] + ([f"faiss:OPQ{b},PQ{b}np"] if opq else [])
        if faiss and 2 * b == d:
            specs.append("faiss:SQ4")
        if b % 2 == 0 and b // 2 <= d:
            specs.append(f"pca:dim={b // 2}")
        if b <= d:
            specs.append(f"pca:dim={b},store=int8")
            if pipelines:
                specs.append(f"pca:dim={b},store=f32|int8")
        if b % 2 == 0 and b // 2 <= d:
            specs.append(f"trunc:dim={b // 2}")
        if faiss and fastscan and d % (2 * b) == 0 and 4 * b <= d:
            specs.append(f"faiss:PQ{2 * b}x4fs")
        if faiss and additive and b <= d:
            specs += [f"faiss:RQ{b}x8", f"faiss:LSQ{2 * b}x4"]
        if faiss and rabitq and _rabitq_for_budget(d, b):
            specs.append(_rabitq_for_budget(d, b))
        if sae and b >= 2:
            specs.append(f"sae:budget={b}")
        out += [(b, s) for s in specs]
    return out


def seed_candidates(d: int, budgets: Iterable[int], recipes: tuple[SeedRecipe, ...] | None = None) -> list[Candidate]:
    """Every seed recipe at every budget it reaches exactly (unreachable budgets are listed too).

    Parameters
    ----------
    d : int
        Input width.
    budgets : iterable of int
    recipes : tuple of SeedRecipe, optional
        Default :data:`SEED_RECIPES`.
    """
    out: list[Candidate] = []
    for b in sorted(set(int(x) for x in budgets)):
        for r in recipes if recipes is not None else SEED_RECIPES:
            units, rest = divmod(b, r.unit_bytes)
            # a budget-first code larger than the float32 vector (4 d bytes) saves nothing
            limit = {"d": d, "h": _latents(r.template), "budget": 4 * d}[r.max_units]
            if rest or units < 1:
                out.append(Candidate(b, r.template, r.family, f"{r.family} stores {r.unit_bytes} B per unit; "
                                                              f"{b} B is not a multiple", reaches=False))
            elif units > limit:
                out.append(Candidate(b, r.spec(units), r.family, f"{r.family} needs {units} units at {b} B but "
                                                                 f"allows at most {limit}", reaches=False))
            else:
                out.append(Candidate(b, r.spec(units), r.family))
    return out


def _latents(template: str) -> int:
    m = re.search(r"\bh=(\d+)", template)
    return int(m.group(1)) if m else 4096


def default_candidates(d: int, budgets: Iterable[int], n_fit: int, *, mode: str = "quick",
                       recipes: tuple[SeedRecipe, ...] | None = None, faiss: bool = True,
                       additive: bool = False, rabitq: bool = False) -> list[Candidate]:
    """Peers and seeds at each budget, with a skip reason for those the fit set cannot support.

    Parameters
    ----------
    d : int
        Input width.
    budgets : iterable of int
    n_fit : int
        Rows of the fit set.
    mode : {"quick", "full"}
        ``quick`` leaves out OPQ and 4-bit FastScan PQ.
    recipes : tuple of SeedRecipe, optional
        Default :data:`SEED_RECIPES`.
    faiss : bool
        Include FAISS codecs among the peers.
    additive, rabitq : bool
        Add FAISS RQ/LSQ and RaBitQ ladders to the peers (:func:`peer_specs_for_budgets`).

    Returns
    -------
    list of Candidate, by budget: peers first, then the seeds.
    """
    if mode not in MODES:
        raise InvalidParameterError(f"mode={mode!r}; choose 'quick' or 'full'.")
    budgets = sorted(set(int(b) for b in budgets))
    full = mode == "full"
    peers = [Candidate(b, s, "peer", fit_requirement(s, n_fit))
             for b, s in peer_specs_for_budgets(d, budgets, faiss=faiss, pipelines=False, fastscan=full,
                                                opq=full, additive=additive, rabitq=rabitq)]
    seeds = [c if c.skip else Candidate(c.budget, c.spec, c.family, _seed_rows(c, n_fit, recipes))
             for c in seed_candidates(d, budgets, recipes)]
    return sorted(peers + seeds, key=lambda c: (c.budget, c.family != "peer"))


def unreachable_budgets(d: int, budgets: Iterable[int], *, faiss: bool = True) -> list[int]:
    """Budgets that no default candidate (peer or seed) stores exactly at width ``d``."""
    cands = default_candidates(d, budgets, n_fit=1 << 30, mode="full", faiss=faiss)
    reached = {c.budget for c in cands if c.reaches}
    return sorted(set(int(b) for b in budgets) - reached)


def _seed_rows(c: Candidate, n_fit: int, recipes: tuple[SeedRecipe, ...] | None) -> str | None:
    recipe = next(r for r in (recipes if recipes is not None else SEED_RECIPES) if r.family == c.family)
    need = recipe.min_rows(c.budget // recipe.unit_bytes)
    if n_fit < need:
        return f"{recipe.why_rows}: {need} rows, the fit set has {n_fit}"
    return None


def fit_requirement(spec: str, n_fit: int) -> str | None:
    """Why a peer spec cannot be fitted on ``n_fit`` rows, or None.

    PQ-type FAISS codecs train 2**nbits centroids per sub-quantiser (FAISS refuses fewer rows);
    PCA with p components needs p rows.
    """
    m = re.search(r"PQ(\d+)(?:x(\d+))?", spec) if spec.startswith("faiss:") else None
    if m:
        nbits = int(m.group(2) or 8)
        if n_fit < 2 ** nbits:
            return f"PQ trains {2 ** nbits} centroids per sub-quantiser: {2 ** nbits} rows, the fit set has {n_fit}"
    m = re.match(r"pca:dim=(\d+)", spec)
    if m and n_fit < int(m.group(1)):
        return f"PCA with {m.group(1)} components needs {m.group(1)} rows, the fit set has {n_fit}"
    return None
