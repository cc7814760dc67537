"""Linear prediction: windows, autocorrelation, Levinson-Durbin, coefficient
quantisation, and the exact integer prediction / restoration.

The float parts (windows .. quantisation) only *choose* a predictor in the
encoder.  The prediction itself is exact integer arithmetic
(``spec/codec-lossless.md`` section 6, after RFC 9639 sections 9.2.5 and
9.2.6): the decoder's :func:`restore` uses int64, the encoder's
:func:`residual` float64 sums that are provably exact (see there)::

    prediction[i] = (sum_{j<order} coef[j] * x[i-1-j]) >> shift      (arithmetic shift = floor)
    residual[i]   = x[i] - prediction[i]

A fixed polynomial predictor of order 0..4 is the same with ``shift = 0`` and
the coefficients of :data:`FIXED_COEFS`.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .arrays import copy

MAX_ORDER = 32
MAX_FIXED_ORDER = 4

#: fixed polynomial predictors, RFC 9639 section 9.2.5 (row = order, coef[j] multiplies x[i-1-j])
FIXED_COEFS = np.array(
    [[0, 0, 0, 0], [1, 0, 0, 0], [2, -1, 0, 0], [3, -3, 1, 0], [4, -6, 4, -1]], dtype=np.int64
)


# -- windows (encoder only; after libFLAC's tukey and subdivide_tukey) ---------------------


@kernel
def _hann_edge(i, m):
    return 0.5 - 0.5 * math.cos(math.pi * i / m)


@kernel
def tukey(n, p, out):
    """Tukey window: flat top with Hann tapers over a fraction ``p`` of ``n``."""
    for i in range(n):
        out[i] = 1.0
    np_ = int(p / 2.0 * n) - 1
    if np_ > 0:
        for i in range(np_ + 1):
            out[i] = _hann_edge(i, np_)
            out[n - np_ - 1 + i] = _hann_edge(i + np_, np_)


@kernel
def make_windows(n, levels):
    """The encoder's analysis windows for a block of ``n`` samples.

    Level 1 is ``tukey(0.5)`` over the block; level ``k = 2 .. levels`` splits
    the block into ``k`` parts, each with its own ``tukey(0.5)``.  Returns
    ``(windows, segments)``: row ``r`` of ``windows`` is non-zero only on
    ``segments[r, 0] <= i < segments[r, 1]``.  (libFLAC's ``subdivide_tukey(levels)``
    analyses the parts and the block with each part punched out; the encoder
    forms the latter by adding the parts' autocorrelations.)
    """
    rows = levels * (levels + 1) // 2
    w = np.zeros((rows, n))
    seg = np.zeros((rows, 2), dtype=np.int64)
    r = 0
    for k in range(1, levels + 1):
        for j in range(k):
            s = j * n // k
            e = (j + 1) * n // k
            tukey(e - s, 0.5, w[r, s:e])
            seg[r, 0] = s
            seg[r, 1] = e
            r += 1
    return w, seg


# -- analysis ---------------------------------------------------------------------------


@kernel
def autocorrelation(x, n, maxlag, out):
    """``out[l] = sum_i x[i] * x[i+l]`` for ``l = 0 .. maxlag`` (float64).

    The lag loop is innermost so that it vectorises, with four samples per
    step; the summation order is fixed, so the result does not depend on the
    machine's vector width.
    """
    nl = maxlag + 1
    xp = np.zeros(n + nl + 4)
    copy(xp, 0, x, 0, n)
    acc = np.zeros(nl)
    for i in range(0, n, 4):
        a = xp[i]
        b = xp[i + 1]
        c = xp[i + 2]
        d = xp[i + 3]
        w0 = xp[i : i + nl]
        w1 = xp[i + 1 : i + 1 + nl]
        w2 = xp[i + 2 : i + 2 + nl]
        w3 = xp[i + 3 : i + 3 + nl]
        for lag in range(nl):
            acc[lag] += (a * w0[lag] + b * w1[lag]) + (c * w2[lag] + d * w3[lag])
    copy(out, 0, acc, 0, nl)


@kernel
def levinson(autoc, max_order, coefs, errors):
    """Levinson-Durbin recursion (libFLAC ``FLAC__lpc_compute_lp_coefficients``).

    Fills ``coefs[o-1, :o]`` (predictor of order ``o``, ``x[i] ~ sum coef[j] x[i-1-j]``)
    and ``errors[o-1]`` (its prediction error energy); returns the number of
    valid orders (fewer than ``max_order`` when the recursion degenerates).
    """
    err = autoc[0]
    if not err > 0.0:
        return 0
    lpc = np.zeros(max_order)
    for i in range(max_order):
        r = -autoc[i + 1]
        for j in range(i):
            r -= lpc[j] * autoc[i - j]
        r /= err
        lpc[i] = r
        for j in range(i // 2):
            tmp = lpc[j]
            lpc[j] += r * lpc[i - 1 - j]
            lpc[i - 1 - j] += r * tmp
        if i & 1:
            lpc[i // 2] += lpc[i // 2] * r
        err *= 1.0 - r * r
        for j in range(i + 1):
            coefs[i, j] = -lpc[j]
        errors[i] = err
        if not err > 0.0:
            return i + 1
    return max_order


@kernel
def expected_bits(err, n, order, overhead):
    """libFLAC's estimate of the bits of a block predicted with error energy ``err``."""
    if err > 0.0:
        bps = 0.5 * math.log2(0.5 * err / n)
        if bps < 0.0:
            bps = 0.0
    else:
        bps = 0.0
    return bps * (n - order) + order * overhead


@kernel
def quantize(coefs, order, precision, max_shift, out):
    """Quantise ``coefs[:order]`` to ``precision``-bit integers (libFLAC's method,
    rounding with error feedback).  Returns the shift, or -1 when the
    coefficients are all zero or too large for ``precision`` bits."""
    cmax = 0.0
    for j in range(order):
        cmax = max(cmax, abs(coefs[j]))
    if not cmax > 0.0:
        return -1
    qmax = (1 << (precision - 1)) - 1
    qmin = -(1 << (precision - 1))
    log2cmax = math.frexp(cmax)[1] - 1  # 2**log2cmax <= cmax < 2**(log2cmax + 1)
    shift = precision - 2 - log2cmax
    if shift > max_shift:
        shift = max_shift
    if shift < 0:
        return -1
    scale = float(1 << shift)
    e = 0.0
    for j in range(order):
        e += coefs[j] * scale
        q = math.floor(abs(e) + 0.5)  # round half away from zero
        if e < 0.0:
            q = -q
        q = min(max(q, qmin), qmax)
        e -= q
        out[j] = np.int64(q)
    return shift


# -- integer prediction ------------------------------------------------------------------


_CHUNK = 256


@kernel
def residual(x, xf, n, coefs, order, shift, out):
    """Encoder: ``out[i - order] = x[i] - prediction[i]`` for ``i = order .. n-1``.

    ``xf`` is ``x`` as float64.  The sums are formed in float64, which is exact
    here: ``|coef| <= 2**14``, ``|x| <= 2**32`` and ``order <= 32`` bound every
    product and partial sum by ``2**51 < 2**53``, so each is an exact integer,
    and ``floor(sum * 2**-shift)`` equals the integer ``sum >> shift``.  (Float
    vector multiply-adds are much faster than int64 ones.)  Returns the largest
    zig-zag value of the residuals (0 when there are none).
    """
    m = n - order
    acc = np.empty(_CHUNK)
    scale = 1.0 / (np.int64(1) << shift)
    umax = np.int64(0)
    for c0 in range(0, m, _CHUNK):
        cl = min(_CHUNK, m - c0)
        acc[:cl] = 0.0
        j = 0
        while j + 4 <= order:  # four taps per pass: fewer loads and stores of acc
            a0 = float(coefs[j])
            a1 = float(coefs[j + 1])
            a2 = float(coefs[j + 2])
            a3 = float(coefs[j + 3])
            b = order - 1 - j + c0
            x0 = xf[b : b + cl]
            x1 = xf[b - 1 : b - 1 + cl]
            x2 = xf[b - 2 : b - 2 + cl]
            x3 = xf[b - 3 : b - 3 + cl]
            for i in range(cl):
                acc[i] += (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i])
            j += 4
        while j < order:
            a0 = float(coefs[j])
            b = order - 1 - j + c0
            x0 = xf[b : b + cl]
            for i in range(cl):
                acc[i] += a0 * x0[i]
            j += 1
        xo = x[order + c0 : order + c0 + cl]
        oo = out[c0 : c0 + cl]
        for i in range(cl):
            r = xo[i] - np.int64(math.floor(acc[i] * scale))
            oo[i] = r
            umax = max(umax, (r << 1) ^ (r >> 63))
    return umax


@kernel
def fixed_abs_sums(x, n, out):
    """``out[o] = sum |residual|`` of the fixed predictors of order 0..4 over ``i >= 4``
    (one pass; libFLAC's ``FLAC__fixed_compute_best_predictor``)."""
    for o in range(5):
        out[o] = 0.0
    for i in range(4, n):
        e0 = x[i]
        e1 = e0 - x[i - 1]
        e2 = e1 - (x[i - 1] - x[i - 2])
        e3 = e2 - (x[i - 1] - 2 * x[i - 2] + x[i - 3])
        e4 = e3 - (x[i - 1] - 3 * x[i - 2] + 3 * x[i - 3] - x[i - 4])
        out[0] += abs(e0)
        out[1] += abs(e1)
        out[2] += abs(e2)
        out[3] += abs(e3)
        out[4] += abs(e4)


@kernel
def _restore_r4(x, n, coefs, order, shift, lo, hi):
    """:func:`restore` for ``order <= 4`` with the history in registers (locals ``h1`` = x[i-1] ...);
    the coefficients are zero-padded to 4."""
    c0 = coefs[0] if 0 < order else np.int64(0)
    c1 = coefs[1] if 1 < order else np.int64(0)
    c2 = coefs[2] if 2 < order else np.int64(0)
    c3 = coefs[3] if 3 < order else np.int64(0)
    h1 = x[order - 1] if 1 <= order else np.int64(0)
    h2 = x[order - 2] if 2 <= order else np.int64(0)
    h3 = x[order - 3] if 3 <= order else np.int64(0)
    h4 = x[order - 4] if 4 <= order else np.int64(0)
    for i in range(order, n):
        s = (c3 * h4 + c2 * h3 + c1 * h2) + c0 * h1
        v = x[i] + (s >> shift)
        if v < lo or v > hi:
            return i
        x[i] = v
        h4 = h3
        h3 = h2
        h2 = h1
        h1 = v
    return -1


@kernel
def _restore_r8(x, n, coefs, order, shift, lo, hi):
    """:func:`restore` for ``order <= 8`` with the history in registers (locals ``h1`` = x[i-1] ...);
    the coefficients are zero-padded to 8."""
    c0 = coefs[0] if 0 < order else np.int64(0)
    c1 = coefs[1] if 1 < order else np.int64(0)
    c2 = coefs[2] if 2 < order else np.int64(0)
    c3 = coefs[3] if 3 < order else np.int64(0)
    c4 = coefs[4] if 4 < order else np.int64(0)
    c5 = coefs[5] if 5 < order else np.int64(0)
    c6 = coefs[6] if 6 < order else np.int64(0)
    c7 = coefs[7] if 7 < order else np.int64(0)
    h1 = x[order - 1] if 1 <= order else np.int64(0)
    h2 = x[order - 2] if 2 <= order else np.int64(0)
    h3 = x[order - 3] if 3 <= order else np.int64(0)
    h4 = x[order - 4] if 4 <= order else np.int64(0)
    h5 = x[order - 5] if 5 <= order else np.int64(0)
    h6 = x[order - 6] if 6 <= order else np.int64(0)
    h7 = x[order - 7] if 7 <= order else np.int64(0)
    h8 = x[order - 8] if 8 <= order else np.int64(0)
    for i in range(order, n):
        s = (c7 * h8 + c6 * h7 + c5 * h6 + c4 * h5 + c3 * h4 + c2 * h3 + c1 * h2) + c0 * h1
        v = x[i] + (s >> shift)
        if v < lo or v > hi:
            return i
        x[i] = v
        h8 = h7
        h7 = h6
        h6 = h5
        h5 = h4
        h4 = h3
        h3 = h2
        h2 = h1
        h1 = v
    return -1


@kernel
def _restore_r16(x, n, coefs, order, shift, lo, hi):
    """:func:`restore` for ``order <= 16`` with the history in registers (locals ``h1`` = x[i-1] ...);
    the coefficients are zero-padded to 16."""
    c0 = coefs[0] if 0 < order else np.int64(0)
    c1 = coefs[1] if 1 < order else np.int64(0)
    c2 = coefs[2] if 2 < order else np.int64(0)
    c3 = coefs[3] if 3 < order else np.int64(0)
    c4 = coefs[4] if 4 < order else np.int64(0)
    c5 = coefs[5] if 5 < order else np.int64(0)
    c6 = coefs[6] if 6 < order else np.int64(0)
    c7 = coefs[7] if 7 < order else np.int64(0)
    c8 = coefs[8] if 8 < order else np.int64(0)
    c9 = coefs[9] if 9 < order else np.int64(0)
    c10 = coefs[10] if 10 < order else np.int64(0)
    c11 = coefs[11] if 11 < order else np.int64(0)
    c12 = coefs[12] if 12 < order else np.int64(0)
    c13 = coefs[13] if 13 < order else np.int64(0)
    c14 = coefs[14] if 14 < order else np.int64(0)
    c15 = coefs[15] if 15 < order else np.int64(0)
    h1 = x[order - 1] if 1 <= order else np.int64(0)
    h2 = x[order - 2] if 2 <= order else np.int64(0)
    h3 = x[order - 3] if 3 <= order else np.int64(0)
    h4 = x[order - 4] if 4 <= order else np.int64(0)
    h5 = x[order - 5] if 5 <= order else np.int64(0)
    h6 = x[order - 6] if 6 <= order else np.int64(0)
    h7 = x[order - 7] if 7 <= order else np.int64(0)
    h8 = x[order - 8] if 8 <= order else np.int64(0)
    h9 = x[order - 9] if 9 <= order else np.int64(0)
    h10 = x[order - 10] if 10 <= order else np.int64(0)
    h11 = x[order - 11] if 11 <= order else np.int64(0)
    h12 = x[order - 12] if 12 <= order else np.int64(0)
    h13 = x[order - 13] if 13 <= order else np.int64(0)
    h14 = x[order - 14] if 14 <= order else np.int64(0)
    h15 = x[order - 15] if 15 <= order else np.int64(0)
    h16 = x[order - 16] if 16 <= order else np.int64(0)
    for i in range(order, n):
        s = (c15 * h16 + c14 * h15 + c13 * h14 + c12 * h13 + c11 * h12 + c10 * h11 + c9 * h10 + c8 * h9 + c7 * h8 + c6 * h7 + c5 * h6 + c4 * h5 + c3 * h4 + c2 * h3 + c1 * h2) + c0 * h1  # noqa: E501 (one unrolled sum per order)
        v = x[i] + (s >> shift)
        if v < lo or v > hi:
            return i
        x[i] = v
        h16 = h15
        h15 = h14
        h14 = h13
        h13 = h12
        h12 = h11
        h11 = h10
        h10 = h9
        h9 = h8
        h8 = h7
        h7 = h6
        h6 = h5
        h5 = h4
        h4 = h3
        h3 = h2
        h2 = h1
        h1 = v
    return -1


@kernel
def _restore_r32(x, n, coefs, order, shift, lo, hi):
    """:func:`restore` for ``order <= 32`` with the history in registers (locals ``h1`` = x[i-1] ...);
    the coefficients are zero-padded to 32."""
    c0 = coefs[0] if 0 < order else np.int64(0)
    c1 = coefs[1] if 1 < order else np.int64(0)
    c2 = coefs[2] if 2 < order else np.int64(0)
    c3 = coefs[3] if 3 < order else np.int64(0)
    c4 = coefs[4] if 4 < order else np.int64(0)
    c5 = coefs[5] if 5 < order else np.int64(0)
    c6 = coefs[6] if 6 < order else np.int64(0)
    c7 = coefs[7] if 7 < order else np.int64(0)
    c8 = coefs[8] if 8 < order else np.int64(0)
    c9 = coefs[9] if 9 < order else np.int64(0)
    c10 = coefs[10] if 10 < order else np.int64(0)
    c11 = coefs[11] if 11 < order else np.int64(0)
    c12 = coefs[12] if 12 < order else np.int64(0)
    c13 = coefs[13] if 13 < order else np.int64(0)
    c14 = coefs[14] if 14 < order else np.int64(0)
    c15 = coefs[15] if 15 < order else np.int64(0)
    c16 = coefs[16] if 16 < order else np.int64(0)
    c17 = coefs[17] if 17 < order else np.int64(0)
    c18 = coefs[18] if 18 < order else np.int64(0)
    c19 = coefs[19] if 19 < order else np.int64(0)
    c20 = coefs[20] if 20 < order else np.int64(0)
    c21 = coefs[21] if 21 < order else np.int64(0)
    c22 = coefs[22] if 22 < order else np.int64(0)
    c23 = coefs[23] if 23 < order else np.int64(0)
    c24 = coefs[24] if 24 < order else np.int64(0)
    c25 = coefs[25] if 25 < order else np.int64(0)
    c26 = coefs[26] if 26 < order else np.int64(0)
    c27 = coefs[27] if 27 < order else np.int64(0)
    c28 = coefs[28] if 28 < order else np.int64(0)
    c29 = coefs[29] if 29 < order else np.int64(0)
    c30 = coefs[30] if 30 < order else np.int64(0)
    c31 = coefs[31] if 31 < order else np.int64(0)
    h1 = x[order - 1] if 1 <= order else np.int64(0)
    h2 = x[order - 2] if 2 <= order else np.int64(0)
    h3 = x[order - 3] if 3 <= order else np.int64(0)
    h4 = x[order - 4] if 4 <= order else np.int64(0)
    h5 = x[order - 5] if 5 <= order else np.int64(0)
    h6 = x[order - 6] if 6 <= order else np.int64(0)
    h7 = x[order - 7] if 7 <= order else np.int64(0)
    h8 = x[order - 8] if 8 <= order else np.int64(0)
    h9 = x[order - 9] if 9 <= order else np.int64(0)
    h10 = x[order - 10] if 10 <= order else np.int64(0)
    h11 = x[order - 11] if 11 <= order else np.int64(0)
    h12 = x[order - 12] if 12 <= order else np.int64(0)
    h13 = x[order - 13] if 13 <= order else np.int64(0)
    h14 = x[order - 14] if 14 <= order else np.int64(0)
    h15 = x[order - 15] if 15 <= order else np.int64(0)
    h16 = x[order - 16] if 16 <= order else np.int64(0)
    h17 = x[order - 17] if 17 <= order else np.int64(0)
    h18 = x[order - 18] if 18 <= order else np.int64(0)
    h19 = x[order - 19] if 19 <= order else np.int64(0)
    h20 = x[order - 20] if 20 <= order else np.int64(0)
    h21 = x[order - 21] if 21 <= order else np.int64(0)
    h22 = x[order - 22] if 22 <= order else np.int64(0)
    h23 = x[order - 23] if 23 <= order else np.int64(0)
    h24 = x[order - 24] if 24 <= order else np.int64(0)
    h25 = x[order - 25] if 25 <= order else np.int64(0)
    h26 = x[order - 26] if 26 <= order else np.int64(0)
    h27 = x[order - 27] if 27 <= order else np.int64(0)
    h28 = x[order - 28] if 28 <= order else np.int64(0)
    h29 = x[order - 29] if 29 <= order else np.int64(0)
    h30 = x[order - 30] if 30 <= order else np.int64(0)
    h31 = x[order - 31] if 31 <= order else np.int64(0)
    h32 = x[order - 32] if 32 <= order else np.int64(0)
    for i in range(order, n):
        s = (c31 * h32 + c30 * h31 + c29 * h30 + c28 * h29 + c27 * h28 + c26 * h27 + c25 * h26 + c24 * h25 + c23 * h24 + c22 * h23 + c21 * h22 + c20 * h21 + c19 * h20 + c18 * h19 + c17 * h18 + c16 * h17 + c15 * h16 + c14 * h15 + c13 * h14 + c12 * h13 + c11 * h12 + c10 * h11 + c9 * h10 + c8 * h9 + c7 * h8 + c6 * h7 + c5 * h6 + c4 * h5 + c3 * h4 + c2 * h3 + c1 * h2) + c0 * h1  # noqa: E501
        v = x[i] + (s >> shift)
        if v < lo or v > hi:
            return i
        x[i] = v
        h32 = h31
        h31 = h30
        h30 = h29
        h29 = h28
        h28 = h27
        h27 = h26
        h26 = h25
        h25 = h24
        h24 = h23
        h23 = h22
        h22 = h21
        h21 = h20
        h20 = h19
        h19 = h18
        h18 = h17
        h17 = h16
        h16 = h15
        h15 = h14
        h14 = h13
        h13 = h12
        h12 = h11
        h11 = h10
        h10 = h9
        h9 = h8
        h8 = h7
        h7 = h6
        h6 = h5
        h5 = h4
        h4 = h3
        h3 = h2
        h2 = h1
        h1 = v
    return -1


@kernel
def restore(x, n, coefs, order, shift, lo, hi):
    """Decoder: ``x[:order]`` holds the warm-up samples and ``x[order:n]`` the
    residuals; replace the residuals by samples in place.  Returns the first
    index whose sample falls outside ``[lo, hi]`` (then stops), or -1."""
    # the recursion is latency-bound: keep the history in registers for the usual orders
    if order <= 4:
        return _restore_r4(x, n, coefs, order, shift, lo, hi)
    if order <= 8:
        return _restore_r8(x, n, coefs, order, shift, lo, hi)
    if order <= 16:
        return _restore_r16(x, n, coefs, order, shift, lo, hi)
    if order <= 32:
        return _restore_r32(x, n, coefs, order, shift, lo, hi)
    # coefficients reversed so the dot product runs forwards over x[i - order : i]; unsigned
    # indices so numba emits no negative-index wraparound and the loop vectorises (sums are exact,
    # so the order of the additions does not matter)
    rc = np.empty(order, dtype=np.int64)
    for j in range(order):
        rc[j] = coefs[order - 1 - j]
    ou = np.uint64(order)
    for i in range(order, n):
        b = np.uint64(i - order)
        s = np.int64(0)
        for j in range(ou):
            s += rc[j] * x[b + j]
        v = x[i] + (s >> shift)
        if v < lo or v > hi:
            return i
        x[i] = v
    return -1
