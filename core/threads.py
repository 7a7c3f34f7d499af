"""One pool of threads per process for C work that lets go of the GIL (zlib's deflate, Pillow's
resampling): the PNG writer's bands, the channels of a resize."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """As many threads as the process's share of the cores (a batch's --jobs sets SFUMATO_THREADS)."""
    global _pool
    if _pool is None:
        share = int(os.environ.get("SFUMATO_THREADS", 0)) or os.cpu_count() or 1
        _pool = ThreadPoolExecutor(max_workers=min(8, share), thread_name_prefix="sfumato")
    return _pool


def _forget_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)  # a forked child has the pool but none of its threads
