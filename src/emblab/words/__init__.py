"""Quadratic word embedding models (QWEM; Karkada et al., arXiv 2502.09863).

Modules: :mod:`.cooccurrence` (corpus -> counts), :mod:`.closed_form` (M*, eigenpairs, W*),
:mod:`.vectors` (WordVectors), :mod:`.dynamics` (full-batch GD + theory curves), :mod:`.sgd`
(sampled SGD, QWEM and SGNS losses; needs torch), :mod:`.analogy` (evaluation), :mod:`.critical`
(critical model size). Nothing here imports torch at import time.
"""

from .analogy import all_pairs_analogy, evaluate_all, gensim_analogy, load_analogy_families, word_similarity
from .closed_form import fit_closed_form, svd_embeddings, target_matrix, top_eigenpairs
from .cooccurrence import CoocStats, build_cooccurrence, load_token_stream_cached, tokenize_corpus
from .vectors import WordVectors

__all__ = ["CoocStats", "build_cooccurrence", "load_token_stream_cached", "tokenize_corpus", "target_matrix",
           "top_eigenpairs", "fit_closed_form", "svd_embeddings", "WordVectors", "all_pairs_analogy",
           "gensim_analogy", "word_similarity", "evaluate_all", "load_analogy_families"]
