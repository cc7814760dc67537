"""Encoder of the ``lossless`` packet format (``spec/codec-lossless.md``).

Per block and channel the encoder searches a subframe (spec section 5):
CONSTANT if all samples are equal, else -- after removing wasted bits --
VERBATIM, the FIXED order with the smallest residual, and one LPC predictor
per analysis window (after libFLAC's ``subdivide_tukey``), of the order
libFLAC's error estimate prefers.  The predictors are ranked by a quick bit
estimate of their actual residual (``rice.estimate``); the best is costed
exactly (``rice.plan``) and written if it beats VERBATIM.  Stereo blocks cost
all four channel assignments (section 4), like libFLAC without
``--loose-mid-side``.  None of these choices is normative: any encoder that
writes valid packets is conforming.
"""

from __future__ import annotations

import numpy as np

from . import adaptive_residual, lpc, nn, rice
from . import rangecoder as rc
from ._jit import kernel
from .arrays import copy
from .bitio import flush, put_bits, put_long, room

METHOD_V1 = 1

# subframe types (spec section 5)
CONSTANT, VERBATIM, FIXED, LPC = 0, 1, 2, 3
# stereo modes (spec section 4)
INDEPENDENT, LEFT_SIDE, SIDE_RIGHT, MID_SIDE = 0, 1, 2, 3

# -- search settings (encoder choices, not part of the format) ------------------------------
#: largest partition order the encoder tries
PMAX = 8
#: ... when estimating the bits of a candidate predictor
PMAX_ESTIMATE = 6
#: analysis windows: the block, its halves, .. (up to this many parts)
WINDOW_LEVELS = 3
#: LPC candidates (best by the window's prediction gain) whose residual is estimated; 9 = all
RESIDUAL_CANDIDATES = 9
#: LPC candidates (best by estimate) costed exactly
EXACT_CANDIDATES = 1
#: the FIXED and LPC candidates are both costed exactly if their estimates are this close
EXACT_MARGIN = 0.0
#: blocks shorter than this cost every FIXED order exactly
SHORT_BLOCK = 32

# slots of a subframe plan (int64 array): header fields, LPC coefficients, residual coding
TYPE, WASTED, ORDER, PREC, SHIFT, BITS, VALUE, SEL, PORDER = range(9)
COEFS = 16
PARAMS = COEFS + lpc.MAX_ORDER
PLAN_LEN = PARAMS + (1 << PMAX)


@kernel
def default_precision(width, n):
    """Coefficient precision for ``width``-bit audio in blocks of ``n`` (libFLAC's choice)."""
    if width < 16:
        return max(5, 2 + width // 2)
    if width == 16:
        if n <= 192:
            return 7
        if n <= 384:
            return 8
        if n <= 576:
            return 9
        if n <= 1152:
            return 10
        if n <= 2304:
            return 11
        if n <= 4608:
            return 12
        return 13
    return 15


@kernel
def _header_bits(wasted):
    return 3 + (5 if wasted else 0)


@kernel
def _try_residual(xs, xf, n, coefs, order, shift, width, cres, params):
    """Residual of one predictor into ``cres`` and its exact coding (``rice.plan``):
    returns ``(bits, sel, porder)`` with the parameters in ``params``, or bits = -1
    if a residual is out of the range of spec section 7.4."""
    umax = lpc.residual(xs, xf, n, coefs, order, shift, cres)
    if umax >= (np.int64(1) << (width + rice.RANGE_EXTRA_BITS)):
        return -1, 0, 0
    pmax = rice.max_partition_order(n, order, PMAX)
    return rice.plan(cres, n, order, pmax, params)


@kernel
def _keep_residual(plan, res, cres, n, order, sel, porder, params):
    """Record the chosen predictor's residual and its coding in ``plan`` / ``res``."""
    copy(res, 0, cres, 0, n - order)
    plan[SEL] = sel
    plan[PORDER] = porder
    copy(plan, PARAMS, params, 0, 1 << porder)


@kernel
def _lpc_candidates(xs, xf, n, ws, windows, segs, maxo, prec, q, orders, shifts, est, cres):
    """Quantised LPC predictors from the analysis windows, best first.

    One predictor per window and per punched-out window (whose autocorrelation
    is taken as the sum of the other parts'), of the order libFLAC's estimate
    prefers.  The :data:`RESIDUAL_CANDIDATES` with the best prediction gain are
    ranked by ``rice.estimate`` of their actual residual plus their coefficient
    and warm-up bits (``est``).  Fills the first ``k <= len(orders)`` entries of
    ``q`` / ``orders`` / ``shifts`` / ``est``; returns ``k``.
    """
    rows = windows.shape[0]
    levels = 1
    while levels * (levels + 1) // 2 < rows:
        levels += 1
    ncand = rows
    for k in range(3, levels + 1):
        ncand += k
    acs = np.zeros((ncand, maxo + 1))
    y = np.empty(n)
    for r in range(rows):
        s0 = segs[r, 0]
        m = segs[r, 1] - s0
        for i in range(m):
            y[i] = xf[s0 + i] * windows[r, s0 + i]
        lpc.autocorrelation(y, m, maxo, acs[r])
    c = rows
    for k in range(3, levels + 1):
        first = k * (k - 1) // 2
        for j in range(k):
            for r in range(first, first + k):
                if r != first + j:
                    acs[c] += acs[r]
            c += 1

    energy = 0.0
    for i in range(n):
        energy += xf[i] * xf[i]
    coefs = np.zeros((maxo, maxo))
    errs = np.zeros(maxo)
    qs = np.zeros((ncand, lpc.MAX_ORDER), dtype=np.int64)
    c_order = np.zeros(ncand, dtype=np.int64)
    c_shift = np.full(ncand, -1, dtype=np.int64)
    proxy = np.full(ncand, np.inf)
    for c in range(ncand):
        nvalid = lpc.levinson(acs[c], maxo, coefs, errs)
        if nvalid == 0:
            continue
        order = 1
        e_best = lpc.expected_bits(errs[0], n, 1, prec + ws)
        for o in range(2, nvalid + 1):
            e = lpc.expected_bits(errs[o - 1], n, o, prec + ws)
            if e < e_best:
                e_best = e
                order = o
        shift = lpc.quantize(coefs[order - 1], order, prec, 31, qs[c])
        if shift < 0:
            continue
        c_order[c] = order
        c_shift[c] = shift
        # the window's prediction gain applied to the whole block's energy
        proxy[c] = lpc.expected_bits(errs[order - 1] / acs[c, 0] * energy, n, order, prec + ws)
    ranked = np.argsort(proxy)
    kept = 0
    for t0 in range(min(ncand, RESIDUAL_CANDIDATES)):
        c = ranked[t0]
        if c_shift[c] < 0:
            break
        order = c_order[c]
        shift = c_shift[c]
        qc = qs[c]
        umax = lpc.residual(xs, xf, n, qc, order, shift, cres)
        if umax >= (np.int64(1) << (ws + rice.RANGE_EXTRA_BITS)):
            continue
        pmax = rice.max_partition_order(n, order, PMAX_ESTIMATE)
        score = rice.estimate(cres, n, order, pmax) + order * (prec + ws)
        # insert into the sorted short list
        pos = kept
        while pos > 0 and score < est[pos - 1]:
            pos -= 1
        if pos >= len(orders):
            continue
        last = min(kept, len(orders) - 1)
        for t in range(last, pos, -1):
            est[t] = est[t - 1]
            orders[t] = orders[t - 1]
            shifts[t] = shifts[t - 1]
            q[t] = q[t - 1]
        est[pos] = score
        orders[pos] = order
        shifts[pos] = shift
        q[pos] = qc
        kept = min(kept + 1, len(orders))
    return kept


@kernel
def analyse(x, n, width, stream_bits, windows, segs, max_order, plan, res):
    """Choose the subframe for ``x[:n]``: samples of ``width`` bits from a
    stream of ``stream_bits``-bit samples (``width`` is one more for a side
    channel).  Fills ``plan`` and, for predictors, ``res[:n - order]``; returns
    the exact bit count of the subframe.
    """
    plan[:] = 0
    v0 = x[0]
    const = True
    acc = np.int64(0)
    for i in range(n):
        acc |= x[i]
        if x[i] != v0:
            const = False
    if const:
        plan[TYPE] = CONSTANT
        plan[VALUE] = v0
        plan[BITS] = 3 + width
        return plan[BITS]
    wasted = 0
    while (acc >> wasted) & 1 == 0:
        wasted += 1
    xs = x[:n] >> wasted
    ws = width - wasted
    head = _header_bits(wasted)
    plan[WASTED] = wasted
    plan[TYPE] = VERBATIM
    best = head + n * ws
    xf = xs.astype(np.float64)
    cres = np.empty(n, dtype=np.int64)
    params = np.empty(1 << PMAX, dtype=np.int64)

    # fixed predictors: the order with the smallest residual (libFLAC's choice)
    sums = np.zeros(5)
    lpc.fixed_abs_sums(xs, n, sums)
    top = min(lpc.MAX_FIXED_ORDER, n)
    guess = 0
    for o in range(1, top + 1):
        if sums[o] < sums[guess]:
            guess = o
    if n < SHORT_BLOCK:  # short blocks: cost every order exactly
        for o in range(top + 1):
            bits, sel, porder = _try_residual(xs, xf, n, lpc.FIXED_COEFS[o], o, 0, ws, cres, params)
            if bits >= 0 and head + 3 + o * ws + bits < best:
                best = head + 3 + o * ws + bits
                plan[TYPE] = FIXED
                plan[ORDER] = o
                _keep_residual(plan, res, cres, n, o, sel, porder, params)
        fixed_est = np.inf
    else:
        lpc.residual(xs, xf, n, lpc.FIXED_COEFS[guess], guess, 0, cres)
        pmax = rice.max_partition_order(n, guess, PMAX)
        fixed_est = head + 3 + guess * ws + rice.estimate(cres, n, guess, pmax)

    # LPC: one candidate per analysis window, the best by estimate
    maxo = min(max_order, n // 4)
    lpc_est = np.inf
    q = np.zeros((EXACT_CANDIDATES, lpc.MAX_ORDER), dtype=np.int64)
    orders = np.zeros(EXACT_CANDIDATES, dtype=np.int64)
    shifts = np.zeros(EXACT_CANDIDATES, dtype=np.int64)
    ests = np.full(EXACT_CANDIDATES, np.inf)
    nbest = 0
    prec = default_precision(min(stream_bits, ws), n)
    if maxo >= 1:
        nbest = _lpc_candidates(xs, xf, n, ws, windows, segs, maxo, prec, q, orders, shifts, ests, cres)
        if nbest > 0:
            lpc_est = head + 5 + 4 + 5 + ests[0]

    # exact costs of the promising candidates
    if n >= SHORT_BLOCK and fixed_est <= lpc_est * (1.0 + EXACT_MARGIN):
        bits, sel, porder = _try_residual(xs, xf, n, lpc.FIXED_COEFS[guess], guess, 0, ws, cres, params)
        if bits >= 0 and head + 3 + guess * ws + bits < best:
            best = head + 3 + guess * ws + bits
            plan[TYPE] = FIXED
            plan[ORDER] = guess
            _keep_residual(plan, res, cres, n, guess, sel, porder, params)
    for c in range(nbest):
        if head + 5 + 4 + 5 + ests[c] > fixed_est * (1.0 + EXACT_MARGIN):
            break
        order = orders[c]
        bits, sel, porder = _try_residual(xs, xf, n, q[c], order, shifts[c], ws, cres, params)
        if bits < 0:
            continue
        bits += head + 5 + order * ws + 4 + 5 + order * prec
        if bits < best:
            best = bits
            plan[TYPE] = LPC
            plan[ORDER] = order
            plan[PREC] = prec
            plan[SHIFT] = shifts[c]
            copy(plan, COEFS, q[c], 0, order)
            _keep_residual(plan, res, cres, n, order, sel, porder, params)
    plan[BITS] = best
    return best


@kernel
def write_subframe(buf, st, x, n, width, plan, res, residuals=True):
    """Write the subframe chosen by :func:`analyse` (spec section 5); without its residual
    section when ``residuals`` is false (method 3, spec 14.1)."""
    t = plan[TYPE]
    wasted = plan[WASTED]
    put_bits(buf, st, t, 2)
    if wasted:
        put_bits(buf, st, 1, 1)
        put_bits(buf, st, wasted - 1, 5)
    else:
        put_bits(buf, st, 0, 1)
    ws = width - wasted
    if t == CONSTANT:
        put_long(buf, st, plan[VALUE], width)
        return
    if t == VERBATIM:
        for i in range(n):
            put_long(buf, st, x[i] >> wasted, ws)
        return
    order = plan[ORDER]
    if t == FIXED:
        put_bits(buf, st, order, 3)
    else:
        put_bits(buf, st, order - 1, 5)
    for i in range(order):
        put_long(buf, st, x[i] >> wasted, ws)
    if t == LPC:
        prec = plan[PREC]
        put_bits(buf, st, prec - 1, 4)
        put_bits(buf, st, plan[SHIFT], 5)
        for j in range(order):
            put_bits(buf, st, plan[COEFS + j], prec)
    if residuals:
        rice.write(buf, st, res, n, order, plan[SEL], plan[PORDER], plan[PARAMS:])


@kernel
def bound_bytes(frames, channels, bits, block_frames):
    """Upper bound of an encoded packet's size (every subframe verbatim at worst)."""
    nblocks = (frames + block_frames - 1) // block_frames
    return 1 + nblocks * (3 + channels * 2) + (frames * channels * (bits + 1) + 7) // 8 + 16


@kernel
def plan_block(x, pos, n, bits, max_order, windows, segs, sig, res, plans, widths, cost, chans):
    """Analyse the block ``x[pos:pos + n]``: every candidate signal (L, R and, for stereo,
    mid and side), its best predictor plan, and the cheapest stereo mode (spec section 9).

    Fills ``sig``, ``res``, ``plans`` and ``cost`` per candidate and ``chans`` with the
    candidates coded for the chosen mode, which it returns.
    """
    channels = x.shape[1]
    for c in range(channels):
        chans[c] = c
        for i in range(n):
            sig[c, i] = x[pos + i, c]
    if channels == 2:
        for i in range(n):
            sig[2, i] = (sig[0, i] + sig[1, i]) >> 1
            sig[3, i] = sig[0, i] - sig[1, i]
    for c in range(sig.shape[0]):
        cost[c] = analyse(sig[c], n, widths[c], bits, windows, segs, max_order, plans[c], res[c])
    mode = INDEPENDENT
    if channels == 2:
        best = cost[0] + cost[1]
        for m, a, b in ((LEFT_SIDE, 0, 3), (SIDE_RIGHT, 3, 1), (MID_SIDE, 2, 3)):
            if cost[a] + cost[b] < best:
                best = cost[a] + cost[b]
                mode = m
                chans[0] = a
                chans[1] = b
    return mode


@kernel
def encode_packet(x, bits, block_frames, max_order, buf, st):
    """Encode ``x`` (int32, frames x channels) into ``buf`` (size :func:`bound_bytes`).

    Returns the number of bytes written, or -1 if the buffer was too small (a bug).
    """
    frames, channels = x.shape
    put_bits(buf, st, METHOD_V1, 8)
    nsig = 4 if channels == 2 else channels
    sig = np.empty((nsig, min(block_frames, max(frames, 1))), dtype=np.int64)
    res = np.empty_like(sig)
    plans = np.zeros((nsig, PLAN_LEN), dtype=np.int64)
    widths = np.full(nsig, bits, dtype=np.int64)
    if channels == 2:
        widths[3] = bits + 1  # side
    windows, segs = lpc.make_windows(1, WINDOW_LEVELS)
    cost = np.zeros(nsig, dtype=np.int64)
    chans = np.arange(channels)
    pos = 0
    while pos < frames:
        n = min(block_frames, frames - pos)
        if windows.shape[1] != n:
            windows, segs = lpc.make_windows(n, WINDOW_LEVELS)
        mode = plan_block(x, pos, n, bits, max_order, windows, segs, sig, res, plans, widths, cost, chans)
        total = 16 + (2 if channels == 2 else 0)
        for c in chans:
            total += cost[c]
        if room(buf, st) < total // 8 + 16:
            return -1
        put_bits(buf, st, n - 1, 16)
        if channels == 2:
            put_bits(buf, st, mode, 2)
        for c in chans:
            write_subframe(buf, st, sig[c], n, widths[c], plans[c], res[c])
        pos += n
    return flush(buf, st)


# -- method 2: the same blocks, residuals through cascaded adaptive filters (spec section 13) ----

METHOD_V2 = 2


@kernel
def _rice_part(plan, width):
    """Bits of the residual section of a FIXED / LPC ``plan`` (its total minus the header fields)."""
    ws = width - plan[WASTED]
    order = plan[ORDER]
    head = _header_bits(plan[WASTED])
    if plan[TYPE] == FIXED:
        head += 3 + order * ws
    else:
        head += 5 + order * ws + 4 + 5 + order * plan[PREC]
    return plan[BITS] - head


@kernel
def plan_packet(x, bits, block_frames, max_order):
    """The blocks, channel assignments and predictors of a packet of ``x`` (as :func:`encode_packet`
    chooses them): ``(csig, cres, cplans, cwidth, modes, total1)``, the chosen subframes' samples,
    predictor residuals, plans and widths, each block's channel assignment, and the method-1 size in
    bits.  Independent of the filter cascade: an encoder that tries several cascades plans once."""
    frames, channels = x.shape
    nsig = 4 if channels == 2 else channels
    bf = min(block_frames, max(frames, 1))
    nblocks = (frames + block_frames - 1) // block_frames
    sig = np.empty((nsig, bf), dtype=np.int64)
    res = np.empty_like(sig)
    plans = np.zeros((nsig, PLAN_LEN), dtype=np.int64)
    widths = np.full(nsig, bits, dtype=np.int64)
    if channels == 2:
        widths[3] = bits + 1  # side
    # the chosen subframes of the whole packet
    csig = np.empty((channels, max(frames, 1)), dtype=np.int64)
    cres = np.empty((channels, max(frames, 1)), dtype=np.int64)
    cplans = np.zeros((max(nblocks, 1), channels, PLAN_LEN), dtype=np.int64)
    cwidth = np.zeros((max(nblocks, 1), channels), dtype=np.int64)
    modes = np.zeros(max(nblocks, 1), dtype=np.int64)
    windows, segs = lpc.make_windows(1, WINDOW_LEVELS)
    cost = np.zeros(nsig, dtype=np.int64)
    chans = np.arange(channels)
    total1 = np.int64(8)
    pos = 0
    b = 0
    while pos < frames:
        n = min(block_frames, frames - pos)
        if windows.shape[1] != n:
            windows, segs = lpc.make_windows(n, WINDOW_LEVELS)
        mode = plan_block(x, pos, n, bits, max_order, windows, segs, sig, res, plans, widths, cost, chans)
        total1 += 16 + (2 if channels == 2 else 0)
        modes[b] = mode
        for slot in range(channels):
            c = chans[slot]
            total1 += cost[c]
            copy(cplans[b, slot], 0, plans[c], 0, PLAN_LEN)
            cwidth[b, slot] = widths[c]
            copy(csig[slot], pos, sig[c], 0, n)
            copy(cres[slot], pos, res[c], 0, n)
        pos += n
        b += 1
    return csig, cres, cplans, cwidth, modes, total1


@kernel
def encode_planned(x, bits, block_frames, csig, cres, cplans, cwidth, modes, total1, forders, fshifts, adaptive, buf,
                   st):
    """Encode ``x`` from its :func:`plan_packet` plan, which it leaves unchanged (an encoder may try several
    cascades on one plan): as a method-2 packet with the filter stages ``forders`` / ``fshifts`` (``16 << code``
    orders), the planned residuals through the cascade and every residual section re-planned, or as a
    method-1 packet when that is not larger; with ``adaptive`` also as a method-3 packet (the chosen
    residuals range coded, spec section 14), written when it is the smallest.  Returns the number of bytes
    written, or -1 if the buffer was too small (a bug)."""
    frames, channels = x.shape
    nst = forders.shape[0]
    nblocks = (frames + block_frames - 1) // block_frames
    # method 2: filter the chosen residuals, re-plan their coding
    use2 = nst > 0 and frames <= nn.MAX_INPUTS
    total2 = total1 + 2 + 8 * nst
    # method 1 needs the unfiltered residuals and plans if method 2 does not pay off
    cres1 = cres
    cplans1 = cplans
    if use2:  # the filters work on copies: the plan stays as planned, for method 1 and for another cascade
        cres = cres.copy()
        cplans = cplans.copy()
        X = np.zeros(nn.MAX_ORDER + nn.RING, dtype=np.int32)
        D = np.zeros(nn.MAX_ORDER + nn.RING, dtype=np.int32)
        w = np.zeros(nn.MAX_ORDER, dtype=np.int32)
        a = np.zeros(2, dtype=np.int64)
        params = np.empty(1 << PMAX, dtype=np.int64)
        for slot in range(channels):
            for k in range(nst):
                nn.reset(X, D, w, a, forders[k])
                pos = 0
                for b in range(nblocks):
                    n = min(block_frames, frames - pos)
                    p = cplans[b, slot]
                    if p[TYPE] >= FIXED:
                        o = p[ORDER]
                        nn.forward(cres[slot, pos : pos + n - o], n - o, forders[k], fshifts[k], X, D, w, a)
                    pos += n
            pos = 0
            for b in range(nblocks):
                n = min(block_frames, frames - pos)
                p = cplans[b, slot]
                if p[TYPE] >= FIXED:
                    o = p[ORDER]
                    ws = cwidth[b, slot] - p[WASTED]
                    r = cres[slot, pos : pos + n - o]
                    umax = np.int64(0)
                    for i in range(n - o):
                        umax = max(umax, (r[i] << 1) ^ (r[i] >> 63))
                    if umax >= (np.int64(1) << (ws + rice.RANGE_EXTRA_BITS)):
                        use2 = False
                        break
                    old = _rice_part(p, cwidth[b, slot])
                    pmax = rice.max_partition_order(n, o, PMAX)
                    nb, sel, porder = rice.plan(r, n, o, pmax, params)
                    p[SEL] = sel
                    p[PORDER] = porder
                    copy(p, PARAMS, params, 0, 1 << porder)
                    p[BITS] += nb - old
                    total2 += nb - old
                pos += n
            if not use2:
                break
    if not use2 or total2 >= total1:
        # method 1: the same blocks and predictors as encode_packet chooses, written without
        # analysing the packet again (identical bytes)
        cres = cres1
        cplans = cplans1
        nst = 0
        total = total1
    else:
        total = total2
    if adaptive and frames <= nn.MAX_INPUTS:
        # method 3 twice: the chosen predictors (and filters), and no prediction at all -- on a white
        # discrete signal (a mix's rounding residual) a predictor only spreads the distribution that
        # the adaptive coder would model directly (spec 14.5)
        best = (total + 7) // 8
        rbytes = _range_section(cres, cplans, cwidth, nblocks, block_frames, frames, channels)
        head = 8 + 2 + 8 * nst + 32 + _header_bits_of(cplans, cwidth, nblocks, block_frames, frames, channels)
        use3 = False
        if rbytes.shape[0] > 0 and (head + 7) // 8 + rbytes.shape[0] < best:
            best = (head + 7) // 8 + rbytes.shape[0]
            use3 = True
        rsig, rres, rplans, rwidth, rmodes = _unpredicted(x, bits, nblocks, block_frames)
        # a value costs about its bit length plus two bits (class decisions and sign, spec 14.3), and the
        # shape of a distribution saves less than two bits a value: unpredicted values two bits longer
        # than the predicted ones cannot win, and are not range coded
        rbits, vals = _bit_lengths(rres, rplans, nblocks, block_frames, frames, channels)
        pbits, _ = _bit_lengths(cres, cplans, nblocks, block_frames, frames, channels)
        raw = rbytes[:0]
        if rbits <= pbits + 2 * vals:
            raw = _range_section(rres, rplans, rwidth, nblocks, block_frames, frames, channels)
        rhead = 8 + 2 + 32 + _header_bits_of(rplans, rwidth, nblocks, block_frames, frames, channels)
        if raw.shape[0] > 0 and (rhead + 7) // 8 + raw.shape[0] < best:
            rbytes = raw
            head = rhead
            csig = rsig
            cres = rres
            cplans = rplans
            cwidth = rwidth
            modes = rmodes
            nst = 0
            use3 = True
        if use3:
            start = (head + 7) // 8
            if room(buf, st) < start + rbytes.shape[0] + 16:
                return -1
            _write_filter_header(buf, st, METHOD_V3, forders, fshifts, nst)
            put_bits(buf, st, start, 32)
            _write_blocks(buf, st, csig, cres, cplans, cwidth, modes, nblocks, block_frames, frames, channels,
                          False)
            if flush(buf, st) != start:  # pragma: no cover - the header count is exact, this is a bug
                return -1
            copy(buf, start, rbytes, 0, rbytes.shape[0])
            return start + rbytes.shape[0]
    if room(buf, st) < total // 8 + 16:
        return -1
    if nst == 0:
        put_bits(buf, st, METHOD_V1, 8)
    else:
        _write_filter_header(buf, st, METHOD_V2, forders, fshifts, nst)
    _write_blocks(buf, st, csig, cres, cplans, cwidth, modes, nblocks, block_frames, frames, channels, True)
    return flush(buf, st)


@kernel
def _write_filter_header(buf, st, method, forders, fshifts, nst):
    """The method byte and the filter header of methods 2 and 3 (spec 13.1)."""
    put_bits(buf, st, method, 8)
    put_bits(buf, st, nst, 2)
    for k in range(nst):
        code = 0
        while (16 << code) < forders[k]:
            code += 1
        put_bits(buf, st, code, 3)
        put_bits(buf, st, fshifts[k], 5)


@kernel
def _write_blocks(buf, st, csig, cres, cplans, cwidth, modes, nblocks, block_frames, frames, channels, residuals):
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        put_bits(buf, st, n - 1, 16)
        if channels == 2:
            put_bits(buf, st, modes[b], 2)
        for slot in range(channels):
            write_subframe(buf, st, csig[slot, pos : pos + n], n, cwidth[b, slot], cplans[b, slot],
                           cres[slot, pos : pos + n], residuals)
        pos += n


# -- method 3: the same blocks, the residuals range coded (spec section 14) ---------------------

METHOD_V3 = 3


@kernel
def _header_bits_of(cplans, cwidth, nblocks, block_frames, frames, channels):
    """Bits of every block of a method-3 packet: block headers and subframes without residual sections."""
    total = np.int64(0)
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        total += 16 + (2 if channels == 2 else 0)
        for slot in range(channels):
            p = cplans[b, slot]
            total += p[BITS]
            if p[TYPE] >= FIXED:
                total -= _rice_part(p, cwidth[b, slot])
        pos += n
    return total


@kernel
def _unpredicted(x, bits, nblocks, block_frames):
    """The packet without prediction: every channel on its own (a white signal gains nothing from
    mid/side either), each subframe CONSTANT or FIXED of order 0 after its wasted bits.  Returns
    ``(signals, plans, widths, modes)`` in the layout of the chosen subframes; the residuals of a
    FIXED order-0 subframe are its signal shifted by its wasted bits, stored in ``signals``' shape."""
    frames, channels = x.shape
    sig = np.empty((channels, max(frames, 1)), dtype=np.int64)
    res = np.empty_like(sig)
    plans = np.zeros((max(nblocks, 1), channels, PLAN_LEN), dtype=np.int64)
    widths = np.full((max(nblocks, 1), channels), bits, dtype=np.int64)
    modes = np.zeros(max(nblocks, 1), dtype=np.int64)
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        for c in range(channels):
            p = plans[b, c]
            first = np.int64(x[pos, c])
            ored = np.int64(0)
            same = True
            for i in range(n):
                v = np.int64(x[pos + i, c])
                sig[c, pos + i] = v
                ored |= v
                same = same and v == first
            if same:
                p[TYPE] = CONSTANT
                p[VALUE] = first
                p[BITS] = _header_bits(0) + bits
                continue
            w = 0
            while (ored >> w) & 1 == 0:
                w += 1
            p[TYPE] = FIXED
            p[ORDER] = 0
            p[WASTED] = w
            p[BITS] = _header_bits(w) + 3
            for i in range(n):
                res[c, pos + i] = sig[c, pos + i] >> w
        pos += n
    return sig, res, plans, widths, modes


@kernel
def _bit_lengths(cres, cplans, nblocks, block_frames, frames, channels):
    """The summed bit lengths of the magnitudes of every predicted subframe's coded values, and their count."""
    total = np.int64(0)
    count = np.int64(0)
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        for slot in range(channels):
            p = cplans[b, slot]
            if p[TYPE] >= FIXED:
                for i in range(n - p[ORDER]):
                    v = cres[slot, pos + i]
                    total += adaptive_residual.bit_length(-v if v < 0 else v)
                count += n - p[ORDER]
        pos += n
    return total, count


@kernel
def _range_section(cres, cplans, cwidth, nblocks, block_frames, frames, channels):
    """The range-coded residuals of every predicted subframe, block by block (spec 14.2); an empty
    array if they would not be smaller than their raw size."""
    cap = np.int64(64)
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        for slot in range(channels):
            if cplans[b, slot][TYPE] >= FIXED:
                cap += (n * (cwidth[b, slot] + 8)) // 8
        pos += n
    out = np.zeros(cap, dtype=np.uint8)
    est = np.zeros(rc.ES_LEN, dtype=np.int64)
    rc.enc_reset(est)
    models = adaptive_residual.new_models(channels)
    means = np.zeros(channels, dtype=np.int64)
    pos = 0
    for b in range(nblocks):
        n = min(block_frames, frames - pos)
        for slot in range(channels):
            p = cplans[b, slot]
            if p[TYPE] >= FIXED:
                o = p[ORDER]
                adaptive_residual.encode_values(out, est, models, slot * adaptive_residual.MODELS_PER_INDEX, means,
                                                slot, cres[slot, pos : pos + n - o], n - o)
        pos += n
    nbytes = rc.enc_flush(out, est)
    if nbytes < 0:
        return out[:0]
    return out[:nbytes]
