"""This process's share of the cores, and one pool of threads per process for C work that lets go of
the GIL (zlib's deflate, Pillow's resampling): the PNG writer's bands, the channels of a resize.

The share is set explicitly by whoever divides the cores — a batch working on two files at once, a
--jobs process, a Ray actor, a server replica with --threads — before any model is loaded: each
onnxruntime session (runtime/sessions.py) and this pool are sized from it when they start."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_share = 0  # cores this process's work may use; 0 = all of them
_pool: ThreadPoolExecutor | None = None


def set_share(cores: int) -> None:
    """Let this process's sessions and pool use `cores` cores (0 = all); sessions and the pool started
    before keep their size, so call it before the first model is loaded."""
    global _share
    _share = max(0, int(cores))


def share() -> int:
    """The cores this process's work may use (0 = all of them: onnxruntime's own default)."""
    return _share


def pool() -> ThreadPoolExecutor:
    """As many threads as the process's share of the cores, at most 8."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=min(8, _share or os.cpu_count() or 1), thread_name_prefix="sfumato")
    return _pool


def _forget_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)  # a forked child has the pool but none of its threads
