"""Sample loops of the renderer's dynamics: the compressor's smoothed gain and the limiter's release.

Both are recursive (each output depends on the previous one), which NumPy cannot vectorise; the
NumPy/Python references live in tests/render/test_render.py.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def compressor_gain_db(level_db, threshold_db, ratio, knee_db, attack, release, state):
    """Gain (dB, <= 0) per sample of a feed-forward compressor (Giannoulis, Massberg & Reiss,
    "Digital dynamic range compressor design -- a tutorial and analysis", JAES 2012: eq. 4, the
    soft-knee static curve, and eq. 17, the smooth branching peak detector on the gain).

    ``level_db``: detector level per sample (dBFS); ``attack``/``release``: one-pole coefficients
    ``exp(-1 / (time * rate))``; ``state[0]``: the gain of the previous sample, updated in place."""
    out = np.empty_like(level_db)
    g = state[0]
    half = knee_db / 2.0
    slope = 1.0 / ratio - 1.0
    for n in range(level_db.shape[0]):
        over = level_db[n] - threshold_db
        if 2.0 * over < -knee_db:
            target = 0.0
        elif 2.0 * abs(over) <= knee_db and knee_db > 0.0:
            target = slope * (over + half) ** 2 / (2.0 * knee_db)
        else:
            target = slope * over
        coef = attack if target < g else release
        g = coef * g + (1.0 - coef) * target
        out[n] = g
    state[0] = g
    return out


@kernel
def hold_release(reduction, release, state):
    """``out[n] = max(reduction[n], release * out[n - 1])``: a gain reduction (linear, >= 0) that
    follows rises at once and falls back exponentially; ``state[0]`` carries ``out[-1]``."""
    out = np.empty_like(reduction)
    r = state[0]
    for n in range(reduction.shape[0]):
        r = max(reduction[n], release * r)
        out[n] = r
    state[0] = r
    return out
