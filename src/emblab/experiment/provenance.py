"""Where a number came from: versions, machine, command, commit and date (design.md section 9).

Every results document carries one :func:`environment` block, and every markdown table renders it
with :func:`environment_lines`, so provenance is written in one place.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

_PACKAGES = ("numpy", "scipy", "torch", "faiss-cpu", "sentence-transformers", "scikit-learn",
             "safetensors", "gensim", "ray", "qdrant-client", "pyarrow")


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that change numbers (missing ones omitted)."""
    out = {}
    for name in names:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory and GPU (if torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "platform": platform.platform()}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(command: str | None = None) -> dict[str, Any]:
    """Everything a reader needs to know where a number came from."""
    from ..version import __version__

    return {"emblab": __version__, "python": platform.python_version(), "packages": package_versions(),
            "machine": machine_info(), "command": command or " ".join(sys.argv),
            "git_commit": git_commit(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}


def environment_lines(env: dict[str, Any], *, notes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Markdown lines of an :func:`environment` block (``## Environment`` heading included).

    Parameters
    ----------
    env : dict
        The ``environment`` block of a results document.
    notes : list of str
        Extra bullet lines (fit-row limits, quick mode...), appended as given.
    """
    m = env.get("machine") or {}
    pk = env.get("packages") or {}
    lines = ["## Environment", "",
             f"- machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB"
             + (f", GPU {m['gpu']}" if m.get("gpu") else ""),
             f"- versions: emblab {env.get('emblab')}, python {env.get('python')}, "
             + ", ".join(f"{k} {v}" for k, v in pk.items()),
             f"- command: `{env.get('command')}`",
             f"- date: {env.get('date_utc')} (commit {env.get('git_commit')})"]
    return lines + [f"- {n}" for n in notes]
