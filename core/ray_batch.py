"""`--ray`: a batch run on Ray Data, on this machine or a cluster (`pip install "sfumato[ray]"`).

The file list is a dataset; a `map_batches` stage runs on a pool of actors, each holding warm
onnxruntime sessions (its share of a node's cores, or a fraction of a GPU with --device cuda), and
each actor reads, processes and writes its files itself: only paths and error lines travel. On a
cluster the inputs and the output folder must be on a filesystem every node mounts at the same path.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterator

import numpy as np


class _FileActor:
    """One actor of the pool: the per-file function with its warm sessions. It is given the whole
    task list once; the dataset's rows carry only indices into it."""

    def __init__(self, attempt: Callable, todo: list, threads: int):
        os.environ["SFUMATO_THREADS"] = str(threads)  # read by core.registry when it starts a session
        self.attempt, self.todo = attempt, todo

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = [self.attempt(self.todo[int(i)])[1] or "" for i in batch["index"]]
        return {"index": batch["index"], "error": np.array(errors, dtype=object)}


def results(todo: list, attempt: Callable, actors: int, address: str | None,
            gpus_per_actor: float = 0.0) -> Iterator[tuple[object, str | None]]:
    """(task, error or None) for every task of `todo`, as the actors finish them (in any order).
    `attempt(task)` -> (task, error or None) is core/batch.py's: it runs one file and turns its
    failure into a line (this module sits below batch.py and does not import it)."""
    try:
        import ray
        import ray.data
    except ImportError:
        from .errors import SfumatoError
        raise SfumatoError('--ray needs Ray: pip install "sfumato[ray]"') from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
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
    finally:
        if started_here:
            ray.shutdown()
