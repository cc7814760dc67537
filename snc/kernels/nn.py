"""Cascaded sign-LMS filters on prediction residuals (method 2 of ``spec/codec-lossless.md``, section 13).

A stage of order ``N`` and shift ``S`` predicts its input ``v[t]`` from the
saturated history ``X`` of its previous ``N`` inputs with integer weights ``w``
and adapts ``w`` by the sign of its output (after Monkey's Audio's NNFilter)::

    dot   = sum_{j<N} w[j] * X[t-N+j]                  (exact)
    out   = v[t] - ((dot + 2**(S-1)) >> S)
    w[j] += sgn(out) * D[t-N+j]                        for every j
    then  D[t-1] >>= 1; D[t-2] >>= 1; D[t-8] >>= 1
          X[t] = clamp(v[t], -32768, 32767)
          D[t] = sign(v[t]) * (32 if |v| > 3a, 16 if 3|v| > 4a, 8 if |v| > 0, else 0)
          a   += (|v| - a) >> 4

with zero initial state (``w``, ``a`` and every ``X``, ``D`` before the first
input are 0).  The decoder runs the same update with ``v[t] = out + prediction``.
All integer; with at most 2**20 inputs per packet ``|w| <= 2**25`` and every
sum fits int64 (spec section 13.4).

State of one stage: history rings ``X`` and ``D`` of ``order + RING`` entries
(the newest input at ``pos - 1``; when ``pos`` reaches ``order + RING`` the last
``order`` entries move to the front), its weights ``w`` and ``a = [average, pos]``.
A stage is applied to a channel's residuals block by block; its state carries
over from block to block within a packet.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .arrays import copy

#: largest filter order and number of stages a method-2 packet may declare
MAX_STAGES = 3
MAX_ORDER = 512
#: order = 16 << code, code 0..5
MAX_ORDER_CODE = 5
MAX_SHIFT = 20
#: at most this many filtered inputs per channel (keeps |w| < 2**26 and sums inside int64)
MAX_INPUTS = 1 << 20


RING = 4096


@kernel
def reset(X, D, w, a, order):
    """Zero state for a stage of ``order`` (arrays sized for :data:`MAX_ORDER`)."""
    X[:] = 0
    D[:] = 0
    w[:] = 0
    a[0] = 0
    a[1] = order


@kernel
def _step_size(av, avg):
    """Spec 13.3 step 4: the step ``d`` (before its sign) for an input of magnitude ``av``;
    branch-free (the comparisons are data-dependent and mispredict)."""
    return (np.int32(8) * np.int32(av > 0) + np.int32(8) * np.int32(3 * av > avg * 4)
            + np.int32(16) * np.int32(av > avg * 3))


@kernel
def forward(v, m, order, shift, X, D, w, a):
    """Encoder: replace the inputs ``v[:m]`` by the stage's outputs."""
    rnd = np.int64(1) << (shift - 1)
    pos = a[1]
    avg = a[0]
    # unsigned indices: numba then emits no negative-index wraparound, and the loops vectorise
    # into contiguous loads instead of gathers
    ou = np.uint64(order)
    for i in range(m):
        b = np.uint64(pos - order)
        s = np.int64(0)
        for j in range(ou):
            s += np.int64(w[j]) * np.int64(X[b + j])
        x = v[i]
        o = x - ((s + rnd) >> shift)
        sg = np.int32((o > 0) - (o < 0))
        for j in range(ou):
            w[j] += sg * D[b + j]
        # spec 13.3 steps 4-6
        av = abs(x)
        d = _step_size(av, avg)
        avg += (av - avg) >> 4
        D[pos - 1] >>= 1
        D[pos - 2] >>= 1
        D[pos - 8] >>= 1
        X[pos] = min(max(x, -32768), 32767)
        D[pos] = d if x >= 0 else -d
        v[i] = o
        pos += 1
        if pos == order + RING:
            copy(X, 0, X, RING, order)
            copy(D, 0, D, RING, order)
            pos = order
    a[0] = avg
    a[1] = pos


@kernel
def inverse(v, m, order, shift, X, D, w, a):
    """Decoder: replace the outputs ``v[:m]`` by the stage's inputs (exact inverse of :func:`forward`)."""
    rnd = np.int64(1) << (shift - 1)
    pos = a[1]
    avg = a[0]
    ou = np.uint64(order)
    for i in range(m):
        b = np.uint64(pos - order)
        s = np.int64(0)
        for j in range(ou):
            s += np.int64(w[j]) * np.int64(X[b + j])
        o = v[i]
        x = o + ((s + rnd) >> shift)
        sg = np.int32((o > 0) - (o < 0))
        for j in range(ou):
            w[j] += sg * D[b + j]
        av = abs(x)
        d = _step_size(av, avg)
        avg += (av - avg) >> 4
        D[pos - 1] >>= 1
        D[pos - 2] >>= 1
        D[pos - 8] >>= 1
        X[pos] = min(max(x, -32768), 32767)
        D[pos] = d if x >= 0 else -d
        v[i] = x
        pos += 1
        if pos == order + RING:
            copy(X, 0, X, RING, order)
            copy(D, 0, D, RING, order)
            pos = order
    a[0] = avg
    a[1] = pos


@kernel
def inverse_pair(v0, m0, v1, m1, order, shift, X0, D0, w0, a0, X1, D1, w1, a1):
    """:func:`inverse` on two independent streams at once (same order and shift, own states).

    One stage's samples form a single dependency chain (each prediction needs the
    previous output), so a lone stream leaves the core idle while it waits; running
    two chains in one loop fills those gaps, faster per sample than two calls of
    :func:`inverse` (docs/measurements.md).  The result is the same.
    """
    m = min(m0, m1)
    rnd = np.int64(1) << (shift - 1)
    p0 = a0[1]
    p1 = a1[1]
    avg0 = a0[0]
    avg1 = a1[0]
    ou = np.uint64(order)
    for i in range(m):
        b0 = np.uint64(p0 - order)
        b1 = np.uint64(p1 - order)
        s0 = np.int64(0)
        for j in range(ou):
            s0 += np.int64(w0[j]) * np.int64(X0[b0 + j])
        s1 = np.int64(0)
        for j in range(ou):
            s1 += np.int64(w1[j]) * np.int64(X1[b1 + j])
        o0 = v0[i]
        o1 = v1[i]
        x0 = o0 + ((s0 + rnd) >> shift)
        x1 = o1 + ((s1 + rnd) >> shift)
        g0 = np.int32((o0 > 0) - (o0 < 0))
        g1 = np.int32((o1 > 0) - (o1 < 0))
        for j in range(ou):
            w0[j] += g0 * D0[b0 + j]
        for j in range(ou):
            w1[j] += g1 * D1[b1 + j]
        av0 = abs(x0)
        av1 = abs(x1)
        d0 = _step_size(av0, avg0)
        d1 = _step_size(av1, avg1)
        avg0 += (av0 - avg0) >> 4
        avg1 += (av1 - avg1) >> 4
        D0[p0 - 1] >>= 1
        D0[p0 - 2] >>= 1
        D0[p0 - 8] >>= 1
        D1[p1 - 1] >>= 1
        D1[p1 - 2] >>= 1
        D1[p1 - 8] >>= 1
        X0[p0] = min(max(x0, -32768), 32767)
        X1[p1] = min(max(x1, -32768), 32767)
        D0[p0] = d0 if x0 >= 0 else -d0
        D1[p1] = d1 if x1 >= 0 else -d1
        v0[i] = x0
        v1[i] = x1
        p0 += 1
        p1 += 1
        if p0 == order + RING:
            copy(X0, 0, X0, RING, order)
            copy(D0, 0, D0, RING, order)
            p0 = order
        if p1 == order + RING:
            copy(X1, 0, X1, RING, order)
            copy(D1, 0, D1, RING, order)
            p1 = order
    a0[0] = avg0
    a0[1] = p0
    a1[0] = avg1
    a1[1] = p1
    # the longer stream's tail
    if m0 > m:
        inverse(v0[m:], m0 - m, order, shift, X0, D0, w0, a0)
    if m1 > m:
        inverse(v1[m:], m1 - m, order, shift, X1, D1, w1, a1)
