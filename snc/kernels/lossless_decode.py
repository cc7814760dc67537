"""Decoder of the ``lossless`` packet format (``spec/codec-lossless.md``).

Pure integer arithmetic.  ``buf`` is the packet followed by zero padding
(:func:`snc.kernels.bitio.padded`); ``nbits`` is the packet's length in bits.
Every field is checked against the remaining length and its legal range
before it is used, and every reconstructed sample against its bit width, so
corrupt data yields an error code -- never an out-of-bounds access, an int64
overflow, or an allocation larger than the output.
"""

from __future__ import annotations

import numpy as np

from . import adaptive_residual, lpc, nn, rice
from . import errcodes as E
from . import rangecoder as rc
from ._jit import kernel
from .bitio import read_bits, read_signed

METHOD_V1 = 1
METHOD_V2 = 2
METHOD_V3 = 3
MAX_BLOCK = 1 << 16


#: what :func:`read_subframe` leaves for :func:`finish_subframe`, one row per subframe
SF_TYPE, SF_ORDER, SF_SHIFT, SF_WASTED, SF_WIDTH = range(5)
SF_LEN = 5
T_CONSTANT, T_VERBATIM, T_FIXED, T_LPC = range(4)


@kernel
def read_subframe(buf, bp, nbits, n, width, x, sf, coefs, residuals=True):
    """Read one subframe of ``n`` samples of ``width`` bits (spec section 5): constant
    and verbatim subframes are decoded into ``x[:n]``; a predicted one leaves its
    warm-up samples in ``x[:order]``, its coded residuals in ``x[order:n]``, its
    predictor in ``coefs`` and its header fields in ``sf`` for :func:`finish_subframe`
    (method 2 first undoes the adaptive filters on the residuals of every channel).  Without
    ``residuals`` (method 3) the residual section is not in the bit stream (spec 14.1).

    Returns ``(error code, bit position)``.
    """
    if bp + 3 > nbits:
        return E.TRUNCATED, bp
    t = read_bits(buf, bp, 2)
    flag = read_bits(buf, bp + 2, 1)
    bp += 3
    wasted = 0
    if flag:
        if bp + 5 > nbits:
            return E.TRUNCATED, bp
        wasted = read_bits(buf, bp, 5) + 1
        if wasted >= width:
            return E.WASTED_BITS, bp
        bp += 5
    ws = width - wasted
    sf[SF_TYPE] = t
    sf[SF_ORDER] = 0
    sf[SF_SHIFT] = 0
    sf[SF_WASTED] = wasted
    sf[SF_WIDTH] = ws
    if t == T_CONSTANT:
        if bp + ws > nbits:
            return E.TRUNCATED, bp
        v = read_signed(buf, bp, ws)
        bp += ws
        for i in range(n):
            x[i] = v
        return E.OK, bp
    if t == T_VERBATIM:
        if bp + n * ws > nbits:
            return E.TRUNCATED, bp
        for i in range(n):
            x[i] = read_signed(buf, bp, ws)
            bp += ws
        return E.OK, bp
    if t == T_FIXED:
        if bp + 3 > nbits:
            return E.TRUNCATED, bp
        order = read_bits(buf, bp, 3)
        if order > lpc.MAX_FIXED_ORDER or order > n:
            return E.ORDER, bp
        bp += 3
    else:
        if bp + 5 > nbits:
            return E.TRUNCATED, bp
        order = read_bits(buf, bp, 5) + 1
        if order > n:
            return E.ORDER, bp
        bp += 5
    sf[SF_ORDER] = order
    if bp + order * ws > nbits:
        return E.TRUNCATED, bp
    for i in range(order):
        x[i] = read_signed(buf, bp, ws)
        bp += ws
    if t == T_FIXED:
        for j in range(order):
            coefs[j] = lpc.FIXED_COEFS[order, j]
    else:
        if bp + 9 > nbits:
            return E.TRUNCATED, bp
        prec = read_bits(buf, bp, 4) + 1
        if prec == 16:
            return E.PRECISION, bp
        sf[SF_SHIFT] = read_bits(buf, bp + 4, 5)
        bp += 9
        if bp + order * prec > nbits:
            return E.TRUNCATED, bp
        for j in range(order):
            coefs[j] = read_signed(buf, bp, prec)
            bp += prec
    if not residuals:
        return E.OK, bp
    return rice.read(buf, bp, nbits, n, order, ws, x[order:])


@kernel
def unfilter_block(work, n, sfs, nst, forders, fshifts, Xs, Ds, Ws, As):
    """Method 2 (spec 13.2): undo the filter cascades on the residuals of every
    predicted subframe of a block, last stage first.  Two predicted subframes run
    through :func:`snc.kernels.nn.inverse_pair` (twice as many independent chains)."""
    channels = sfs.shape[0]
    for k in range(nst - 1, -1, -1):
        c = 0
        while c < channels:
            o = sfs[c, SF_ORDER]
            if sfs[c, SF_TYPE] < T_FIXED:
                c += 1
                continue
            r = c * nst + k
            d = c + 1  # the next predicted subframe, if any, goes along
            while d < channels and sfs[d, SF_TYPE] < T_FIXED:
                d += 1
            if d < channels:
                o1 = sfs[d, SF_ORDER]
                r1 = d * nst + k
                nn.inverse_pair(work[c, o:n], n - o, work[d, o1:n], n - o1, forders[k], fshifts[k],
                                Xs[r], Ds[r], Ws[r], As[r], Xs[r1], Ds[r1], Ws[r1], As[r1])
                c = d + 1
            else:
                nn.inverse(work[c, o:n], n - o, forders[k], fshifts[k], Xs[r], Ds[r], Ws[r], As[r])
                c += 1


@kernel
def finish_subframe(x, n, sf, coefs):
    """Restore a predicted subframe's samples from its residuals (spec section 6), then
    its wasted bits.  Returns an error code."""
    t = sf[SF_TYPE]
    if t >= T_FIXED:
        ws = sf[SF_WIDTH]
        lo = -(np.int64(1) << (ws - 1))
        hi = (np.int64(1) << (ws - 1)) - 1
        if lpc.restore(x, n, coefs[: sf[SF_ORDER]], sf[SF_ORDER], sf[SF_SHIFT], lo, hi) >= 0:
            return E.SAMPLE_RANGE
    wasted = sf[SF_WASTED]
    if wasted:
        for i in range(n):
            x[i] <<= wasted
    return E.OK


@kernel(nogil=True)  # a player decodes ahead in a thread while it plays
def decode_packet(buf, nbits, out, bits):
    """Decode a packet into ``out`` (int32, frames x channels).  Returns ``(error code, bit position)``."""
    frames, channels = out.shape
    if buf.shape[0] * 8 < nbits + 128 or nbits % 8 != 0:
        return E.SHAPE, 0
    if nbits < 8:
        return E.TRUNCATED, 0
    method = read_bits(buf, 0, 8)
    if method != METHOD_V1 and method != METHOD_V2 and method != METHOD_V3:
        return E.METHOD, 0
    bp = 8
    nst = 0
    forders = np.zeros(nn.MAX_STAGES, dtype=np.int64)
    fshifts = np.zeros(nn.MAX_STAGES, dtype=np.int64)
    if method != METHOD_V1:
        if frames > nn.MAX_INPUTS:
            return E.TOO_LONG, 0
        if bp + 2 > nbits:
            return E.TRUNCATED, bp
        nst = read_bits(buf, bp, 2)
        bp += 2
        if bp + 8 * nst > nbits:
            return E.TRUNCATED, bp
        for k in range(nst):
            code = read_bits(buf, bp, 3)
            sh = read_bits(buf, bp + 3, 5)
            if code > nn.MAX_ORDER_CODE or sh < 1 or sh > nn.MAX_SHIFT:
                return E.FILTER, bp
            forders[k] = 16 << code
            fshifts[k] = sh
            bp += 8
    # method 3 (spec 14.1): the byte offset of the range-coded residuals; the blocks end before it
    adaptive = method == METHOD_V3
    head_end = nbits
    rst = np.zeros(rc.DS_LEN, dtype=np.int64)
    models = np.zeros(0, dtype=np.int64)
    means = np.zeros(channels, dtype=np.int64)
    if adaptive:
        if bp + 32 > nbits:
            return E.TRUNCATED, bp
        start = read_bits(buf, bp, 32)
        bp += 32
        if start * 8 < bp or start * 8 > nbits:
            return E.RANGE_OFFSET, bp
        head_end = start * 8
        rc.dec_init(buf, rst, start, nbits // 8)
        models = adaptive_residual.new_models(channels)
    nrows = max(channels * nst, 1)
    Xs = np.zeros((nrows, nn.MAX_ORDER + nn.RING), dtype=np.int32)
    Ds = np.zeros((nrows, nn.MAX_ORDER + nn.RING), dtype=np.int32)
    Ws = np.zeros((nrows, nn.MAX_ORDER), dtype=np.int32)
    As = np.zeros((nrows, 2), dtype=np.int64)
    for c in range(channels):
        for k in range(nst):
            As[c * nst + k, 1] = forders[k]
    work = np.empty((channels, min(frames, MAX_BLOCK)), dtype=np.int64)
    sfs = np.zeros((channels, SF_LEN), dtype=np.int64)
    coefs = np.zeros((channels, lpc.MAX_ORDER), dtype=np.int64)
    lo = -(np.int64(1) << (bits - 1))
    hi = (np.int64(1) << (bits - 1)) - 1
    pos = 0
    while pos < frames:
        head = 18 if channels == 2 else 16
        if bp + head > head_end:
            return E.TRUNCATED, bp
        n = read_bits(buf, bp, 16) + 1
        if n > frames - pos:
            return E.BLOCK_SIZE, bp
        mode = 0
        if channels == 2:
            mode = read_bits(buf, bp + 16, 2)
        bp += head
        for c in range(channels):
            side = (mode == 1 and c == 1) or (mode == 2 and c == 0) or (mode == 3 and c == 1)
            width = bits + (1 if side else 0)
            err, bp = read_subframe(buf, bp, head_end, n, width, work[c], sfs[c], coefs[c], not adaptive)
            if err != E.OK:
                return err, bp
            if adaptive and sfs[c, SF_TYPE] >= T_FIXED:
                o = sfs[c, SF_ORDER]
                limit = np.int64(1) << (sfs[c, SF_WIDTH] + rice.RANGE_EXTRA_BITS)
                if adaptive_residual.decode_values(buf, rst, models, c * adaptive_residual.MODELS_PER_INDEX, means,
                                                   c, work[c, o:n], n - o, limit) != 0:
                    return E.RESIDUAL_RANGE, bp
                if rc.dec_phantom(rst) > rc.LOOKAHEAD:
                    return E.TRUNCATED, bp
        if nst > 0:
            unfilter_block(work, n, sfs, nst, forders, fshifts, Xs, Ds, Ws, As)
        for c in range(channels):
            err = finish_subframe(work[c], n, sfs[c], coefs[c])
            if err != E.OK:
                return err, bp
        if mode != 0:
            a = work[0]
            b = work[1]
            for i in range(n):
                if mode == 1:  # left, side
                    b[i] = a[i] - b[i]
                elif mode == 2:  # side, right
                    a[i] = a[i] + b[i]
                else:  # mid, side
                    m = (a[i] << 1) | (b[i] & 1)
                    s = b[i]
                    a[i] = (m + s) >> 1
                    b[i] = (m - s) >> 1
        for c in range(channels):
            for i in range(n):
                v = work[c, i]
                if v < lo or v > hi:
                    return E.SAMPLE_RANGE, bp
                out[pos + i, c] = v
        pos += n
    # spec section 3: zero padding to the byte boundary, nothing after it
    end = (bp + 7) // 8 * 8
    if adaptive:
        if end != head_end:
            return E.RANGE_OFFSET, bp
        if read_bits(buf, bp, end - bp) != 0:
            return E.PADDING, bp
        check = rc.dec_finish(rst)
        if check == rc.RC_TRUNCATED:
            return E.TRUNCATED, nbits
        if check == rc.RC_TRAILING:
            return E.TRAILING, rst[rc.DS_POS] * 8
        if check != rc.RC_OK:
            return E.RANGE_END, nbits
        return E.OK, nbits
    if end > nbits:
        return E.TRUNCATED, bp
    if read_bits(buf, bp, end - bp) != 0:
        return E.PADDING, bp
    if end != nbits:
        return E.TRAILING, end
    return E.OK, end
