"""Dense-retriever training against cached target embeddings, with corrector networks.

Implements Monath et al., *A Fresh Take on Stale Embeddings* (ICML 2024) as specified in
``shared/specs/corrector.md``. Submodules (all need torch, so nothing is imported here):

- :mod:`.cache`      target-embedding cache with staleness tracking and the encode counter
- :mod:`.corrector`  the corrector h (identity-initialised residual MLP or linear) and its trainer
- :mod:`.negatives`  top-k / Gumbel top-k negative selection excluding known positives
- :mod:`.encoders`   the small query / target encoders f and g
- :mod:`.train`      the training loop (methods inbatch, stale, refresh, corrector, oracle)
- :mod:`.task`       the task container and the retrieval metrics
- :mod:`.synthetic`  the synthetic drifting-target task (spec section 6.1)
- :mod:`.scifact`    SciFact over frozen MiniLM features with IMDB distractors (spec section 6.2)
- :mod:`.report`     plots and markdown tables read from result dictionaries
- :mod:`.experiments` named settings (full / cpu / tiny) shared by the CLI and the benchmark
- :mod:`.checkpoint` pickle-free checkpoints (safetensors + JSON)
- :mod:`.sparse_search` search over fixed-k sparse codes (SAE work, specs/sae.md; separate owner)
"""
