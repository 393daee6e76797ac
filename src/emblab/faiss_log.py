"""FAISS's k-means warnings, caught once (issue 13).

FAISS prints ``WARNING clustering N points to K centroids: please provide at least M training
points`` from C++ straight to file descriptor 2, once per k-means: a product quantiser runs one
k-means per sub-quantiser, so a small fit set buries a command's output under hundreds of identical
lines. :func:`quiet_clustering_warnings` wraps a FAISS training call, drops those lines (everything
else on stderr passes through) and raises one Python warning with a fixed text instead, which
Python shows once per process however many fits ran (the CLI prints it as one ``warning:`` line).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from typing import Iterator

PREFIX = b"WARNING clustering"
MESSAGE = ("FAISS k-means trained on fewer than 39 rows per centroid (its 'WARNING clustering' lines are "
           "hidden); expected with small fit sets, larger ones give better codebooks.")
_TOTAL = [0]


def clustering_warnings_seen() -> int:
    """How many ``WARNING clustering`` lines this process has hidden so far."""
    return _TOTAL[0]


@contextlib.contextmanager
def quiet_clustering_warnings() -> Iterator[None]:
    """Hide FAISS's ``WARNING clustering`` lines written inside the block; warn once instead.

    Works on the file descriptor, because FAISS writes from C++. When stderr has no file
    descriptor (some embedded or captured consoles) the block runs unfiltered.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    count = [0]

    def pump() -> None:
        with os.fdopen(r, "rb", buffering=0) as fh:
            for line in iter(fh.readline, b""):
                if line.startswith(PREFIX):
                    count[0] += 1
                else:
                    os.write(saved, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)   # drops the last write end of the pipe: the pump sees EOF
        thread.join(timeout=5)
        os.close(saved)
        _TOTAL[0] += count[0]
        if count[0]:
            warnings.warn(MESSAGE, UserWarning, stacklevel=3)
