"""Packet layer of the ``perceptual`` codec (``spec/codec-perceptual.md``): frame kinds,
mid/side flags, per-channel frames (:mod:`.coefcode`), then the integer decoder path --
dequantisation, mid/side and the fixed-point inverse MDCT (:mod:`.mdct`).

Integer-only on the decode side, so every machine produces the same samples.
"""

from __future__ import annotations

import numpy as np

from . import coefcode as cc
from . import errcodes as E
from . import mdct
from . import rangecoder as rc
from ._jit import kernel

#: packet versions: 1 has no noise bands; 2 adds them (spec codec-perceptual.md 3, perceptual-entropy.md 4.3).
#: The encoder writes 1 when a packet has no noise band, so such packets keep their version-1 bytes
VERSION = 1
VERSION_NOISE = 2
#: noise bands' signs come from this linear congruential generator (Numerical Recipes' constants), one
#: state per channel, set to the channel's index at the start of every packet (spec codec-perceptual.md 4.1)
LCG_MUL = 1664525
LCG_ADD = 1013904223
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


@kernel
def _models(n):
    m = np.empty(n, dtype=np.int32)
    for i in range(n):
        m[i] = rc.PROB_INIT
    return m


@kernel
def encode_packet(kinds, ms, sf, nf, q, buf):
    """Write a packet: ``kinds`` (F,), ``ms`` (F,) 0/1, ``sf`` (F, C, 50), ``nf`` (F, C, 50) 1 for a
    noise band (its ``sf`` is the noise level, its ``q`` zero), ``q`` int32 (F, C, 1024).  Version 2
    if any band is a noise band, else version 1.

    Returns the number of bytes, or ``-code`` on an error (a bug or an out-of-range value)."""
    F, C = q.shape[0], q.shape[1]
    v2 = False
    for t in range(F):
        for c in range(C):
            for b in range(nf.shape[2]):
                if nf[t, c, b] != 0 and (kinds[t] != mdct.SHORT or b < cc.NB_SHORT):
                    v2 = True
    buf[0] = VERSION_NOISE if v2 else VERSION
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
            err = cc.encode_frame(out, st, cms[c], k == mdct.SHORT, q[t, c], sf[t, c], nf[t, c], v2)
            if err != cc.OK:
                return -err
    n = rc.enc_flush(out, st)
    if n < 0:
        return -cc.E_OVERFLOW
    return n + 1


@kernel
def dequantise(q, sf, nf, short, out, seed):
    """``out[k] = round(q[k] * 2^(sf_b / 4) * 2^COEF_FRAC)`` per band, integer-only (spec 4); a noise
    band (``nf[b] = 1``) takes ``q = +-1`` with signs from the generator of state ``seed`` (spec 4.1).

    Returns the generator's next state, or -1 when a value would leave the inverse MDCT's range."""
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
        noise = nf[b] != 0
        for j in range(nblk):
            for k in range(j * width + edges[b], j * width + edges[b + 1]):
                if noise:
                    seed = (seed * LCG_MUL + LCG_ADD) & 0xFFFFFFFF
                    v = -mant if seed >= 0x80000000 else mant
                else:
                    v = np.int64(q[k]) * mant  # |q| <= 2^24, mant < 2^31: exact
                if v == 0:
                    out[k] = 0
                elif shift >= 0:
                    if shift > 47 or abs(v) > (mdct.MAX_ABS_COEF >> shift):
                        return -1
                    out[k] = v << shift
                elif shift > -62:
                    out[k] = (v + (np.int64(1) << (-shift - 1))) >> (-shift)
                else:
                    out[k] = 0
    return seed


@kernel(nogil=True)  # a player decodes ahead in a thread while it plays
def decode_packet(data, frames, bits, out):
    """Decode a packet into ``out`` (int32, frames x C).  Returns an error code."""
    C = out.shape[1]
    n = data.shape[0]
    if n < 1 or (data[0] != VERSION and data[0] != VERSION_NOISE):
        return E.METHOD
    v2 = data[0] == VERSION_NOISE
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
    nf = np.empty(cc.NB_LONG, dtype=np.int64)
    seeds = np.empty(C, dtype=np.int64)
    for c in range(C):
        seeds[c] = c
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
            err = cc.decode_frame(data, st, cms[c], k == mdct.SHORT, q, sf, nf, v2)
            if err != cc.OK:
                return err
            seeds[c] = dequantise(q, sf, nf, k == mdct.SHORT, coefs[c, t], seeds[c])
            if seeds[c] < 0:
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
