"""The knots' normal equations (snc.kernels.knot_fit) equal their NumPy statement, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from snc.codecs.gain import knot_count
from snc.kernels.knot_fit import normal_equations


def _normal_equations_numpy(m, d, knot_shift, count):
    """The reference: five bincounts over the frames (the encoder's code before the kernel)."""
    t = np.arange(len(m))
    j = t >> knot_shift
    f = (t & ((1 << knot_shift) - 1)) / float(1 << knot_shift)
    a, b = (1.0 - f) * d, f * d
    diag = np.bincount(j, a * a, count) + np.bincount(j + 1, b * b, count)
    upper = np.bincount(j, a * b, count)[:-1]
    rhs = np.bincount(j, a * m, count) + np.bincount(j + 1, b * m, count)
    return diag, upper, rhs


@pytest.mark.parametrize("frames,knot_shift", [(1, 4), (16, 4), (1000, 5), (4097, 7), (9000, 12)])
def test_kernel_equals_numpy(frames, knot_shift):
    rng = np.random.default_rng(frames)
    d = rng.normal(0, 3000, frames)
    m = d * rng.uniform(0.5, 2.0) + rng.normal(0, 5, frames)
    count = knot_count(frames, knot_shift)
    for got, want in zip(normal_equations(m, d, knot_shift, count), _normal_equations_numpy(m, d, knot_shift, count)):
        np.testing.assert_array_equal(got, want)


def test_rest_energy_is_the_residual_of_the_knots():
    """knots.rest_energy (from the normal equations alone) equals the residual the knots leave."""
    from importlib import import_module

    knots = import_module("snc.encode.knots")  # snc.encode is also a function
    rng = np.random.default_rng(1)
    d = rng.normal(0, 1000, 5000)
    m = d * (1 + 0.1 * np.sin(np.arange(5000) / 300)) + rng.normal(0, 3, 5000)
    k = knots.knot_values(m, d, 6)
    t = np.arange(5000)
    j, f = t >> 6, (t & 63) / 64
    want = float(((m - (k[j] * (1 - f) + k[j + 1] * f) * d) ** 2).sum())
    assert knots.rest_energy(m, d, 6) == pytest.approx(want, rel=1e-9)
