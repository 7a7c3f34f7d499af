"""Many files in one run, with warm models: `sfumato stylize photos/ more/*.jpg -o out/ --style NAME`.

Inputs are files, folders (their images, sorted) and globs (expanded here too, for shells and
callers that pass them quoted). With more than one input, or a folder, `-o` is a folder (created if
missing) and each output is OUT/NAME.png (or the --format asked for); where OUT holds inputs (or
without -o) NAME_stylized.png / NAME_filled.png, and `--suffix` sets what follows NAME. No output may
replace a file the run reads (refused before the first file, unless --overwrite). Each file is read, processed
and written on its own: a bad file is one `error: FILE: ...` line and the batch goes on. Outputs are
written atomically (imageio.py), so `--skip-existing` resumes an interrupted batch exactly where it
stopped. Without --jobs, one process works on two files at once (threads, each file's network on its
share of the cores); `--jobs N` runs N processes, each with its own warm sessions and its share of the cores.
Exit code: 0 when every file succeeded, 1 when some failed (the summary names them), 2 when nothing
could run (no inputs, an unknown style or model: checked before the first file).
"""
from __future__ import annotations

import glob
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import threads
from ..errors import SfumatoError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
FORMATS = ("png", "jpg", "tif", "webp")


@dataclass(frozen=True)
class Task:
    source: Path
    output: Path
    mask: Path | None = None


def expand_inputs(items: list[Path]) -> list[Path]:
    """Files as given, folders as their image files (sorted), globs as the image files they match; each once."""
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif not item.exists() and glob.has_magic(str(item)):
            files += sorted(Path(p) for p in glob.glob(str(item))
                            if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(item)  # a missing file is reported as that file's error
    return list(dict.fromkeys(files))


def is_batch(items: list[Path], files: list[Path], output: Path | None) -> bool:
    return len(files) != 1 or any(i.is_dir() for i in items) or (output is not None and output.is_dir())


def plan(items: list[Path], output: Path | None, default_suffix: str, fmt: str | None,
         mask: Path | None = None, mask_dir: Path | None = None, suffix: str | None = None,
         overwrite: bool = False, also_read: tuple = ()) -> tuple[list[Task], bool]:
    """(tasks, batch?). One input: the output as given (default INPUT_SUFFIX.png). Several: OUT/NAME.EXT,
    with `suffix` after NAME (default: none in another folder, _SUFFIX where OUT holds an input, so the
    outputs sit beside the originals without replacing them). No output may land on a file the run
    reads (an input, its mask, `also_read`) unless `overwrite`."""
    files = expand_inputs(items)
    if not files:
        raise SfumatoError(f"no images found in {', '.join(map(str, items))} "
                           f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    if mask_dir is not None and not mask_dir.is_dir():
        raise SfumatoError(f"--mask-dir {mask_dir} is not a folder")
    batch = is_batch(items, files, output)
    if batch and output is not None and output.exists() and not output.is_dir():
        raise SfumatoError(f"-o {output} is a file, but {len(files)} inputs need a folder for their outputs; "
                           "give a folder (created if missing)")
    ext = f".{fmt}" if fmt else ".png"
    beside = f"_{default_suffix}" if suffix is None else suffix
    if batch and output is not None and suffix is None:
        into = _real(output)
        suffix = beside if any(_real(f.parent) == into for f in files) else ""
    tasks, seen = [], {}
    for f in files:
        if not batch:
            out = output or f.with_name(f"{f.stem}{beside}{ext}")
        else:
            out = (output / f"{f.stem}{suffix}{ext}") if output else f.with_name(f"{f.stem}{beside}{ext}")
        if out in seen:
            raise SfumatoError(f"{seen[out]} and {f} would both be written to {out}; rename one or use separate runs")
        seen[out] = f
        tasks.append(Task(f, out, _mask_for(f, mask, mask_dir)))
    if not overwrite:
        refuse_overwriting([t.output for t in tasks],
                           [p for t in tasks for p in (t.source, t.mask) if p is not None] + list(also_read), batch,
                           f"_{default_suffix}")
    return tasks, batch


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compared as written
        return path.absolute()


def _same_file(a: Path, b: Path) -> bool:
    if _real(a) == _real(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, or a case-insensitive file system
    except OSError:
        return False


def refuse_overwriting(outputs: list[Path], inputs: list[Path], batch: bool = True, hint: str = "_stylized") -> None:
    """One `error:` naming the first output that would replace a file the run reads, and the way out."""
    reads = list(dict.fromkeys(p for p in inputs if p is not None))
    for out in outputs:
        for src in reads:
            if _same_file(out, src):
                way = (f"another -o folder, or --suffix {hint}" if batch
                       else f"another -o name, e.g. {out.with_name(out.stem + hint + out.suffix)}")
                raise SfumatoError(f"{out} is one of this run's inputs and would be replaced; choose {way} "
                                   "(or --overwrite to replace it on purpose)")


def _mask_for(source: Path, mask: Path | None, mask_dir: Path | None) -> Path | None:
    if mask_dir is None:
        return mask
    for ext in (".png", ".tif", ".tiff", ".bmp", ".webp", ".jpg", ".jpeg"):
        candidate = mask_dir / f"{source.stem}{ext}"
        if candidate.exists():
            return candidate
    return mask_dir / f"{source.stem}.png"  # missing: reported as this file's error


def run(tasks: list[Task], process: Callable[..., str], jobs: int = 1, skip_existing: bool = False,
        batch: bool = True, ray: str | None = None, gpus_per_job: float = 0.0, in_flight: int = 1) -> int:
    """Process every task; returns the exit code (0 all written, 1 some failed). `ray`: run on Ray Data,
    "local" for a Ray started here or a cluster address (core/batch/ray_batch.py), with `jobs` actors.
    `process(task, job)` runs one file; `in_flight`: files this process works on at once
    (files_in_flight), each with a Job through which an interrupted batch cancels the files in progress."""
    todo = [t for t in tasks if not (skip_existing and t.output.exists())]
    skipped = len(tasks) - len(todo)
    if batch and todo and todo[0].output.parent != todo[0].source.parent:
        todo[0].output.parent.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[Task, str]] = []
    t0 = time.perf_counter()
    if not batch and ray is None:  # one file: the classic one-line report
        for task in todo:
            start = time.perf_counter()
            size = process(task)
            print(f"{task.source} -> {task.output} ({size}, {time.perf_counter() - start:.2f}s)")
        return 0
    from tqdm import tqdm
    bar = tqdm(total=len(todo), unit="file", file=sys.stderr, disable=None, dynamic_ncols=True)
    found = None
    try:
        if ray is not None:
            from . import ray_batch
            found = ray_batch.results(todo, _Attempt(process), jobs if jobs > 1 else 0,
                                      None if ray == "local" else ray, gpus_per_job)
        else:
            found = _results(todo, process, jobs, in_flight)
        for task, error in found:
            if error is not None:
                failed.append((task, error))
                bar.write(f"error: {task.source}: {error}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        if ray is None and found is not None:
            found.close()  # an interrupted batch: stop the files in progress now, not when this frame is freed
    done = len(todo) - len(failed)
    summary = (f"{len(tasks)} files: {done} written, {skipped} skipped (already there), {len(failed)} failed "
               f"in {time.perf_counter() - t0:.1f}s")
    if failed:
        names = ", ".join(str(t.source) for t, _ in failed[:10]) + (" ..." if len(failed) > 10 else "")
        summary += f": {names}"
    print(summary)
    return 1 if failed else 0


def _attempt(process: Callable[..., str], task: Task, job=None) -> tuple[Task, str | None]:
    try:
        process(task, job)  # job None: a default one nobody watches (--jobs workers, Ray actors)
        return task, None
    except SfumatoError as exc:
        return task, str(exc)
    except MemoryError:
        return task, "not enough memory for this image; run it on its own (a batch works on two files at once), or make it smaller"


# Files one process works on at once in a batch: two, each network on half the cores, gave more
# throughput than one file at a time on all of them, with the same bits: a file's own serial work
# (decoding, the PNG, the work around the network) no longer leaves a core idle. More would hold more
# images in memory for little more gain.
IN_FLIGHT = 2


def files_in_flight(batch: bool, jobs: int) -> int:
    """How many files this process works on at once: IN_FLIGHT for a local batch without --jobs, else 1.
    Each file's sessions get their share of the cores (core/threads.py, read when a session starts),
    so this is called before any model is loaded."""
    cores = os.cpu_count() or 1
    if not batch or jobs > 1 or cores < 2:
        return 1
    n = min(IN_FLIGHT, cores)
    threads.set_share(cores // n)
    return n


def _results(todo: list[Task], process, jobs: int, in_flight: int = 1):
    if jobs <= 1 and in_flight > 1 and len(todo) > 1:
        yield from _threaded(todo, process, in_flight)
        return
    if jobs <= 1 or len(todo) <= 1:
        for task in todo:
            yield _attempt(process, task)
        return
    import multiprocessing
    jobs = min(jobs, len(todo))
    cores = max(1, (os.cpu_count() or 1) // jobs)
    # spawn, not fork: onnxruntime's thread pools do not survive a fork; each process warms its own sessions
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(jobs, initializer=_init_process, initargs=(cores,)) as pool:
        yield from pool.imap(_Attempt(process), todo)


def _threaded(todo: list[Task], process, workers: int):
    """Results in the tasks' order, `workers` files at a time on threads (onnxruntime, the decoders and
    the PNG writer release the GIL), a few more queued so a slow file does not leave a thread idle.
    Closed early (Ctrl-C, an error), it cancels the files in progress (their network calls stop within
    milliseconds; a file already being written is finished, atomically) and waits for them."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    from ..runtime.job import Job
    pending: deque = deque()
    with ThreadPoolExecutor(workers) as pool:
        try:
            for task in todo:
                job = Job()
                pending.append((job, pool.submit(_attempt, process, task, job)))
                if len(pending) >= 2 * workers:
                    yield _oldest(pending)
            while pending:
                yield _oldest(pending)
        except BaseException:
            for job, future in pending:
                if not future.cancel():  # queued ones never start; running ones stop
                    job.cancel()
            raise


def _oldest(pending):
    """The oldest file's result, waited for in short steps: a signal (Ctrl-C) that another thread
    received is handled by the main thread only when it runs again, not while it sleeps in one long
    wait. The file leaves `pending` only once done, so an interrupt during the wait cancels it too."""
    from concurrent.futures import TimeoutError
    while True:
        try:
            result = pending[0][1].result(timeout=0.2)
            pending.popleft()
            return result
        except TimeoutError:
            continue


def _init_process(cores: int) -> None:
    threads.set_share(cores)  # this process's share, before it loads a model
    import signal
    # Ctrl-C reaches the whole process group: the main process stops the pool; a worker left to its
    # default would print a KeyboardInterrupt traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Attempt:
    """A picklable `_attempt(process, task)` for the process pool."""

    def __init__(self, process):
        self.process = process

    def __call__(self, task: Task):
        return _attempt(self.process, task)
