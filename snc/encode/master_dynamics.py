"""The master's compressor, fitted: the five integers of :mod:`snc.kernels.master_dynamics` for a mix.

``mix ~ G(t) * C(t) * sum(stems)``: ``C`` is a feed-forward RMS compressor's gain, computed by the decoder
from the stems' sum; ``G`` the knots, which follow what the compressor model leaves (a limiter, a slow
gain).  The parameters are fitted by Nelder-Mead (scipy) on an excerpt, the knots refitted by least squares
at every step, and the objective is the energy the decoder's own integer gain leaves: the fit optimises
what will be played.  It starts from a 2:1 ratio, fast poles and the music's own levels (the median and the
90th percentile of the excerpt's level), and takes one unit as each first step (an octave of threshold,
e-fold time constants): no constant is fitted to an item.
"""

from __future__ import annotations

import numpy as np

from ..codecs.gain import COMPRESSOR_FIELDS
from ..kernels import warmup
from ..kernels.master_dynamics import DYN_SHIFT, EXP2_TABLE, GAIN_BITS, LOG2_TABLE, compressor_gain
from .knots import rest_energy

#: Nelder-Mead steps per start: the fit has converged by then on the corpus's two compressors (docs/mastering.md)
MAX_STEPS = 150
#: the fit has to explain at least this share of the energy the knots alone leave (halving it), as the EQ's
EXPLAINED = 0.5
#: first attack and release poles: 1 ms and 10 ms, as fractions of a frame's way per frame
START_POLES_S = (0.001, 0.01)


def params_of(x) -> list[int]:
    """The codec's five integers (threshold, knee, slope, attack, release) of the fit's variables ``x``:
    threshold (log2), log(ratio - 1), knee (log2), log attack and log release coefficients."""
    threshold, log_ratio, knee, log_attack, log_release = (float(v) for v in x)
    one = 1 << DYN_SHIFT
    values = [round(threshold * one), round(abs(knee) * one), round((1.0 - 1.0 / (1.0 + np.exp(log_ratio))) * one),
              round(np.exp(min(log_attack, 0.0)) * one), round(np.exp(min(log_release, 0.0)) * one)]
    return [min(max(v, lo), hi) for v, (_, lo, hi) in zip(values, COMPRESSOR_FIELDS)]


def compressor_of(level: np.ndarray, params) -> np.ndarray:
    """The compressor's gain per frame as a float (the decoder's Q30 integers)."""
    warmup.ensure("master-compressor")
    return compressor_gain(level, *params, LOG2_TABLE, EXP2_TABLE) / float(1 << GAIN_BITS)


def _rest(mix: np.ndarray, src: np.ndarray, knot_shift: int) -> float:
    """Mean energy of ``mix`` minus least-squares knots times ``src`` (floats, per channel)."""
    return sum(rest_energy(np.ascontiguousarray(mix[:, c]), np.ascontiguousarray(src[:, c]), knot_shift)
               for c in range(mix.shape[1])) / mix.size


def fit_compressor(mix: np.ndarray, total: np.ndarray, knot_shift: int, sample_rate: int) -> list[int] | None:
    """The compressor (five integers) that best explains ``mix`` (an excerpt) from ``total`` (the stems' sum as
    they enter the gain, int64) under knots every ``2^knot_shift`` frames, or None when it does not at least
    halve the energy the knots alone leave (:data:`EXPLAINED`)."""
    from scipy.optimize import minimize  # here: scipy loads only for files with a master gain

    m, x = mix.astype(np.float64), total.astype(np.float64)
    level = np.abs(total).sum(axis=1).astype(np.int64)
    plain = _rest(m, x, knot_shift)
    if plain <= 0.0:
        return None

    def energy(v):
        return _rest(m, x * compressor_of(level, params_of(v))[:, None], knot_shift)

    amplitude = np.log2(np.maximum(level.astype(np.float64), 1.0))
    best = None
    for threshold in np.percentile(amplitude, [50, 90]):
        start = np.array([threshold, 0.0, 1.0, *(np.log(1.0 / (s * sample_rate)) for s in START_POLES_S)])
        fit = minimize(energy, start, method="Nelder-Mead",
                       options=dict(maxiter=MAX_STEPS, xatol=1e-3, fatol=1e-4,
                                    initial_simplex=np.vstack([start, start + np.eye(len(start))])))
        if best is None or fit.fun < best.fun:
            best = fit
    if best.fun > (1.0 - EXPLAINED) * plain:
        return None
    return params_of(best.x)
