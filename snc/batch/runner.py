"""Encoding many songs: :func:`encode_many` fans jobs out to an executor and yields each result as it completes.

The executor is anything with ``concurrent.futures``' ``submit`` (a process pool, a Dask ``Client``'s
executor); by default a local process pool of one worker per CPU, each capped to one numba/BLAS thread so that
N workers do not oversubscribe N cores.  The numba kernels are compiled (or their cache loaded) in this
process before any job starts: workers that found the cache cold would each compile and write it at once
(numba #10128).  A failing song is a result, not an exception: the batch goes on.  With a journal, songs done
before are skipped, and each finished song is recorded before it is yielded.
"""

from __future__ import annotations

import glob
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SncError
from ..fileutil import TEMP_SUFFIX, temp_prefix
from .jobs import EncodeJob
from .journal import Journal

#: the environment that caps a worker's threads (read by numba, OpenMP, OpenBLAS and MKL when they load)
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class BatchResult:
    """What became of one job: ``status`` is ``"done"``, ``"skipped"`` (done before, unchanged) or
    ``"failed"`` (``error`` says why, in one line)."""

    job: EncodeJob
    status: str
    error: str | None = None
    seconds: float = 0.0
    audio_seconds: float = 0.0
    file_bytes: int = 0
    streams: list = field(default_factory=list)
    verified: bool | None = None


def cap_threads(threads: int = 1) -> None:
    """A worker's initializer: at most ``threads`` threads per numerical library."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def warm_kernels() -> None:
    """Compile every codec kernel here (or load it from numba's cache) before workers start."""
    from ..kernels import warmup

    warmup.ensure("lossless-encode", "lossless-decode", "perceptual-encode", "perceptual-decode", "master-eq",
                   "master-compressor", "knot-fit")


def encode_job(job: EncodeJob, overwrite: bool) -> dict:
    """Run one job (in a worker): the encode report as plain data, or ``{"error": one line}``."""
    from ..encode import encode

    t0 = time.perf_counter()
    try:
        os.makedirs(os.path.dirname(job.output), exist_ok=True)  # the output tree mirrors the input tree
        report = encode(job.mix, job.output, stems=job.stems or None, overwrite=overwrite, **job.options)
    except SncError as exc:
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    except OSError as exc:
        return {"error": f"{exc.filename or job.output}: {exc.strerror or exc}"}
    except Exception as exc:  # noqa: BLE001 -- one bad song must not stop the batch; the line says what failed
        return {"error": f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]}
    return {"seconds": time.perf_counter() - t0, "audio_seconds": report.frames / report.sample_rate,
            "file_bytes": report.file_bytes, "verified": report.verified,
            "streams": [{"name": s["name"], "role": s["role"], "bytes": s["bytes"]} for s in report.streams]}


def default_executor(workers: int | None = None) -> Executor:
    """A local process pool: ``workers`` (default: the CPUs this process may use) single-threaded workers."""
    import multiprocessing

    count = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=cap_threads)


def plan(jobs: Iterable[EncodeJob], journal: Journal | None, force: bool = False) -> list[tuple]:
    """``(job, inputs, action)`` per job, ``action`` one of ``"encode"``, ``"skip"`` (done before, unchanged),
    ``"replace"`` (redo over our own earlier output) or ``"refuse"`` (an output that is not ours exists and
    ``force`` is off)."""
    out = []
    for job in jobs:
        inputs = journal.fingerprint(job) if journal is not None else []
        if journal is not None and not force and journal.is_done(job, inputs):
            action = "skip"
        elif os.path.exists(job.output):
            action = "replace" if force or (journal is not None and journal.owns(job)) else "refuse"
        else:
            action = "encode"
        out.append((job, inputs, action))
    return out


def encode_many(jobs: Iterable[EncodeJob], *, executor: Executor | None = None, journal: Journal | None = None,
                force: bool = False, workers: int | None = None,
                on_start: Callable[[EncodeJob], None] | None = None) -> Iterator[BatchResult]:
    """Encode ``jobs``, yielding a :class:`BatchResult` per job as it completes (skipped ones first).

    ``executor``: any ``concurrent.futures``-style executor (default: :func:`default_executor` of ``workers``);
    ``journal``: a :class:`~snc.batch.journal.Journal` (None: nothing skipped, nothing recorded);
    ``force``: redo songs done before and replace outputs that exist; ``on_start(job)``: called when a job
    takes a free worker (the executor runs jobs in the order they are given, each worker one at a time)."""
    planned = plan(jobs, journal, force)
    todo = []
    for job, inputs, action in planned:
        if action == "skip":
            yield BatchResult(job, "skipped")
        elif action == "refuse":
            yield _finish(journal, job, inputs, {"error": f"InputError: {job.output} exists (use -f to replace it)"})
        else:
            todo.append((job, inputs, action == "replace"))
    if not todo:
        return
    warm_kernels()
    own = executor is None
    executor = executor or default_executor(workers)
    try:
        futures = {}
        for job, inputs, overwrite in todo:
            if journal is not None:
                journal.record(job, inputs, status="started")
            remove_temporaries(job.output)
            futures[executor.submit(encode_job, job, overwrite)] = (job, inputs)
        queue = iter(job for job, _, _ in todo)
        for job in itertools.islice(queue, executor_slots(executor) or len(todo)):
            if on_start is not None:
                on_start(job)
        for future in as_completed(futures):
            job, inputs = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 -- a worker that died (killed, out of memory) fails its song
                outcome = {"error": f"worker failed: {type(exc).__name__}: {exc}".splitlines()[0]}
            yield _finish(journal, job, inputs, outcome)
            following = next(queue, None)  # has taken the worker this song freed
            if on_start is not None and following is not None:
                on_start(following)
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)


def executor_slots(executor: Executor) -> int | None:
    """How many jobs ``executor`` runs at once, where it says: a pool's workers, a Dask client's threads."""
    if isinstance(getattr(executor, "_max_workers", None), int):  # concurrent.futures' pools
        return executor._max_workers
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    if client is not None and hasattr(client, "nthreads"):
        return sum(client.nthreads().values()) or None
    return None


def remove_temporaries(output: str) -> None:
    """Delete what a killed writer of ``output`` left: its temporary files beside it
    (:func:`snc.fileutil.temp_beside`), never the output itself."""
    target = Path(output)
    if target.parent.is_dir():
        for path in target.parent.glob(f"{glob.escape(temp_prefix(target))}*{TEMP_SUFFIX}"):
            path.unlink(missing_ok=True)


def _finish(journal: Journal | None, job: EncodeJob, inputs: list, outcome: dict) -> BatchResult:
    status = "failed" if "error" in outcome else "done"
    result = BatchResult(job, status, error=outcome.get("error"), seconds=outcome.get("seconds", 0.0),
                         audio_seconds=outcome.get("audio_seconds", 0.0), file_bytes=outcome.get("file_bytes", 0),
                         streams=outcome.get("streams", []), verified=outcome.get("verified"))
    if journal is not None:
        journal.record(job, inputs, status=status, error=result.error, bytes=result.file_bytes,
                       streams=result.streams, verified=result.verified, seconds=round(result.seconds, 3),
                       audio_seconds=result.audio_seconds)
    return result
