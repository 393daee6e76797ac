"""emblab.nn.checkpoint: the one pickle-free checkpoint format of every training loop."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from emblab._errors import ArtifactError  # noqa: E402
from emblab.nn.checkpoint import (META, TENSORS, flatten_optimizer, load_checkpoint, prefixed,  # noqa: E402
                                  restore_rng, rng_tensors, save_checkpoint, unflatten_optimizer, unprefixed)


def _model_and_adam(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return net, torch.optim.Adam(net.parameters(), lr=1e-2)


def _step(net, opt, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 6, generator=g)
    opt.zero_grad()
    net(x).pow(2).mean().backward()
    opt.step()


def _save(folder, net, opt, step: int) -> None:
    opt_tensors, opt_structure = flatten_optimizer(opt, "opt")
    save_checkpoint(folder, {**prefixed("model", net.state_dict()), **opt_tensors, **rng_tensors()},
                    {"step": step, "optimizer": opt_structure})


def test_resume_from_a_checkpoint_continues_exactly(tmp_path):
    net, opt = _model_and_adam(0)
    for s in range(3):
        _step(net, opt, s)
    _save(tmp_path / "ck", net, opt, step=3)
    torch.manual_seed(123)          # the generator state is part of the checkpoint
    expected_draw = torch.rand(3)
    _step(net, opt, 3)              # the run that was never interrupted

    net2, opt2 = _model_and_adam(99)   # other weights, fresh optimiser
    tensors, meta = load_checkpoint(tmp_path / "ck")
    assert meta["step"] == 3
    net2.load_state_dict(unprefixed("model", tensors))
    unflatten_optimizer(opt2, "opt", tensors, meta["optimizer"])
    assert int(opt2.state_dict()["state"][0]["step"]) == 3          # Adam's own step count came back
    torch.manual_seed(123)
    restore_rng(tensors)
    _step(net2, opt2, 3)
    for (k, a), b in zip(net.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), f"{k} differs after resuming"
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), expected_draw)


def test_the_folder_holds_safetensors_and_json_only(tmp_path):
    net, opt = _model_and_adam(0)
    _step(net, opt, 0)
    _save(tmp_path / "ck", net, opt, step=1)
    files = {p.name for p in (tmp_path / "ck").iterdir()}
    assert {TENSORS, META} <= files                                    # (+ the emblab output marker)
    assert all(name.endswith((".json", ".safetensors")) for name in files), files
    meta = json.loads((tmp_path / "ck" / META).read_text())           # plain JSON: nothing to unpickle
    assert meta["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-2)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ck" / TENSORS), framework="pt") as f:
        keys = set(f.keys())
    assert "model.0.weight" in keys and "opt.0.exp_avg" in keys and "rng.torch" in keys


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    net, opt = _model_and_adam(0)
    _save(tmp_path / "ck", net, opt, step=1)
    with pytest.raises(TypeError, match="not JSON serialisable"):
        save_checkpoint(tmp_path / "ck", prefixed("model", net.state_dict()), {"step": 2, "bad": object()})
    _, meta = load_checkpoint(tmp_path / "ck")
    assert meta["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]       # no temporary folder left behind
    _save(tmp_path / "ck", net, opt, step=2)                           # a good save replaces it
    assert load_checkpoint(tmp_path / "ck")[1]["step"] == 2


def test_a_damaged_checkpoint_is_a_one_line_artifact_error(tmp_path):
    net, opt = _model_and_adam(0)
    _save(tmp_path / "ck", net, opt, step=1)
    (tmp_path / "ck" / TENSORS).write_bytes(b"not a safetensors file")
    with pytest.raises(ArtifactError, match="unreadable checkpoint.*start over") as info:
        load_checkpoint(tmp_path / "ck", hint="start over")
    assert "\n" not in str(info.value)
    with pytest.raises(ArtifactError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "missing")
