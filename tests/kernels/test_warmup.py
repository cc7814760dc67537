"""First-run compilation: the announced warm-up of the codec kernels and the fewer specialisations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba.core import types

import snc
from snc.kernels import warmup
from snc.kernels._jit import kernel
from snc.kernels.arrays import copy

REPO = Path(snc.__file__).resolve().parents[1]


def _python(code: str, *, cache_dir: Path | None = None, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    paths = [str(REPO)] + ([str(extra_path)] if extra_path else []) + [os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          check=True)


# -- one compiled version per argument type ---------------------------------------------------------


# not cached on disk: the callee's versions are only seen when the caller is compiled in this process
@kernel(cache=False)
def _add(a, n):
    return a + n


@kernel(cache=False)
def _add_constants(a):
    return _add(a, 3) + _add(a, 5)


def test_constants_from_another_kernel_compile_one_version():
    assert _add_constants(1) == 10
    assert _add.signatures == [(types.int64, types.int64)]  # plain njit: (int64, Literal[int](3)), (.., 5)


@pytest.mark.parametrize("dst_start, src_start, n", [(0, 0, 5), (2, 0, 3), (0, 4, 4), (0, 2, 6)])
def test_copy_matches_slice_assignment(dst_start, src_start, n):
    src = np.arange(10, dtype=np.int64) * 7 - 20
    want, got = np.zeros(12), np.zeros(12)
    want[dst_start:dst_start + n] = src[src_start:src_start + n]
    copy(got, dst_start, src, src_start, n)
    assert np.array_equal(got, want)
    # in place, source after destination (the ring buffer shift of the adaptive filters)
    ring_want, ring_got = src.copy(), src.copy()
    ring_want[:n] = ring_want[src_start + 1:src_start + 1 + n].copy()
    copy(ring_got, 0, ring_got, src_start + 1, n)
    assert np.array_equal(ring_got, ring_want)


# -- the warm-up --------------------------------------------------------------------------------------


def test_is_cached_knows_this_numba():
    """The cache probe reads numba's own index; a numba upgrade that changes it must fail here, not go quiet."""
    dispatcher, sig = warmup.kernels_of("lossless-decode")[0]
    dispatcher.compile(sig)
    assert warmup.is_cached(dispatcher, sig) is True
    other = (types.Array(types.uint8, 1, "C"), types.int64, types.Array(types.int16, 2, "C"), types.int64)
    assert warmup.is_cached(dispatcher, other) is False


_TOY_MODULE = '''
from snc.kernels._jit import kernel

@kernel
def toy(x):
    return x * 2 + 1
'''

_TOY_RUN = '''
import sys
from numba.core import types
from snc.kernels import warmup
warmup.register_job("toy", [("toy_kernels", "toy", (types.int64,))])
if "--quiet" in sys.argv:
    warmup.set_messages(False)
warmup.ensure("toy")
warmup.ensure("toy")
import toy_kernels
assert toy_kernels.toy(20) == 41
print(warmup.is_cached(toy_kernels.toy, (types.int64,)))
'''


@pytest.mark.slow
def test_first_run_announces_compiling_once_and_second_run_is_silent(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "toy_kernels.py").write_text(_TOY_MODULE)
    cache = tmp_path / "cache"
    first = _python(_TOY_RUN, cache_dir=cache, extra_path=tmp_path / "mod")
    lines = first.stderr.splitlines()
    assert lines == [warmup.MESSAGE, "snc: compiling kernel 1 of 1 (toy_kernels.toy)"]
    second = _python(_TOY_RUN, cache_dir=cache, extra_path=tmp_path / "mod")
    assert second.stderr == ""
    assert second.stdout.strip() == "True"


@pytest.mark.slow
def test_quiet_compiles_without_a_word(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "toy_kernels.py").write_text(_TOY_MODULE)
    quiet = _python(_TOY_RUN.replace('"--quiet" in sys.argv', "True"), cache_dir=tmp_path / "cache",
                    extra_path=tmp_path / "mod")
    assert quiet.stderr == ""
    assert quiet.stdout.strip() == "True"


_RUN_JOBS = '''
import json, tempfile, os
import numpy as np
import snc
from snc.kernels import warmup

warmup.ensure = lambda *jobs: None  # the codecs' own calls must produce the declared signatures
rng = np.random.default_rng(1)
stems = {n: rng.integers(-3000, 3000, (6000, 2)).astype(np.int32) for n in ("drums", "bass")}
mix = stems["drums"] + stems["bass"]
with tempfile.TemporaryDirectory() as tmp:
    for preset in ("archival", "transparent"):
        path = os.path.join(tmp, preset + ".snc")
        snc.encode(mix, path, stems=stems, samplerate=44100, bits=16, preset=preset)
        with snc.open(path) as f:
            f.read()
            f.read(stem="drums")
from snc.codecs.gain import GainCodec  # a master with an EQ plays its stems through the EQ's kernel
GainCodec(channels=2, eq=[[[1 << 24, 0, 0, 0, 0]]] * 2).play(np.full((100, 2), 1 << 14, np.int32), mix[:100])
# a master with a compressor computes its gain from the stems' sum
GainCodec(channels=2, compressor=[10 << 16, 0, 1 << 15, 300, 30]).segment_gain(np.full((100, 2), 1 << 14, np.int32),
                                                                             [mix[:100]])
used = {}
for job in ("lossless-decode", "lossless-encode", "perceptual-decode", "perceptual-encode", "master-eq",
            "master-compressor", "knot-fit"):
    for dispatcher, sig in warmup.kernels_of(job):
        used[f"{dispatcher.py_func.__module__}.{dispatcher.__name__}"] = sorted(map(str, dispatcher.signatures))
print(json.dumps(used))
'''


@pytest.mark.slow
def test_declared_signatures_are_the_ones_the_codecs_call():
    """Each job's list is exactly what encoding and decoding call (else the warm-up would compile a version
    nobody uses and the real one silently at its first call)."""
    used = json.loads(_python(_RUN_JOBS).stdout.strip().splitlines()[-1])
    declared: dict[str, set] = {}
    for job in ("lossless-decode", "lossless-encode", "perceptual-decode", "perceptual-encode", "master-eq",
                "master-compressor", "knot-fit"):
        for dispatcher, sig in warmup.kernels_of(job):
            declared.setdefault(f"{dispatcher.py_func.__module__}.{dispatcher.__name__}", set()).add(str(sig))
    assert {name: set(sigs) for name, sigs in used.items()} == declared


def test_decoding_needs_no_encoder_kernel():
    names = {d.py_func.__module__ for job in ("lossless-decode", "perceptual-decode")
             for d, _ in warmup.kernels_of(job)}
    assert names == {"snc.kernels.lossless_decode", "snc.kernels.perceptual_packet"}
    assert all(d.py_func.__name__ == "decode_packet" for job in ("lossless-decode", "perceptual-decode")
               for d, _ in warmup.kernels_of(job))
