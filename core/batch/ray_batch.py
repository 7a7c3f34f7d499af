"""`--ray`: a batch run on Ray Data, on this machine or a cluster (`pip install "sfumato[ray]"`).

The file list is a dataset; a `map_batches` stage runs on a pool of actors, each holding warm
onnxruntime sessions (its share of a node's cores, or a fraction of a GPU with --device cuda), and
each actor reads, processes and writes its files itself: only paths and error lines travel. On a
cluster the inputs and the output folder must be on a filesystem every node mounts at the same path.

A video's frames (stylize_frames) go the other way: the driver decodes and encodes, chunks of frames
travel to the actors and back, at most two chunks per actor at a time (bounded memory), in order.
"""
from __future__ import annotations

import logging
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from ..errors import SfumatoError
from ..styling.pipeline import stylize
from ..styling.tiling import SharedStats
from ..threads import set_share


class _FileActor:
    """One actor of the pool: the per-file function with its warm sessions. It is given the whole
    task list once; the dataset's rows carry only indices into it."""

    def __init__(self, attempt: Callable, todo: list, threads: int):
        set_share(threads)  # this actor's share of the node's cores, before it loads a model
        self.attempt, self.todo = attempt, todo

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = [self.attempt(self.todo[int(i)])[1] or "" for i in batch["index"]]
        return {"index": batch["index"], "error": np.array(errors, dtype=object)}


def results(todo: list, attempt: Callable, actors: int, address: str | None,
            gpus_per_actor: float = 0.0) -> Iterator[tuple[object, str | None]]:
    """(task, error or None) for every task of `todo`, as the actors finish them (in any order).
    `attempt(task)` -> (task, error or None) is core/batch/runner.py's: it runs one file and turns its
    failure into a line (runner.py imports this module, so this one does not import it)."""
    with _ray(address) as ray:
        try:
            import ray.data
        except ImportError:
            raise SfumatoError('--ray needs Ray Data: pip install "sfumato[ray]"') from None
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI's own bar counts files, and says what failed
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = actors or max(1, cpus)
        threads = max(1, cpus // actors)
        rows = [{"index": i} for i in range(len(todo))]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
        done = dataset.map_batches(_FileActor, fn_constructor_args=(attempt, todo, threads), batch_size=1,
                                   compute=ray.data.ActorPoolStrategy(size=min(actors, len(rows))),
                                   num_cpus=min(threads, cpus),
                                   num_gpus=gpus_per_actor or None)
        for row in done.iter_rows():
            yield todo[int(row["index"])], (row["error"] or None)


@contextmanager
def _ray(address: str | None):
    """Ray, started here (and shut down after) unless this process is already connected."""
    try:
        import ray
    except ImportError:
        raise SfumatoError('--ray needs Ray: pip install "sfumato[ray]"') from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


class _FrameActor:
    """Stylizes chunks of a clip's frames with the clip's statistics, held fixed."""

    def __init__(self, options, statistics: np.ndarray, threads: int):
        set_share(threads)
        self.options, self.shared = options, SharedStats(smoothing=0.0)
        self.shared.value = statistics

    def run(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return [stylize(f, self.options, shared=self.shared) for f in frames]


def stylize_frames(frames: Iterator[np.ndarray], options, statistics: np.ndarray, actors: int, address: str | None,
                   gpus_per_actor: float = 0.0, chunk: int = 8) -> Iterator[np.ndarray]:
    """The stylized frames, in order, stylized on a pool of actors `chunk` frames at a time."""
    with _ray(address) as ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = actors or max(1, cpus)
        threads = max(1, cpus // actors)
        actor = ray.remote(num_cpus=cpus / actors, num_gpus=gpus_per_actor or 0)(_FrameActor)
        pool = [actor.remote(options, statistics, threads) for _ in range(actors)]
        pending, sent = deque(), 0  # chunks go round the actors in turn, and come back in that order
        batch: list[np.ndarray] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == chunk:
                pending.append(pool[sent % actors].run.remote(batch))
                sent, batch = sent + 1, []
                if len(pending) >= 2 * actors:
                    yield from ray.get(pending.popleft())
        if batch:
            pending.append(pool[sent % actors].run.remote(batch))
        while pending:
            yield from ray.get(pending.popleft())
