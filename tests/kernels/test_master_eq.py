"""The master's EQ kernel (spec snc-format.md section 3.7): the numba cascade equals the spec's equation in
Python integers (the golden vector's reference), on random input and at the clamps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from snc.kernels.master_eq import EQ_FRACTION, EQ_LIMIT, EQ_SHIFT, MAX_EQ_COEF, eq_cascade


def reference_cascade(x, sections) -> list[int]:
    """tools/make_vectors.py's ``spec_eq``: spec section 3.7, equation "EQ", word for word in Python integers,
    the reference the golden EQ vector's hashes were computed with."""
    spec = importlib.util.spec_from_file_location("make_vectors", Path(__file__).resolve().parents[2] / "tools"
                                                  / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.spec_eq(x, [[int(c) for c in row] for row in sections])


def _random_sections(rng, n: int) -> np.ndarray:
    """``n`` stable biquads in Q24: poles inside the unit circle, zeros anywhere within the coefficient range."""
    rows = []
    for _ in range(n):
        r, th = rng.uniform(0.0, 0.999), rng.uniform(0.0, np.pi)
        b = rng.uniform(-2.0, 2.0, 3)
        rows.append([*b, -2 * r * np.cos(th), r * r])
    return np.round(np.array(rows) * (1 << EQ_SHIFT)).astype(np.int64)


@pytest.mark.parametrize("seed,sections,bits", [(0, 1, 16), (1, 3, 16), (2, 4, 24), (3, 2, 24)])
def test_kernel_equals_the_reference(seed, sections, bits):
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), 3000).astype(np.int32)
    rows = _random_sections(rng, sections)
    assert eq_cascade(x, rows).tolist() == reference_cascade(x, rows)


def test_the_clamps_bound_any_coefficients():
    """The largest coefficients on full-scale 32-bit input: no overflow, the same saturated values."""
    x = np.array([2**31 - 1, -(2**31)] * 50, dtype=np.int32)
    rows = np.array([[MAX_EQ_COEF, -MAX_EQ_COEF, MAX_EQ_COEF, -MAX_EQ_COEF, MAX_EQ_COEF]] * 2, dtype=np.int64)
    got = eq_cascade(x, rows)
    assert got.tolist() == reference_cascade(x, rows)
    assert np.abs(got).max() == EQ_LIMIT


def test_unity_sections_give_the_input_with_its_fraction_bits():
    x = np.arange(-500, 500, dtype=np.int32)
    unity = np.array([[1 << EQ_SHIFT, 0, 0, 0, 0]], dtype=np.int64)
    assert np.array_equal(eq_cascade(x, unity), x.astype(np.int64) << EQ_FRACTION)
