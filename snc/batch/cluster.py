"""A batch on a Dask cluster: ``snc-encode ... --dask-scheduler ADDRESS`` (an existing cluster) or
``--dask-local N`` (a ``LocalCluster`` of N single-threaded worker processes on this machine).

Dask is an extra (``pip install 'snc[cluster]'``).  The songs go to the workers through the client's
``concurrent.futures`` executor (:func:`snc.batch.encode_many` takes any such executor), one song per task.
Inputs and outputs are plain paths: every worker must reach them under the same names, so a cluster of
several machines needs a shared filesystem (NFS, SMB, a cluster filesystem); object-store URLs are not
supported.  Before any song runs, each worker loads (or compiles) the codec kernels, one worker at a time:
workers that found numba's cache cold would all compile and write it at once (numba #10128).
"""

from __future__ import annotations

import contextlib

from ..errors import NotAvailableError


def _distributed():
    try:
        import distributed
    except ImportError:
        raise NotAvailableError("a Dask cluster needs the cluster extra: pip install 'snc[cluster]'") from None
    return distributed


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, local_workers: int | None = None):
    """``with dask_executor(...) as executor:`` a Dask client's executor, on the cluster at ``scheduler`` or on
    a ``LocalCluster`` of ``local_workers`` processes (started here, stopped on the way out)."""
    distributed = _distributed()
    from .runner import cap_threads, warm_kernels

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout="20s"))
            except OSError as exc:
                raise NotAvailableError(f"--dask-scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            # Dask starts workers with glibc's MALLOC_TRIM_THRESHOLD_ at 64 KiB, to return memory early; the
            # encoder frees MB-sized arrays every segment, and trimming on each free doubles its time (and
            # multiplies the system time by ten, bench/scale.py's notes in docs/scaling.md): not for these workers
            import dask

            stack.enter_context(dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}))
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=local_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                host="127.0.0.1"))
            client = stack.enter_context(distributed.Client(cluster))
        warm_kernels()  # this machine's cache, which local workers share
        for worker in sorted(client.scheduler_info()["workers"]):
            client.run(cap_threads, workers=[worker])
            client.run(warm_kernels, workers=[worker])
        yield client.get_executor()
