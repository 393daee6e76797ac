"""The ``recsys:DIR`` task URI: recommendation on a user's interactions folder.

The folder holds ``interactions.tsv`` or ``.csv`` (a header naming ``user``, ``item`` and
optionally ``timestamp`` and ``weight``) and, optionally, ``item_vectors.npy`` + ``items.txt``
(and user vectors) instead of learned collaborative factors; see
:func:`emblab.data.interactions.read_interactions` and :class:`~.recsys_task.RecsysTask`.
"""

from __future__ import annotations

from .recsys_task import CODINGS, recsys_folder
from .uri import TaskOption, register_scheme, task_name

__all__ = ["recsys_dir_task", "OPTIONS"]

OPTIONS = (
    TaskOption("cf", str, "als", "collaborative factors: als[:factors=64,...], bpr[...] or ease"),
    TaskOption("users", str, None, "user vectors: 'factors' (learned or supplied) or 'mean' (mean of history)"),
    TaskOption("codings", str, "norm,raw", "how items are coded: norm (direction + float16 norm), raw, or both"),
    TaskOption("seed", int, 0, "seed of the random leave-one-out split (no timestamps) and of the CF fit"),
)


def recsys_dir_task(path: str, *, cf: str = "als", users: str | None = None, codings: str = "norm,raw",
                    seed: int = 0):
    """A :class:`~.recsys_task.RecsysTask` over the interactions folder ``path``.

    Parameters
    ----------
    path : str
        The folder.
    cf, users, codings, seed
        See :data:`OPTIONS`; ``codings`` is a comma-separated subset of ``norm``, ``raw``.
    """
    coding_list = tuple(c.strip() for c in str(codings).split(",") if c.strip())
    given = {"cf": cf, "users": users, "codings": ",".join(coding_list), "seed": seed}
    defaults = {o.name: o.default for o in OPTIONS}
    return recsys_folder(path, name=task_name("recsys", path, given, defaults), cf=cf, users=users,
                         codings=coding_list, seed=seed)


register_scheme("recsys", recsys_dir_task, options=OPTIONS,
                summary="interactions folder (interactions.tsv/.csv: user, item[, timestamp, weight]; optional "
                        f"item vectors): HR@10, NDCG@10, Recall@10 (last 5), popularity row; codings {', '.join(CODINGS)}")
