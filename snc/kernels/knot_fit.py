"""The normal equations of the master's knots: one pass over a channel, for :mod:`snc.encode.knots`.

``m ~ g * d`` with ``g`` linear between knots every ``2^knot_shift`` frames: frame ``t`` touches knots ``j = t >>
knot_shift`` and ``j + 1`` with weights ``a = (1 - f) d``, ``b = f d`` (``f`` the frame's fraction of the way),
so the normal equations are tridiagonal.  NumPy builds them with five ``bincount`` passes and their temporary
arrays; this loop makes one pass, and the encoder's compressor fit solves them hundreds of times.  Each sum
accumulates in frame order as ``bincount`` does, so the result is identical to the NumPy reference
(``_normal_equations_numpy`` in tests/kernels/test_knot_fit.py).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def normal_equations(m, d, knot_shift, count):
    """``(diagonal, upper diagonal, right-hand side)`` of the knots' least squares (float64, ``count`` knots)."""
    first = np.zeros(count)  # sum of a^2 at knot j
    second = np.zeros(count)  # sum of b^2 at knot j + 1
    upper = np.zeros(count)
    rhs_a = np.zeros(count)
    rhs_b = np.zeros(count)
    mask = (np.int64(1) << knot_shift) - 1
    spacing = float(np.int64(1) << knot_shift)
    for t in range(m.shape[0]):
        j = t >> knot_shift
        f = (t & mask) / spacing
        a = (1.0 - f) * d[t]
        b = f * d[t]
        first[j] += a * a
        second[j + 1] += b * b
        upper[j] += a * b
        rhs_a[j] += a * m[t]
        rhs_b[j + 1] += b * m[t]
    return first + second, upper[:-1], rhs_a + rhs_b
