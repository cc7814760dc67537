"""Partitioned Rice coding of prediction residuals, with escape to raw bits
(``spec/codec-lossless.md`` section 7; after RFC 9639 section 9.2.7).

A residual section is ``sel`` (2 bits: parameter width ``4 + sel`` bits),
``porder`` (4 bits), then ``2**porder`` partitions; partition 0 holds
``(n >> porder) - order`` residuals, the others ``n >> porder``.  Each starts
with its parameter ``k``; the all-ones value is the escape, followed by a 6-bit
width and the residuals as raw two's-complement numbers of that width.
Otherwise each residual ``r`` is zig-zag folded to ``u`` and written as
``u >> k`` zero bits, a one bit, and the low ``k`` bits of ``u``.

The encoder chooses ``sel``, ``porder`` and every ``k`` / escape to minimise
the exact bit count (:func:`plan`).
"""

from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

from . import errcodes as E
from ._jit import kernel
from .bitio import peek64, put_bits, put_zeros, read_bits, read_signed, read_unary

MAX_PORDER = 15  # 4-bit field
MAX_PARAM = 40
ESC_WIDTH_BITS = 6
#: residuals satisfy -2**(w + 4) <= r < 2**(w + 4) for sample width w, i.e. zig-zag u < 2**(w + 5)
RANGE_EXTRA_BITS = 5


@kernel
def zigzag(r):
    return (r << 1) ^ (r >> 63)


@kernel
def unzigzag(u):
    return (u >> 1) ^ -(u & 1)


@kernel
def bit_length(u):
    """Bits needed for the non-negative ``u`` (0 for 0)."""
    return 64 - np.int64(leading_zeros(np.uint64(u)))


@kernel
def param_cap(sel):
    """Largest rice parameter codable with parameter width ``4 + sel``."""
    return min((1 << (4 + sel)) - 2, MAX_PARAM)


@kernel
def max_partition_order(n, order, limit):
    """Largest ``p <= limit`` with ``n % 2**p == 0`` and ``n >> p >= order``."""
    p = 0
    while p < min(limit, MAX_PORDER):
        q = p + 1
        if (n >> q) << q != n or (n >> q) < order:
            break
        p = q
    return p


@kernel
def plan(res, n, order, pmax, params):
    """Choose the exact cheapest residual coding of ``res[:n - order]``.

    Tries partition orders ``0 .. pmax`` (caller: :func:`max_partition_order`)
    and the three parameter widths.  Fills ``params[:2**porder]`` with ``k >= 0``
    or ``-1 - width`` for an escaped partition, and returns ``(bits, sel, porder)``.
    """
    m = n - order
    u = np.empty(m, dtype=np.int64)
    umax_all = np.int64(0)
    for i in range(m):
        v = zigzag(res[i])
        u[i] = v
        umax_all = max(umax_all, v)
    kmax = min(bit_length(umax_all), MAX_PARAM)
    nparts = 1 << pmax
    # heap layout: node 2**p + j is partition j at order p; sums[node, k] = sum(u >> k)
    sums = np.zeros((2 * nparts, kmax + 1), dtype=np.int64)
    umax = np.zeros(2 * nparts, dtype=np.int64)
    cnt = np.zeros(2 * nparts, dtype=np.int64)
    psize = n >> pmax
    for j in range(nparts):
        lo = max(j * psize - order, 0)
        hi = (j + 1) * psize - order
        node = nparts + j
        cnt[node] = hi - lo
        uv = u[lo:hi]
        mx = np.int64(0)
        for i in range(hi - lo):
            mx = max(mx, uv[i])
        umax[node] = mx
        for k in range(min(bit_length(mx), kmax) + 1):
            t = np.int64(0)
            for i in range(hi - lo):
                t += uv[i] >> k
            sums[node, k] = t
    for node in range(nparts - 1, 0, -1):
        a = 2 * node
        for k in range(kmax + 1):
            sums[node, k] = sums[a, k] + sums[a + 1, k]
        umax[node] = max(umax[a], umax[a + 1])
        cnt[node] = cnt[a] + cnt[a + 1]
    # cheapest coding of every node for each parameter width (without the parameter field).
    # The cost S[k] + cnt * (k + 1) is convex in k (its increments cnt - sum ceil((u >> k) / 2)
    # never decrease), so walk downhill from the estimate log2(mean).
    ncost = np.empty((2 * nparts, 3), dtype=np.int64)
    ncode = np.empty((2 * nparts, 3), dtype=np.int64)
    for node in range(1, 2 * nparts):
        c_n = cnt[node]
        k = 0
        if c_n > 0:
            k = min(max(bit_length(sums[node, 0] // c_n) - 1, 0), kmax)
        c = sums[node, k] + c_n * (k + 1)
        while k > 0:
            c2 = sums[node, k - 1] + c_n * k
            if c2 > c:
                break
            k -= 1
            c = c2
        while k < kmax:
            c2 = sums[node, k + 1] + c_n * (k + 2)
            if c2 >= c:
                break
            k += 1
            c = c2
        width = bit_length(umax[node])
        esc = ESC_WIDTH_BITS + c_n * width
        for sel in range(3):
            cap = param_cap(sel)
            ks = k
            cs = c
            if ks > cap:
                ks = cap
                cs = sums[node, cap] + c_n * (cap + 1)
            if esc < cs:
                ncost[node, sel] = esc
                ncode[node, sel] = -1 - width
            else:
                ncost[node, sel] = cs
                ncode[node, sel] = ks
    best = np.int64(-1)
    best_sel = 0
    best_p = 0
    for p in range(pmax + 1):
        for sel in range(3):
            total = np.int64(2 + 4 + (4 + sel) * (1 << p))
            for node in range(1 << p, 2 << p):
                total += ncost[node, sel]
            if best < 0 or total < best:
                best = total
                best_sel = sel
                best_p = p
    for j in range(1 << best_p):
        params[j] = ncode[(1 << best_p) + j, best_sel]
    return best, best_sel, best_p


@kernel
def estimate(res, n, order, pmax):
    """Quick estimate of :func:`plan`'s bit count (libFLAC's method: each
    partition's parameter from its mean, ``sum(u >> k)`` taken as ``sum(u) >> k``)."""
    nparts = 1 << pmax
    tot = np.zeros(2 * nparts, dtype=np.int64)
    cnt = np.zeros(2 * nparts, dtype=np.int64)
    psize = n >> pmax
    for j in range(nparts):
        lo = max(j * psize - order, 0)
        hi = (j + 1) * psize - order
        rv = res[lo:hi]
        t = np.int64(0)
        for i in range(hi - lo):
            r = rv[i]
            t += (r << 1) ^ (r >> 63)
        tot[nparts + j] = t
        cnt[nparts + j] = hi - lo
    for node in range(nparts - 1, 0, -1):
        tot[node] = tot[2 * node] + tot[2 * node + 1]
        cnt[node] = cnt[2 * node] + cnt[2 * node + 1]
    best = np.int64(-1)
    for p in range(pmax + 1):
        bits = np.int64(6)
        for node in range(1 << p, 2 << p):
            c_n = cnt[node]
            k = 0
            if c_n > 0:
                k = min(max(bit_length(tot[node] // c_n) - 1, 0), MAX_PARAM)
            bits += 5 + c_n * (k + 1) + (tot[node] >> k)
        if best < 0 or bits < best:
            best = bits
    return best


@kernel
def write(buf, st, res, n, order, sel, porder, params):
    """Write the residual section chosen by :func:`plan`."""
    put_bits(buf, st, sel, 2)
    put_bits(buf, st, porder, 4)
    pbits = 4 + sel
    esc = (1 << pbits) - 1
    psize = n >> porder
    for j in range(1 << porder):
        lo = max(j * psize - order, 0)
        hi = (j + 1) * psize - order
        code = params[j]
        if code < 0:
            width = -1 - code
            put_bits(buf, st, esc, pbits)
            put_bits(buf, st, width, ESC_WIDTH_BITS)
            for i in range(lo, hi):
                put_bits(buf, st, res[i], width)
        else:
            k = code
            put_bits(buf, st, k, pbits)
            top = np.int64(1) << k
            mask = top - 1
            for i in range(lo, hi):
                u = zigzag(res[i])
                q = u >> k
                if q + 1 + k <= 56:
                    put_bits(buf, st, top | (u & mask), q + 1 + k)
                else:
                    put_zeros(buf, st, q)
                    put_bits(buf, st, top | (u & mask), k + 1)


@kernel
def read(buf, bp, nbits, n, order, width, out):
    """Decode a residual section into ``out[:n - order]`` for samples of ``width`` bits.

    ``buf`` is padded (see :mod:`.bitio`) and ``bp <= nbits``.  Returns
    ``(error code, bit position)``; every field is checked before use.
    """
    if bp + 6 > nbits:
        return E.TRUNCATED, bp
    sel = read_bits(buf, bp, 2)
    porder = read_bits(buf, bp + 2, 4)
    if sel == 3:
        return E.PARAM_WIDTH, bp
    bp += 6
    if (n >> porder) << porder != n or (n >> porder) < order:
        return E.PARTITION_ORDER, bp - 4
    pbits = 4 + sel
    esc = (1 << pbits) - 1
    cap = param_cap(sel)
    ulim = np.int64(1) << (width + RANGE_EXTRA_BITS)  # zig-zag values must be < ulim
    psize = n >> porder
    pos = 0
    for j in range(1 << porder):
        cnt = psize - order if j == 0 else psize
        if bp + pbits > nbits:
            return E.TRUNCATED, bp
        k = read_bits(buf, bp, pbits)
        bp += pbits
        if k == esc:
            if bp + ESC_WIDTH_BITS > nbits:
                return E.TRUNCATED, bp
            w = read_bits(buf, bp, ESC_WIDTH_BITS)
            if w > width + RANGE_EXTRA_BITS:
                return E.ESCAPE_WIDTH, bp
            bp += ESC_WIDTH_BITS
            if bp + cnt * w > nbits:
                return E.TRUNCATED, bp
            for i in range(cnt):
                out[pos + i] = read_signed(buf, bp, w)
                bp += w
            pos += cnt
            continue
        if k > cap:
            return E.RICE_PARAM, bp - pbits
        qlim = (ulim - 1) >> k
        for i in range(cnt):
            start = bp
            w64 = peek64(buf, bp)
            if w64 != np.uint64(0):
                q = np.int64(leading_zeros(w64))
                if q + 1 + k <= 64:
                    low = np.int64(0)
                    if k > 0:
                        low = np.int64((w64 << np.uint64(q + 1)) >> np.uint64(64 - k))
                    bp += q + 1 + k
                else:
                    bp += q + 1
                    low = read_bits(buf, bp, k)
                    bp += k
            else:
                q, bp = read_unary(buf, bp, nbits, qlim)
                if bp > nbits:
                    return E.TRUNCATED, start
                low = read_bits(buf, bp, k)
                bp += k
            if bp > nbits:
                return E.TRUNCATED, start
            if q > qlim:  # checked first: q << k must not overflow
                return E.RESIDUAL_RANGE, start
            u = (q << k) | low
            if u >= ulim:  # possible when k > width + 5
                return E.RESIDUAL_RANGE, start
            out[pos + i] = (u >> 1) ^ -(u & 1)
        pos += cnt
    return E.OK, bp
