"""The master's compressor kernel (spec snc-format.md section 3.7, equation "COMP"): the numba gain equals the
spec's equation in Python integers (the golden vector's reference), on random input, at the clamps and in the
spec's example; the tables are the spec's."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from snc.codecs.gain import COMPRESSOR_FIELDS
from snc.kernels.master_dynamics import DETECTOR_LIMIT, EXP2_TABLE, LOG2_TABLE, compressor_gain, exp2q, log2q


def _make_vectors():
    spec = importlib.util.spec_from_file_location("make_vectors", Path(__file__).resolve().parents[2] / "tools"
                                                  / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MV = _make_vectors()


def kernel(x: np.ndarray, params) -> list[int]:
    level = np.abs(x.astype(np.int64)).sum(axis=1)
    return compressor_gain(level, *params, LOG2_TABLE, EXP2_TABLE).tolist()


def test_tables_are_the_specs():
    """Computed here with the decimal module at 40 digits, in the reference at 50, hashed as in spec 18.5."""
    lt, et = MV.spec_tables()
    assert LOG2_TABLE.tolist() == lt and EXP2_TABLE.tolist() == et
    assert hashlib.sha256(LOG2_TABLE.astype("<i8").tobytes()).hexdigest() == (
        "2cbe7fbe77586294c5848c1be3815dbea06642ba5054cde0d2e283e6d7fe2201")
    assert hashlib.sha256(EXP2_TABLE.astype("<i8").tobytes()).hexdigest() == (
        "0b7df3e93b350ba12155d01ad016b64a6a021a65c9fac5ae788a5efe7178dbfb")


def test_log2_and_exp2_equal_the_reference():
    lt, et = MV.spec_tables()
    rng = np.random.default_rng(3)
    xs = [1, 2, 3, 65535, 65536, 65537, (1 << 46) - 1, *rng.integers(1, 1 << 46, 300).tolist()]
    for x in xs:
        assert log2q(np.int64(x), LOG2_TABLE) == MV.spec_log2q(int(x), lt)
    for y in [0, 1, 63, 64, 65535, 65536, 30 << 16, (31 << 16) - 1, 31 << 16, *rng.integers(0, 40 << 16, 300).tolist()]:
        assert exp2q(np.int64(y), EXP2_TABLE) == MV.spec_exp2q(int(y), et)
    assert abs(log2q(np.int64(3 << 20), LOG2_TABLE) / 65536 - np.log2(3 << 20)) < 1e-4


def test_the_specs_example():
    """One stem sample 4096, threshold 10, ratio 2, no smoothing, hard knee: C = 2^29 (-6 dB)."""
    assert kernel(np.array([[4096]]), [10 << 16, 0, 1 << 15, 1 << 16, 1 << 16]) == [1 << 29]


@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_the_reference(seed):
    rng = np.random.default_rng(seed)
    frames, channels = 700, int(rng.integers(1, 4))
    envelope = np.repeat(rng.uniform(0, 1, (frames // 100 + 1, 1)), 100, axis=0)[:frames]
    x = np.round(rng.normal(0, 1, (frames, channels)) * envelope * 10.0 ** rng.uniform(1, 5)).astype(np.int64)
    params = [int(rng.integers(lo, hi + 1)) for _, lo, hi in COMPRESSOR_FIELDS]
    params[0] = int(rng.uniform(4, 18) * 65536)  # a threshold within the signal's levels
    if seed % 3 == 0:
        params[1] = 0  # a hard knee
    assert kernel(x, params) == MV.spec_compressor(x, params)


def test_clamps_and_extremes():
    """The detector's clamp, the largest parameters and silence."""
    x = np.array([[DETECTOR_LIMIT, DETECTOR_LIMIT], [0, 0], [-(1 << 30), 1 << 30], [5, -5]] * 50, dtype=np.int64)
    for params in ([0, 16 << 16, 1 << 16, 1, 1], [40 << 16, 0, 0, 1 << 16, 1 << 16], [0, 0, 1 << 16, 1 << 16, 1]):
        assert kernel(x, params) == MV.spec_compressor(x, params)
    silent = kernel(np.zeros((10, 2), dtype=np.int64), [0, 0, 1 << 16, 1 << 16, 1 << 16])
    assert silent == [1 << 30] * 10  # no level, no reduction
