"""Pickle-free training checkpoints for every training loop: ``state.safetensors`` + ``state.json``.

Holds what nanoGPT-style resumption needs (design.md section 5): the *unwrapped* module states,
optimiser states (tensors flattened by name, structure in JSON), the step, RNG states (torch
generators as uint8 tensors, numpy ``Generator`` state as JSON) and the full config. Both
:func:`emblab.nn.train_loop.fit_module` (the compressors) and
:class:`emblab.retrieval.train.CorrectorTrainer` write this one format; nothing is unpickled on load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._deps import require
from .._errors import ArtifactError
from ..io import atomic_path, json_default

torch = require("torch", "emblab.nn.checkpoint")

TENSORS = "state.safetensors"
META = "state.json"


def flatten_optimizer(opt, prefix: str) -> tuple[dict, dict]:
    """Split ``opt.state_dict()`` into ``({name: tensor}, json_structure)``."""
    sd = opt.state_dict()
    tensors, keys = {}, {}
    for pid, st in sd["state"].items():
        keys[str(pid)] = {}
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"{prefix}.{pid}.{key}"] = val
                keys[str(pid)][key] = "tensor"
            else:
                keys[str(pid)][key] = val
    return tensors, {"param_groups": sd["param_groups"], "state": keys}


def unflatten_optimizer(opt, prefix: str, tensors: dict, structure: dict) -> None:
    """Inverse of :func:`flatten_optimizer`; loads the state into ``opt``."""
    state = {}
    for pid, entries in structure["state"].items():
        state[int(pid)] = {k: (tensors[f"{prefix}.{pid}.{k}"] if v == "tensor" else v) for k, v in entries.items()}
    opt.load_state_dict({"state": state, "param_groups": structure["param_groups"]})


def save_checkpoint(folder: str | os.PathLike, tensors: dict, meta: dict[str, Any]) -> None:
    """Write the checkpoint folder atomically (replacing an older one)."""
    from safetensors.torch import save_file

    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items() if v is not None}
    with atomic_path(folder, is_dir=True, kind="checkpoint") as tmp:
        save_file(flat, str(tmp / TENSORS))
        (tmp / META).write_text(json.dumps(meta, default=json_default), encoding="utf-8")


def load_checkpoint(folder: str | os.PathLike, device: str = "cpu", *,
                    hint: str = "delete it or use a new --out") -> tuple[dict, dict]:
    """Read ``(tensors, meta)`` from a checkpoint folder (``ArtifactError`` ending in ``hint`` if damaged)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / TENSORS), device=device)
    except (OSError, json.JSONDecodeError, Exception) as exc:  # safetensors raises its own errors
        raise ArtifactError(f"{folder}: unreadable checkpoint ({type(exc).__name__}); {hint}.") from exc
    return tensors, meta


def prefixed(prefix: str, state: dict[str, Any] | None) -> dict[str, Any]:
    """``{f"{prefix}.{k}": v}`` of a state dict (empty for ``None``)."""
    return {f"{prefix}.{k}": v for k, v in (state or {}).items()}


def unprefixed(prefix: str, tensors: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`prefixed`: the entries of ``tensors`` under ``prefix.``."""
    head = prefix + "."
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def rng_tensors() -> dict[str, Any]:
    """The torch CPU (and CUDA) generator states, as uint8 tensors named ``rng.*``."""
    out = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out.update({f"rng.cuda.{i}": st for i, st in enumerate(torch.cuda.get_rng_state_all())})
    return out


def restore_rng(tensors: dict[str, Any]) -> None:
    """Inverse of :func:`rng_tensors` (CUDA states only when CUDA is present)."""
    torch.set_rng_state(tensors["rng.torch"].cpu())
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k].cpu() for k in cuda])
