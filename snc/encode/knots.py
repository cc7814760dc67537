"""Least-squares knots of a gain linear between them: ``m ~ g(t) * d``, the master stream's model (spec
snc-format.md 18.5), in floating point.  The master's first pass quantises them (:mod:`snc.encode.master`),
the EQ's fit alternates with them (:mod:`snc.encode.master_eq`)."""

from __future__ import annotations

import numpy as np

from ..codecs.gain import knot_count

#: the least-squares fit leans towards unity by this fraction of a knot's mean weight: knots over silence
#: (nothing to fit) stay at 1.0 instead of anywhere
RIDGE = 1e-6


def knot_values(m: np.ndarray, d: np.ndarray, knot_shift: int) -> np.ndarray:
    """The least-squares knots (float, 1.0 is unity) of one channel's ``m ~ g * d``, ``g`` linear between
    knots.  The gain is linear in its knots, so the normal equations are tridiagonal (each frame touches two)."""
    return _solve(m, d, knot_shift)[0]


def rest_energy(m: np.ndarray, d: np.ndarray, knot_shift: int) -> float:
    """``sum((m - g * d)^2)`` at the least-squares knots, from the normal equations alone (no prediction
    formed): ``m'm - k'r + ridge * (k'1 - k'k)``, ``r`` the right-hand side the knots ``k`` solve for."""
    k, rhs, ridge = _solve(m, d, knot_shift)
    return float(m @ m - k @ rhs + ridge * (k.sum() - k @ k))


def _solve(m: np.ndarray, d: np.ndarray, knot_shift: int):
    """``(knots, right-hand side without the ridge, ridge)`` of the least-squares knots of ``m ~ g * d``."""
    from scipy.linalg import solveh_banded  # here: scipy is no import-time cost of snc.encode

    from ..kernels import warmup
    from ..kernels.knot_fit import normal_equations

    warmup.ensure("knot-fit")
    count = knot_count(len(m), knot_shift)
    diag, upper, rhs = normal_equations(np.ascontiguousarray(m, dtype=np.float64),
                                        np.ascontiguousarray(d, dtype=np.float64), knot_shift, count)
    ridge = RIDGE * max(diag.mean(), 1.0)
    bands = np.zeros((2, count))
    bands[0, 1:], bands[1] = upper, diag + ridge
    return solveh_banded(bands, rhs + ridge, check_finite=False), rhs, ridge


def gain_of(m: np.ndarray, d: np.ndarray, knot_shift: int) -> np.ndarray:
    """The least-squares gain of ``m ~ g * d`` per frame (float), linear between its knots."""
    g = knot_values(m, d, knot_shift)
    t = np.arange(len(m))
    j = t >> knot_shift
    f = (t & ((1 << knot_shift) - 1)) / float(1 << knot_shift)
    return g[j] * (1.0 - f) + g[j + 1] * f
