"""Files that are complete or absent: written to a temporary name beside the target, then renamed
over it, so a crash, a full disk or Ctrl-C never leaves half a file where a good one was. The one
place this pattern lives: image and video outputs (core/imageio.py, core/batch/video.py), the model
manifest, the server's token, the optimised-graph cache (core/runtime/sessions.py), the plug-in's config."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: str | os.PathLike, mode: int | None = None, suffix: str = ".part",
              create: bool = True) -> Iterator[Path]:
    """A temporary path beside `path` to write (a short name, so a long but legal `path` never makes
    a name too long); renamed over `path` when the block ends normally, removed when it raises.
    `mode`: the file's permissions (default: the usual ones, 0666 less umask). `suffix`: the
    temporary name's ending, for writers that choose the format by it (a video's container).
    `create=False`, for a writer that makes the file itself (onnxruntime's optimised graph) in a
    process that may end abruptly: the name is left free until the writer makes it, and `path` is
    replaced only if it did."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".sfumato-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    if not create:
        tmp.unlink()  # a unique name, free for the writer
    try:
        yield tmp
        if create or tmp.exists():
            os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str, mode: int | None = None) -> None:
    with replacing(path, mode) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data, mode: int | None = None) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n", mode)


def ensure_cache_home() -> None:
    """onnxruntime keeps an id in $XDG_CACHE_HOME (else ~/.cache) when it loads, and prints a warning
    on every run where it cannot: where neither is writable (a service account, HOME=/), this process
    points XDG_CACHE_HOME at a private temporary folder instead. Called before onnxruntime loads."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    probe = cache
    while probe and not os.path.exists(probe):  # the nearest folder that exists must take a new one
        parent = os.path.dirname(probe)
        probe = parent if parent != probe else ""
    if probe and os.path.isdir(probe) and os.access(probe, os.W_OK | os.X_OK):
        return
    private = os.path.join(tempfile.gettempdir(), f"sfumato-cache-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(private, mode=0o700, exist_ok=True)
    except OSError:
        return
    os.environ["XDG_CACHE_HOME"] = private
