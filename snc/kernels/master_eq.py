"""The master's EQ: a cascade of biquads in fixed point, run on a stem from its segment's first frame.

A mastering chain's EQ is a low-order IIR filter (shelves and peaks are biquads, RBJ's "Audio EQ Cookbook"),
so the master stream may carry one per channel (spec snc-format.md section 3.7).  Each section is Direct
Form I (section 3.7, equation "EQ")::

    v[t] = clamp((b0 u[t] + b1 u[t-1] + b2 u[t-2] - a1 v[t-1] - a2 v[t-2] + 2^23) >> 24)

with ``u`` the section's input (the first section's is the stem ``<< EQ_FRACTION``), ``v`` its output, both
zero before the segment's first frame and clamped to ``+-EQ_LIMIT``, coefficients Q24 within
``+-MAX_EQ_COEF``: every product and sum fits int64, so the result is the same on every machine.
A recursion, which NumPy cannot vectorise; the Python reference is in tests/kernels/test_master_eq.py.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

#: coefficients are Q24 (2^24 is 1.0)
EQ_SHIFT = 24
#: fraction bits of the samples between sections: the filter's own rounding stays 2^-6 of a step
EQ_FRACTION = 6
#: every section's input and output is clamped to +-EQ_LIMIT (a stem of 24 bits boosted by 4 fits)
EQ_LIMIT = (1 << 31) - 1
#: coefficients lie within +-MAX_EQ_COEF (+-16.0): five products of 59 bits sum within int64
MAX_EQ_COEF = 1 << 28


@kernel
def eq_cascade(x, sections):
    """``x`` (int, one channel of one segment) through ``sections`` ((n, 5) int64 rows ``b0 b1 b2 a1 a2``):
    int64 samples with :data:`EQ_FRACTION` fraction bits (the output of the last section)."""
    n = x.shape[0]
    u = np.empty(n, dtype=np.int64)
    for t in range(n):
        u[t] = min(max(np.int64(x[t]) << EQ_FRACTION, -EQ_LIMIT), EQ_LIMIT)
    half = np.int64(1) << (EQ_SHIFT - 1)
    for s in range(sections.shape[0]):
        b0, b1, b2 = sections[s, 0], sections[s, 1], sections[s, 2]
        a1, a2 = sections[s, 3], sections[s, 4]
        u1 = u2 = v1 = v2 = np.int64(0)
        for t in range(n):
            u0 = u[t]
            v = (b0 * u0 + b1 * u1 + b2 * u2 - a1 * v1 - a2 * v2 + half) >> EQ_SHIFT
            v = min(max(v, -EQ_LIMIT), EQ_LIMIT)
            u[t] = v
            u2, u1, v2, v1 = u1, u0, v1, v
    return u
