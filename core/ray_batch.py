"""`--ray`: a batch run on Ray Data, on this machine or a cluster (`pip install "sfumato[ray]"`).

The file list is a dataset; a `map_batches` stage runs on a pool of actors, each holding warm
onnxruntime sessions (its share of a node's cores, or a fraction of a GPU with --device cuda), and
each actor reads, processes and writes its files itself: only paths and error lines travel. On a
cluster the inputs and the output folder must be on a filesystem every node mounts at the same path.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .batch import Task, _attempt


class _FileActor:
    """One actor of the pool: the per-file function with its warm sessions."""

    def __init__(self, process: Callable[[Task], str], threads: int):
        os.environ["SFUMATO_THREADS"] = str(threads)  # read by core.registry when it starts a session
        self.process = process

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        errors = []
        for source, output, mask in zip(batch["source"], batch["output"], batch["mask"]):
            task = Task(Path(source), Path(output), Path(mask) if mask else None)
            errors.append(_attempt(self.process, task)[1] or "")
        return {"index": batch["index"], "error": np.array(errors, dtype=object)}


def results(todo: list[Task], process: Callable[[Task], str], actors: int, address: str | None,
            gpus_per_actor: float = 0.0) -> Iterator[tuple[Task, str | None]]:
    """(task, error or None) for every task, as the actors finish them (in any order)."""
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
        rows = [{"index": i, "source": str(t.source), "output": str(t.output), "mask": str(t.mask or "")}
                for i, t in enumerate(todo)]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
        done = dataset.map_batches(_FileActor, fn_constructor_args=(process, threads), batch_size=1,
                                   compute=ray.data.ActorPoolStrategy(size=min(actors, len(rows))),
                                   num_cpus=min(threads, cpus),
                                   num_gpus=gpus_per_actor or None)
        for row in done.iter_rows():
            yield todo[int(row["index"])], (row["error"] or None)
    finally:
        if started_here:
            ray.shutdown()
