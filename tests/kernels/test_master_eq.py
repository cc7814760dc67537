"""The master's EQ kernel (spec snc-format.md section 3.7): the numba cascade equals the spec's equation in
Python integers, on random input and at the clamps."""

from __future__ import annotations

import numpy as np
import pytest

from snc.kernels.master_eq import EQ_FRACTION, EQ_LIMIT, EQ_SHIFT, MAX_EQ_COEF, eq_cascade


def reference_cascade(x, sections) -> list[int]:
    """Spec section 3.7, equation "EQ", word for word in Python integers (``>>`` floors, as the spec's shift)."""
    def clamp(v):
        return min(max(v, -EQ_LIMIT), EQ_LIMIT)

    u = [clamp(int(v) << EQ_FRACTION) for v in x]
    for b0, b1, b2, a1, a2 in (tuple(int(c) for c in row) for row in sections):
        v, u1, u2, v1, v2 = [], 0, 0, 0, 0
        for u0 in u:
            out = clamp((b0 * u0 + b1 * u1 + b2 * u2 - a1 * v1 - a2 * v2 + (1 << (EQ_SHIFT - 1))) >> EQ_SHIFT)
            v.append(out)
            u2, u1, v2, v1 = u1, u0, v1, out
        u = v
    return u


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
