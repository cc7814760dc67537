"""Packet layer of the ``perceptual`` codec (``spec/codec-perceptual.md``): frame kinds,
mid/side flags, per-channel frames (:mod:`.coefcode`), then the integer decoder path --
dequantisation, mid/side and the fixed-point inverse MDCT (:mod:`.mdct`).

Integer-only on the decode side, so every machine produces the same samples.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import coefcode as cc
from . import errcodes as E
from . import mdct
from . import rangecoder as rc

VERSION = 1
#: 2^(r/4) in Q30 for r = 0..3, rounded to nearest (spec 4): the step of scale factor sf is
#: MANT[sf & 3] * 2^((sf >> 2) - 30)
MANT = np.array([1073741824, 1276901417, 1518500250, 1805811301], dtype=np.int64)
SF_MIN = cc.SF_MIN
SF_MAX = cc.SF_MAX
#: scale factor written for bands that are all zero (never read by the decoder)
SF_UNUSED = 0
Q_LIMIT = cc.Q_MAX
NB_LONG = cc.NB_LONG

# packet-level models: kind (3 binary-tree nodes per previous kind), mid/side (per previous flag)
M_KIND = 0
M_MS = M_KIND + 4 * 3
N_MODELS = M_MS + 2

E_KIND = 46  # illegal frame kind sequence
E_COEF_RANGE = 47  # a dequantised coefficient exceeds the inverse MDCT's range
MESSAGES = {
    E_KIND: "illegal sequence of frame kinds",
    E_COEF_RANGE: "dequantised coefficient outside the inverse transform's range",
}


def bound_bytes(nframes: int, channels: int) -> int:
    """An upper bound of a packet's size (escape codes of 2^24-sized values included)."""
    return 1 + 16 + nframes * (1 + channels * (64 + 1024 * 9))


@njit(cache=True)
def _models(n):
    m = np.empty(n, dtype=np.int32)
    for i in range(n):
        m[i] = rc.PROB_INIT
    return m


@njit(cache=True)
def encode_packet(kinds, ms, sf, q, buf):
    """Write a packet: ``kinds`` (F,), ``ms`` (F,) 0/1, ``sf`` (F, C, 50), ``q`` int32 (F, C, 1024).

    Returns the number of bytes, or ``-code`` on an error (a bug or an out-of-range value)."""
    F, C = q.shape[0], q.shape[1]
    buf[0] = VERSION
    st = np.zeros(rc.ES_LEN, dtype=np.int64)
    rc.enc_reset(st)
    # the coder writes from buf[1:]: give it that view
    out = buf[1:]
    pm = _models(N_MODELS)
    cms = np.empty((C, cc.MODEL_SIZE), dtype=np.int32)
    for c in range(C):
        cc.reset_models(cms[c])
    prev_kind = 0
    prev_ms = 0
    for t in range(F):
        k = kinds[t]
        base = M_KIND + 3 * prev_kind
        b1 = k >> 1
        rc.enc_bit(out, st, pm, base, b1)
        rc.enc_bit(out, st, pm, base + 1 + b1, k & 1)
        prev_kind = k
        if C == 2:
            rc.enc_bit(out, st, pm, M_MS + prev_ms, ms[t])
            prev_ms = ms[t]
        for c in range(C):
            err = cc.encode_frame(out, st, cms[c], k == mdct.SHORT, q[t, c], sf[t, c])
            if err != cc.OK:
                return -err
    n = rc.enc_flush(out, st)
    if n < 0:
        return -cc.E_OVERFLOW
    return n + 1


@njit(cache=True)
def dequantise(q, sf, short, out):
    """``out[k] = round(q[k] * 2^(sf_b / 4) * 2^COEF_FRAC)`` per band, integer-only (spec 4).

    Returns False when a value would leave the inverse MDCT's range."""
    if short:
        edges = cc.EDGES_SHORT
        nblk = 8
        width = 128
    else:
        edges = cc.EDGES_LONG
        nblk = 1
        width = 1024
    nb = edges.shape[0] - 1
    for b in range(nb):
        s = sf[b]
        mant = MANT[s & 3]
        shift = (s >> 2) - 30 + mdct.COEF_FRAC
        for j in range(nblk):
            for k in range(j * width + edges[b], j * width + edges[b + 1]):
                v = np.int64(q[k]) * mant  # |q| <= 2^24, mant < 2^31: exact
                if v == 0:
                    out[k] = 0
                elif shift >= 0:
                    if shift > 47 or abs(v) > (mdct.MAX_ABS_COEF >> shift):
                        return False
                    out[k] = v << shift
                elif shift > -62:
                    out[k] = (v + (np.int64(1) << (-shift - 1))) >> (-shift)
                else:
                    out[k] = 0
    return True


@njit(cache=True)
def decode_packet(data, frames, bits, out):
    """Decode a packet into ``out`` (int32, frames x C).  Returns an error code."""
    C = out.shape[1]
    n = data.shape[0]
    if n < 1 or data[0] != VERSION:
        return E.METHOD
    F = (frames + mdct.HOP - 1) // mdct.HOP + 1
    st = np.zeros(rc.DS_LEN, dtype=np.int64)
    rc.dec_init(data, st, 1, n)
    pm = _models(N_MODELS)
    cms = np.empty((C, cc.MODEL_SIZE), dtype=np.int32)
    for c in range(C):
        cc.reset_models(cms[c])
    kinds = np.empty(F, dtype=np.int64)
    coefs = np.empty((C, F, mdct.HOP), dtype=np.int64)
    q = np.empty(mdct.HOP, dtype=np.int64)
    sf = np.empty(cc.NB_LONG, dtype=np.int64)
    prev_kind = 0
    prev_ms = 0
    for t in range(F):
        base = M_KIND + 3 * prev_kind
        b1 = rc.dec_bit(data, st, pm, base)
        k = (b1 << 1) | rc.dec_bit(data, st, pm, base + 1 + b1)
        kinds[t] = k
        prev_kind = k
        ms = 0
        if C == 2:
            ms = rc.dec_bit(data, st, pm, M_MS + prev_ms)
            prev_ms = ms
        for c in range(C):
            err = cc.decode_frame(data, st, cms[c], k == mdct.SHORT, q, sf)
            if err != cc.OK:
                return err
            if not dequantise(q, sf, k == mdct.SHORT, coefs[c, t]):
                return E_COEF_RANGE
        if ms:  # spec 5: L = M + S, R = M - S
            for i in range(mdct.HOP):
                m = coefs[0, t, i]
                s = coefs[1, t, i]
                coefs[0, t, i] = m + s
                coefs[1, t, i] = m - s
    err = cc.finish_decode(st)
    if err != cc.OK:
        return err
    lo = -(np.int64(1) << (bits - 1))
    hi = (np.int64(1) << (bits - 1)) - 1
    y = np.empty(frames, dtype=np.int64)
    for c in range(C):
        e = mdct.inverse_int_nb(coefs[c], kinds, y)
        if e == mdct.INV_KINDS:
            return E_KIND
        if e != mdct.INV_OK:
            return E_COEF_RANGE
        for i in range(frames):
            out[i, c] = min(max(y[i], lo), hi)
    return E.OK
