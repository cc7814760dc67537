"""The master's compressor: a feed-forward RMS compressor's gain, computed from the stems' sum in fixed point.

A mastering compressor's gain is a function of the mix itself.  Its RMS detector smooths the square of the
signal, so the gain ripples at audio rate, which no knots follow (docs/mastering.md).  The master stream may
therefore carry the compressor's parameters instead (spec snc-format.md section 3.7, equation "COMP"; the
design of Giannoulis, Massberg and Reiss, JAES 2012, "decoupled" smoothing of the squared level):

    a[t] = min(sum_c |X_c[t]|, 2^25 - 1)                the channels' summed magnitude (sample units)
    p[t] = a^2 >> 4
    L[t] = L[t-1] + (((p - L[t-1]) * k) >> 16)          k = attack if p > L[t-1], else release; L[-1] = 0
    l    = (log2q(L[t]) + 4 * 2^16) >> 1                Q16 log2 of the level's amplitude
    y    = 0, (o * s) >> 16 above the knee, ((2o + W)^2 // 8W) * s >> 16 in it   o = l - T
    C[t] = exp2q(y)                                     Q30 gain, 2^(-y / 2^16)

``log2q`` and ``exp2q`` interpolate linearly in tables of 1025 entries (:data:`LOG2_TABLE`,
:data:`EXP2_TABLE`), which are computed with exact decimal arithmetic: the same integers on every machine.
Every product fits int64.  The Python-integer reference is ``spec_compressor`` in tools/make_vectors.py.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np

from ._jit import kernel

#: the detector's input is clamped below 2^25 (eight channels of 24 bits at full scale reach 2^26), and its
#: square taken 4 bits down: below 2^46, so the smoothing's products fit int64
DETECTOR_LIMIT = (1 << 25) - 1
POWER_SHIFT = 4
#: parameters are Q16: log2 levels, the slope 1 - 1/ratio and the smoothing coefficients
DYN_SHIFT = 16
#: the compressor's gain is Q30
GAIN_BITS = 30
#: table steps: 2^10 per octave, linear interpolation over the 6 remaining fraction bits
TABLE_BITS = 10


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """``round(2^16 * log2(1 + j/1024))`` and ``round(2^30 * 2^(-j/1024))``, j = 0..1024, half up, from 40
    exact digits (the decimal module, not the platform's libm)."""
    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 40, ROUND_HALF_UP
        n = 1 << TABLE_BITS
        ln2 = Decimal(2).ln()
        log2 = [int(((1 + Decimal(j) / n).ln() / ln2 * (1 << DYN_SHIFT)).to_integral_value()) for j in range(n + 1)]
        exp2 = [int(((-Decimal(j) / n * ln2).exp() * (1 << GAIN_BITS)).to_integral_value()) for j in range(n + 1)]
    return np.array(log2, dtype=np.int64), np.array(exp2, dtype=np.int64)


LOG2_TABLE, EXP2_TABLE = _tables()


@kernel
def log2q(x, table):
    """Q16 log2 of ``x >= 1`` (spec equation "COMP"): the exponent, then the mantissa's 16 bits in the table."""
    e = np.int64(0)  # the exponent, by halving: six steps
    for step in (32, 16, 8, 4, 2, 1):
        if (x >> (e + step)) != 0:
            e += step
    m = (x >> (e - 16)) if e >= 16 else (x << (16 - e))
    f = m - (np.int64(1) << 16)
    j, r = f >> 6, f & 63
    return (e << 16) + table[j] + (((table[j + 1] - table[j]) * r + 32) >> 6)


@kernel
def exp2q(y, table):
    """Q30 ``2^(-y / 2^16)`` of ``y >= 0``: the table's octave fraction, shifted by the whole octaves."""
    n = y >> 16
    if n >= 31:
        return np.int64(0)
    f = y & 0xFFFF
    j, r = f >> 6, f & 63
    return (table[j] + (((table[j + 1] - table[j]) * r + 32) >> 6)) >> n


@kernel
def compressor_gain(level, threshold, knee, slope, attack, release, log2_table, exp2_table):
    """Q30 gain per frame of one segment from ``level`` (int64, the channels' summed magnitude per frame)."""
    n = level.shape[0]
    out = np.empty(n, dtype=np.int64)
    smooth = np.int64(0)
    for t in range(n):
        a = min(level[t], DETECTOR_LIMIT)
        power = (a * a) >> POWER_SHIFT
        k = attack if power > smooth else release
        smooth += ((power - smooth) * k) >> 16
        y = np.int64(0)
        if smooth >= 1:
            over = ((log2q(smooth, log2_table) + (POWER_SHIFT << 16)) >> 1) - threshold
            if knee == 0:
                if over > 0:
                    y = (over * slope) >> 16
            elif 2 * over >= knee:
                y = (over * slope) >> 16
            elif 2 * over > -knee:
                q = 2 * over + knee
                y = ((q * q) // (8 * knee) * slope) >> 16
        out[t] = exp2q(y, exp2_table)
    return out
