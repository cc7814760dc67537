"""First-run compilation of the codec kernels, announced and with progress.

numba compiles a kernel on its first call and caches the machine code on disk (``cache=True``);
on a fresh install that is tens of seconds of silence.  Each code path that calls kernels from
Python names its *job* (``ensure("lossless-decode")``); the first ``ensure`` of a job looks up, in
numba's cache index, every kernel of the job with the exact signature that path calls it with.
When some are missing it prints once ``snc: compiling codec kernels (first run only)...`` on
stderr and compiles them one by one with progress; when all are cached it prints nothing and
leaves the loading to the first call.  Only the kernels of the jobs a command runs are compiled:
decoding needs no encoder kernel.

The signatures are listed by hand below (``tests/kernels/test_warmup.py`` checks that they are exactly
what the codecs call), because a kernel's cache entry is keyed by its argument types.
"""

from __future__ import annotations

import sys
from importlib import import_module

#: one line on stderr before the first compile of a process
MESSAGE = "snc: compiling codec kernels (first run only)..."

_enabled = True
_announced = False
_done: set[str] = set()
#: job -> ((module, kernel name, argument types), ...); filled by :func:`_builtin_jobs` on first use
_JOBS: dict[str, tuple] = {}


def set_messages(enabled: bool) -> None:
    """Show (default) or hide the compile message and progress (e.g. for ``--quiet``)."""
    global _enabled
    _enabled = bool(enabled)


def register_job(name: str, kernels) -> None:
    """Declare a job: ``kernels`` is a sequence of ``(module, kernel name, argument-type tuple)``."""
    _JOBS[name] = tuple(kernels)
    _done.discard(name)


def _builtin_jobs() -> None:
    from numba.core import types as t

    def arr(dtype, ndim, *, readonly=False):
        return t.Array(dtype, ndim, "C", readonly=readonly)

    i64 = t.int64
    data, data_ro = arr(t.uint8, 1), arr(t.uint8, 1, readonly=True)
    pcm = arr(t.int32, 2)
    vec, vec_ro = arr(t.int64, 1), arr(t.int64, 1, readonly=True)
    lossless_decode = ("snc.kernels.lossless_decode", "decode_packet", (data, i64, pcm, i64))
    perceptual_decode = ("snc.kernels.perceptual_packet", "decode_packet", (data_ro, i64, i64, pcm))
    jobs = {
        "lossless-decode": (lossless_decode,),
        "lossless-encode": (
            ("snc.kernels.lossless_encode", "bound_bytes", (i64, i64, i64, i64)),
            ("snc.kernels.lossless_encode", "plan_packet", (pcm, i64, i64, i64)),
            ("snc.kernels.lossless_encode", "encode_planned",
             (pcm, i64, i64, arr(i64, 2), arr(i64, 2), arr(i64, 3), arr(i64, 2), vec, i64, vec, vec, t.boolean, data,
              vec)),
        ),
        "perceptual-decode": (perceptual_decode,),
        "master-eq": (("snc.kernels.master_eq", "eq_cascade", (vec, arr(t.int64, 2))),),
        "knot-fit": (("snc.kernels.knot_fit", "normal_equations", (arr(t.float64, 1), arr(t.float64, 1), i64, i64)),),
        "master-compressor": (("snc.kernels.master_dynamics", "compressor_gain", (vec, i64, i64, i64, i64, i64, vec,
                                                                                  vec)),),
        # the encoder analyses (psycho, transients), codes, then decodes what it coded (the residual)
        "perceptual-encode": (
            ("snc.codecs.perceptual.psy", "_region_energy", (arr(t.complex64, 3), vec_ro, arr(t.float64, 3))),
            ("snc.codecs.perceptual.psy", "_partition_stats",
             (arr(t.complex64, 3), vec_ro, i64, vec_ro, i64, vec, vec)),
            ("snc.codecs.perceptual.psy", "_expand",
             (arr(t.float64, 3), vec_ro, vec_ro, arr(t.float64, 1, readonly=True), arr(t.float64, 1), vec, vec,
              arr(t.float64, 3), vec_ro, arr(t.float64, 3))),
            ("snc.kernels.mdct", "_attacks", (arr(t.float64, 2), t.float64, t.float64)),
            ("snc.kernels.mdct", "_legal_nb", (vec,)),
            ("snc.kernels.perceptual_packet", "encode_packet",
             (vec, vec, arr(t.int64, 3), arr(t.int64, 3), arr(t.int32, 3), data)),
            perceptual_decode,
        ),
    }
    for name, kernels in jobs.items():
        _JOBS.setdefault(name, kernels)


def kernels_of(*jobs: str) -> list[tuple]:
    """``(dispatcher, signature)`` of every kernel of ``jobs``, each once, in job order."""
    if not _JOBS:
        _builtin_jobs()
    seen, out = set(), []
    for job in jobs:
        for module, name, sig in _JOBS[job]:
            if (module, name, sig) not in seen:
                seen.add((module, name, sig))
                out.append((getattr(import_module(module), name), sig))
    return out


def is_cached(dispatcher, sig) -> bool | None:
    """Whether ``dispatcher`` has ``sig`` compiled in this process or in numba's on-disk cache (the
    index numba itself consults, so a changed source or numba version counts as not cached); None
    when this numba's cache internals are not the ones known here."""
    if not hasattr(dispatcher, "overloads"):  # NUMBA_DISABLE_JIT: a plain Python function, nothing to compile
        return True
    if tuple(sig) in dispatcher.overloads:
        return True
    try:
        cache = dispatcher._cache
        key = cache._index_key(tuple(sig), dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except (AttributeError, TypeError):
        return None


def ensure(*jobs: str) -> None:
    """Compile the kernels of ``jobs`` that are in no cache yet, announcing it; cheap once done."""
    todo = [job for job in jobs if job not in _done]
    if not todo:
        return
    cold = [(d, sig) for d, sig in kernels_of(*todo) if not is_cached(d, sig)]
    if cold:
        _compile(cold, announce=_enabled and any(is_cached(d, sig) is False for d, sig in cold))
    _done.update(todo)


def _compile(kernels: list[tuple], *, announce: bool) -> None:
    global _announced
    if not announce:
        for dispatcher, sig in kernels:
            dispatcher.compile(sig)
        return
    if not _announced:
        print(MESSAGE, file=sys.stderr, flush=True)
        _announced = True
    n = len(kernels)
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=n, desc="snc: compiling", unit="kernel", file=sys.stderr, leave=False) as bar:
            for dispatcher, sig in kernels:
                bar.set_postfix_str(_name(dispatcher))
                dispatcher.compile(sig)
                bar.update()
    else:  # logs: one line per kernel, no carriage returns
        for i, (dispatcher, sig) in enumerate(kernels, 1):
            print(f"snc: compiling kernel {i} of {n} ({_name(dispatcher)})", file=sys.stderr, flush=True)
            dispatcher.compile(sig)


def _name(dispatcher) -> str:
    f = dispatcher.py_func
    return f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}"
