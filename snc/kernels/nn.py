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
from numba import njit

#: largest filter order and number of stages a method-2 packet may declare
MAX_STAGES = 3
MAX_ORDER = 512
#: order = 16 << code, code 0..5
MAX_ORDER_CODE = 5
MAX_SHIFT = 20
#: at most this many filtered inputs per channel (keeps |w| < 2**26 and sums inside int64)
MAX_INPUTS = 1 << 20


RING = 4096


@njit(cache=True)
def reset(X, D, w, a, order):
    """Zero state for a stage of ``order`` (arrays sized for :data:`MAX_ORDER`)."""
    X[:] = 0
    D[:] = 0
    w[:] = 0
    a[0] = 0
    a[1] = order


@njit(cache=True)
def _push(X, D, a, p, v):
    """Append input ``v`` at history position ``p`` (spec 13.3 steps 4-7)."""
    av = abs(v)
    avg = a[0]
    if av > avg * 3:
        d = 32
    elif 3 * av > avg * 4:
        d = 16
    elif av > 0:
        d = 8
    else:
        d = 0
    a[0] = avg + ((av - avg) >> 4)
    D[p - 1] >>= 1
    D[p - 2] >>= 1
    D[p - 8] >>= 1
    X[p] = min(max(v, -32768), 32767)
    D[p] = d if v >= 0 else -d


@njit(cache=True)
def forward(v, m, order, shift, X, D, w, a):
    """Encoder: replace the inputs ``v[:m]`` by the stage's outputs."""
    rnd = np.int64(1) << (shift - 1)
    pos = a[1]
    # unsigned indices: numba then emits no negative-index wraparound, and the loops vectorise
    # into contiguous loads instead of gathers (about 2x faster)
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
        _push(X, D, a, pos, x)
        v[i] = o
        pos += 1
        if pos == order + RING:
            X[:order] = X[RING : RING + order]
            D[:order] = D[RING : RING + order]
            pos = order
    a[1] = pos


@njit(cache=True)
def inverse(v, m, order, shift, X, D, w, a):
    """Decoder: replace the outputs ``v[:m]`` by the stage's inputs (exact inverse of :func:`forward`)."""
    rnd = np.int64(1) << (shift - 1)
    pos = a[1]
    # unsigned indices: numba then emits no negative-index wraparound, and the loops vectorise
    # into contiguous loads instead of gathers (about 2x faster)
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
        _push(X, D, a, pos, x)
        v[i] = x
        pos += 1
        if pos == order + RING:
            X[:order] = X[RING : RING + order]
            D[:order] = D[RING : RING + order]
            pos = order
    a[1] = pos

