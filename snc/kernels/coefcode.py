"""Entropy coding of one channel of one frame of the ``perceptual`` codec: scale factors
and quantised MDCT coefficients (``spec/perceptual-entropy.md`` sections 3-6).

Every syntax element is binarised and coded with the adaptive binary range coder of
:mod:`.rangecoder`; the adaptive models and the scale-factor history of one channel
live in one ``int32`` array (:func:`new_models`, :data:`MODEL_SIZE` entries) that the
packet loop resets at the start of every packet (:func:`reset_models`) and passes to
every frame of that channel, so packets decode independently while the models adapt
across the frames of a packet.

Frame syntax (spec 4): the number of coded bands ``nb`` (6-bit binary tree), then for
each band ``b < nb``: a "band is non-zero" flag (implied for ``b = nb - 1``), and for a
non-zero band its scale-factor difference (spec 5) and its coefficients (spec 6):
zero flag, ">1", ">2", ... ">CAP-1" flags with adaptive contexts, an Exp-Golomb escape
for ``|q| - CAP`` and the sign, both as bypass bits.  A SHORT frame's band ``b`` covers
the same bins of each of its 8 blocks, coded block by block.

The kernels return error codes (``E_*`` below, :data:`MESSAGES`); on corrupt data the
decoder never raises, never reads outside ``buf[:end]`` or writes outside its outputs,
and every loop is bounded.

Use from a packet loop (numba or Python), one ``models`` row per channel::

    st = rangecoder.enc_new(); models = np.stack([new_models() for _ in range(channels)])
    for each frame, for each channel c:  err = encode_frame(buf, st, models[c], is_short, q, sf)
    nbytes = rangecoder.enc_flush(buf, st)                      # -1: buffer too small

    st = rangecoder.dec_new(); rangecoder.dec_init(buf, st, 0, nbytes)
    for each frame, for each channel c:  err = decode_frame(buf, st, models[c], is_short, q, sf)
    err = finish_decode(st)                                      # end-of-packet checks

Speed note: numba increments and decrements the reference count of every array passed
to a function, with atomic operations that its pruning pass misses in these loops.  The
per-coefficient paths therefore call only the scalar cores of :mod:`.rangecoder`, and the
two frame kernels, which allocate nothing, are compiled with numba's ``_nrt=False``
(no reference counting at all), which makes both much faster (figures:
docs/measurements.md).  Without that flag the code is still correct, only slower.
"""

from __future__ import annotations

import numpy as np

from . import errcodes as _errcodes
from ._jit import kernel
from .bands import band_edges
from .rangecoder import (
    DS_CODE,
    DS_END,
    DS_POS,
    DS_RANGE,
    ES_LOW,
    ES_OVERFLOW,
    ES_RANGE,
    LOOKAHEAD,
    PROB_INIT,
    RC_CORRUPT,
    RC_TRAILING,
    RC_TRUNCATED,
    TOP,
    _dbit,
    _dbypass,
    _dmodel,
    _dshift,
    _ebit,
    _ebypass,
    _emodel,
    _shift_low,
    dec_finish,
)

# ----------------------------------------------------------------------------- format constants

FRAME = 1024  # coefficients per channel and frame
SHORT_BLOCKS = 8
SHORT_N = FRAME // SHORT_BLOCKS
EDGES_LONG = band_edges(FRAME)
EDGES_SHORT = band_edges(SHORT_N)
NB_LONG = EDGES_LONG.shape[0] - 1  # 50
NB_SHORT = EDGES_SHORT.shape[0] - 1  # 32
NB_BITS = 6  # nb in 0..NB_LONG fits a 6-bit tree

#: legal scale-factor indices (step = 2**(sf / 4)), inclusive
SF_MIN = -200
SF_MAX = 200
#: first coded band of the first frame: predicted from this value
SF_START = 0
#: largest legal |q| (inclusive)
Q_MAX = 1 << 24

#: magnitudes >= CAP leave the context-coded flags for the Exp-Golomb escape
CAP = 15
#: order of the Exp-Golomb escape of scale-factor differences
SF_ESC_K = 0
#: coefficient escapes use order min(bitlen((a + a2) >> ESC_SHIFT), ESC_K_MAX) from the two
#: previous magnitudes: large coefficients come in runs, so their neighbours predict the order
ESC_SHIFT = 3
ESC_K_MAX = 20
#: scale-factor differences: unary flags "|d| > i" for i = 1 .. SF_CAP - 1, then escape
SF_CAP = 16
#: longest Exp-Golomb prefix a decoder accepts (values stay below 2**25)
ESC_MAX_PREFIX = 24

#: frequency regions (by the band's first bin, in 1024-bin units): < 48, < 128, < 320, rest
NREG = 4


def _regions(edges: np.ndarray, n: int) -> np.ndarray:
    start = edges[:-1] * (FRAME // n)
    return np.searchsorted(np.array([48, 128, 320]), start, side="right").astype(np.int64)


REG_LONG = _regions(EDGES_LONG, FRAME)
REG_SHORT = _regions(EDGES_SHORT, SHORT_N)

#: neighbourhood classes of the zero flag and the ">1" flag (spec 6.2): min(a + a2, 4) with
#: a = |q[k-1]|, a2 = |q[k-2]| (same block), times the class min(|q|, 2) of the same bin in
#: the previous frame (LONG) or block (SHORT): spectra change slowly from frame to frame, and
#: 5 sum classes code smaller than finer pairs of classes (docs/measurements.md).
NCLS = 5
PCLS = 3
#: coarse class of the ">i" flags, i >= 2: max(a, a2) in 0..2, 3..5, 6+
GCLS = 3

#: bound on the bytes one frame of one channel can add to a packet, for sizing the encoder's
#: buffer: an adaptive bit costs at most log2(4096 / 31) < 8 bits (spec 2.2), a bypass bit 1;
#: a coefficient is at most 15 adaptive bits, 49 Exp-Golomb bits and a sign, a band's flags and
#: scale factor (or noise level) at most 18 adaptive and 49 other bits, nb 6 adaptive bits; + 8 bytes slack
MAX_FRAME_BYTES = (FRAME * (15 * 8 + 50) + NB_LONG * (18 * 8 + 49) + 6 * 8) // 8 + 8

# ----------------------------------------------------------------------------- model layout (spec 7)

M_NB = 0  # 2 kinds x 64: binary tree of nb (node 1..63)
M_BAND = M_NB + 2 * 64  # 2 kinds x NREG x 3 (previous band: zero, non-zero, none)
M_SFZ = M_BAND + 2 * NREG * 3  # 3: d == 0 ? by (first coded band, previous d == 0, previous d != 0)
M_SFS = M_SFZ + 3  # 3: sign of d, same contexts
M_SFM = M_SFS + 3  # 2 x (SF_CAP - 1): "|d| > i", i = 1 .. SF_CAP - 1, first band / others
M_ZERO = M_SFM + 2 * (SF_CAP - 1)  # NREG x NCLS x PCLS: q != 0 ?
M_GT1 = M_ZERO + NREG * NCLS * PCLS  # NREG x NCLS x PCLS: |q| > 1 ?
M_GTN = M_GT1 + NREG * NCLS * PCLS  # GCLS x (CAP - 2): |q| > i, i = 2 .. CAP - 1
NPROB = M_GTN + GCLS * (CAP - 2)
# history (not probabilities)
H_FIRST = NPROB  # sf of the first coded band of the last frame that had one
H_LONG = H_FIRST + 1  # NB_LONG: sf of each band when last coded in a LONG frame, or SF_UNSET
H_SHORT = H_LONG + NB_LONG  # NB_SHORT: the same for SHORT frames
H_KIND = H_SHORT + NB_SHORT  # kind of the previous frame (0 LONG, 1 SHORT)
H_PREV = H_KIND + 1  # FRAME: min(|q|, 2) of the previous frame
# version 2 (noise bands, spec 4.3 and 5.1): appended, so a version-1 frame uses the layout above unchanged
M_BANDN = H_PREV + FRAME  # 2 kinds x NREG: band non-zero flag after a noise band
M_NOISE = M_BANDN + 2 * NREG  # 2 kinds x NREG x 2 (previous band a noise band?): "zero band is noise"
M_NSZ = M_NOISE + 2 * NREG * 2  # 2: noise level d == 0 ? (first noise band of the frame / others)
M_NSS = M_NSZ + 2  # 2: sign of d
M_NSM = M_NSS + 2  # 2 x (SF_CAP - 1): "|d| > i"
H_NLONG = M_NSM + 2 * (SF_CAP - 1)  # NB_LONG: noise level of each LONG band when last a noise band
H_NSHORT = H_NLONG + NB_LONG  # NB_SHORT: the same for SHORT frames
MODEL_SIZE = H_NSHORT + NB_SHORT
SF_UNSET = SF_MAX + 1

# ----------------------------------------------------------------------------- error codes

OK = _errcodes.OK
E_TRUNCATED = _errcodes.TRUNCATED  # more than LOOKAHEAD bytes read past the end
E_TRAILING = _errcodes.TRAILING  # bytes left after the last frame (see rangecoder.dec_finish)
E_SHAPE = _errcodes.SHAPE  # an argument array is too small
E_NBANDS = 40  # coded band count larger than the frame's band count
E_SF_RANGE = 41  # scale factor outside SF_MIN..SF_MAX
E_Q_RANGE = 42  # |q| > Q_MAX (or an escape prefix longer than ESC_MAX_PREFIX)
E_EMPTY_BAND = 43  # a band coded as non-zero has only zero coefficients
E_CORRUPT = 44  # range decoder state impossible for valid data (code >= range)
E_OVERFLOW = 45  # encoder: output buffer full
E_NOISE_BAND = 48  # encoder: a noise band with a non-zero value

MESSAGES = {
    E_TRUNCATED: "packet ends inside a frame (truncated data)",
    E_TRAILING: "bytes left over after the last frame",
    E_SHAPE: "internal error: an array argument is too small",
    E_NBANDS: "coded band count out of range",
    E_SF_RANGE: "scale factor out of range",
    E_Q_RANGE: "quantised coefficient out of range",
    E_EMPTY_BAND: "band flagged non-zero has no non-zero coefficient",
    E_CORRUPT: "range decoder state invalid (corrupt data)",
    E_OVERFLOW: "output buffer too small",
    E_NOISE_BAND: "a noise band has a non-zero coefficient",
}


def message(code: int) -> str:
    """One-line text of an error code of this module (or of :mod:`.errcodes`)."""
    code = int(code)
    return MESSAGES.get(code) or _errcodes.MESSAGES.get(code, f"error code {code}")


def new_models() -> np.ndarray:
    """A fresh model array for one channel (``int32[MODEL_SIZE]``), as at the start of a packet."""
    models = np.empty(MODEL_SIZE, dtype=np.int32)
    reset_models(models)
    return models


@kernel
def reset_models(models):
    """Reset a channel's models at the start of a packet (spec 7): every probability to 1/2
    with count 0, the scale-factor history to "none", the previous frame to silent LONG."""
    for i in range(NPROB):
        models[i] = PROB_INIT
    models[H_FIRST] = SF_START
    for i in range(H_LONG, H_KIND):
        models[i] = SF_UNSET
    # as if the previous frame were a silent LONG frame
    models[H_KIND] = 0
    for i in range(H_PREV, H_PREV + FRAME):
        models[i] = 0
    for i in range(M_BANDN, H_NLONG):
        models[i] = PROB_INIT
    for i in range(H_NLONG, MODEL_SIZE):
        models[i] = SF_UNSET


# ----------------------------------------------------------------------------- helpers


@kernel
def _bitlen(v):
    n = 0
    while v:
        v >>= 1
        n += 1
    return n


@kernel
def _eg_enc(buf, st, low, rng, e, k):
    """Exp-Golomb order ``k`` of ``e >= 0`` in bypass bits (spec 3.3): a one bit per
    ``2**k`` subtracted (``k`` growing), a zero bit, then ``k`` bits."""
    while e >= (np.int64(1) << k):
        low, rng = _ebypass(buf, st, low, rng, 1, 1)
        e -= np.int64(1) << k
        k += 1
    low, rng = _ebypass(buf, st, low, rng, 0, 1)
    low, rng = _ebypass(buf, st, low, rng, e, k)
    return low, rng


@kernel
def _eg_dec(buf, end, pos, rng, code, k):
    """Inverse of :func:`_eg_enc`; ``e = -1`` if the prefix is too long."""
    e = np.int64(0)
    while True:
        pos, rng, code, bit = _dbypass(buf, end, pos, rng, code, 1)
        if bit == 0:
            break
        e += np.int64(1) << k
        k += 1
        if k > ESC_MAX_PREFIX:
            return pos, rng, code, np.int64(-1)
    pos, rng, code, v = _dbypass(buf, end, pos, rng, code, k)
    return pos, rng, code, e + v


@kernel
def _esc_order(a, a2):
    """Exp-Golomb order of a coefficient escape (spec 6.4)."""
    return min(_bitlen((a + a2) >> ESC_SHIFT), ESC_K_MAX)


@kernel
def _frame_layout(is_short):
    if is_short:
        return EDGES_SHORT, REG_SHORT, NB_SHORT, SHORT_BLOCKS, SHORT_N, H_SHORT, 1, H_NSHORT
    return EDGES_LONG, REG_LONG, NB_LONG, 1, FRAME, H_LONG, 0, H_NLONG


@kernel
def _prev_base(models, kind):
    """Start of the previous-frame classes for block 0 of a frame of ``kind`` (spec 6.2):
    bin ``k`` of a LONG frame reads ``models[H_PREV + k]``, bin ``k`` of the first block of a
    SHORT frame reads the previous SHORT frame's last block.  After a change of kind the
    area is cleared first (the other kind's spectrum says little about this one)."""
    if models[H_KIND] != kind:
        for k in range(FRAME):
            models[H_PREV + k] = 0
        models[H_KIND] = kind
    if kind == 1:
        return H_PREV + FRAME - SHORT_N
    return H_PREV


@kernel
def _save_prev(models, q):
    """Remember min(|q|, 2) of every bin of this frame for the next one (spec 6.2)."""
    for k in range(FRAME):
        models[H_PREV + k] = min(abs(np.int64(q[k])), 2)


# ----------------------------------------------------------------------------- scale-factor differences


@kernel
def _delta_enc(buf, st, low, rng, models, zctx, sctx, mctx, d):
    """A scale-factor or noise-level difference ``d`` (spec 5): non-zero flag, sign, unary
    magnitude up to SF_CAP with contexts ``mctx + i - 1``, Exp-Golomb escape."""
    low, rng = _ebit(buf, st, low, rng, models, zctx, 1 if d != 0 else 0)
    if d != 0:
        low, rng = _ebit(buf, st, low, rng, models, sctx, 1 if d < 0 else 0)
        m = abs(d)
        i = 1
        while i < SF_CAP:
            gt = 1 if m > i else 0
            low, rng = _ebit(buf, st, low, rng, models, mctx + i - 1, gt)
            if gt == 0:
                break
            i += 1
        if i == SF_CAP:
            low, rng = _eg_enc(buf, st, low, rng, m - SF_CAP, SF_ESC_K)
    return low, rng


@kernel
def _delta_dec(buf, end, pos, rng, code, models, zctx, sctx, mctx):
    """Inverse of :func:`_delta_enc`; ``ok`` is False when the escape prefix is too long."""
    pos, rng, code, dnz = _dbit(buf, end, pos, rng, code, models, zctx)
    if dnz == 0:
        return pos, rng, code, np.int64(0), True
    pos, rng, code, neg = _dbit(buf, end, pos, rng, code, models, sctx)
    m = np.int64(1)
    while m < SF_CAP:
        pos, rng, code, gt = _dbit(buf, end, pos, rng, code, models, mctx + m - 1)
        if gt == 0:
            break
        m += 1
    if m == SF_CAP:
        pos, rng, code, e = _eg_dec(buf, end, pos, rng, code, SF_ESC_K)
        if e < 0:
            return pos, rng, code, np.int64(0), False
        m += e
    return pos, rng, code, (-m if neg else m), True


@kernel
def _band_ctx(kind, r, prev_state):
    """Context of a band's non-zero flag (spec 4.2): by kind, region and the previous band's
    state (0 zero, 1 non-zero, 2 none, 3 noise -- the last only in version 2)."""
    if prev_state == 3:
        return M_BANDN + kind * NREG + r
    return M_BAND + (kind * NREG + r) * 3 + prev_state


@kernel
def _noise_pred(models, noff, b, coded_pred, any_coded):
    """Prediction of the first noise level of a frame (spec 5.1)."""
    pred = np.int64(models[noff + b])
    if pred == SF_UNSET:
        pred = coded_pred if any_coded else np.int64(models[H_FIRST])
    return pred


# ----------------------------------------------------------------------------- encoder


@kernel(_nrt=False)  # no reference counting: see the note in the module docstring
def encode_frame(buf, st, models, is_short, q, sf, nf, v2):
    """Append one channel's frame to the range coder ``st`` (:func:`rangecoder.enc_new`).

    ``q``: int32/int64[1024] (SHORT: block-major, ``q[128 * j + k]``); ``sf``: int64[nbands]
    (50 LONG, 32 SHORT), read only for non-zero bands and, with ``v2``, noise bands; ``nf``:
    int64[nbands], 1 for a noise band (spec 4.3: all its ``q`` zero, ``sf`` its noise level),
    read only with ``v2`` (the version-2 syntax; without it there are no noise bands).
    ``models``: the channel's :func:`new_models` array, updated.  Returns ``OK``, ``E_SHAPE``,
    ``E_Q_RANGE`` (``|q| > Q_MAX``), ``E_SF_RANGE``, ``E_NOISE_BAND`` (a noise band with a
    non-zero value) or ``E_OVERFLOW`` (buffer full; the caller retries with a larger buffer and
    the models and state saved before the call).  On an error nothing useful has been written
    and the models may have changed.
    """
    edges, regs, nbands, nblk, width, hoff, kind, noff = _frame_layout(is_short)
    if q.shape[0] < FRAME or sf.shape[0] < nbands or nf.shape[0] < nbands or models.shape[0] < MODEL_SIZE:
        return E_SHAPE
    # validate everything first, find nb = 1 + the last non-zero (or noise) band
    nb = 0
    for b in range(nbands):
        lo = edges[b]
        hi = edges[b + 1]
        nz = False
        for j in range(nblk):
            for k in range(j * width + lo, j * width + hi):
                v = np.int64(q[k])
                if v != 0:
                    nz = True
                    if v > Q_MAX or v < -Q_MAX:
                        return E_Q_RANGE
        noise = v2 and nf[b] != 0
        if noise and nz:
            return E_NOISE_BAND
        if nz or noise:
            nb = b + 1
            if sf[b] < SF_MIN or sf[b] > SF_MAX:
                return E_SF_RANGE
    pbase = _prev_base(models, kind)
    low = st[ES_LOW]
    rng = st[ES_RANGE]
    # nb: 6-bit binary tree, MSB first (spec 4.1)
    node = 1
    for i in range(NB_BITS - 1, -1, -1):
        bit = (nb >> i) & 1
        low, rng = _ebit(buf, st, low, rng, models, M_NB + 64 * kind + node, bit)
        node = 2 * node + bit
    prev_state = 2
    first = True
    pred = np.int64(0)
    prevd_nz = 0
    nfirst = True
    npred = np.int64(0)
    for b in range(nb):
        lo = edges[b]
        hi = edges[b + 1]
        r = regs[b]
        noise = v2 and nf[b] != 0
        nz = not noise
        if nz:
            nz = False
            for j in range(nblk):
                for k in range(j * width + lo, j * width + hi):
                    if q[k] != 0:
                        nz = True
        if v2 or b < nb - 1:
            low, rng = _ebit(buf, st, low, rng, models, _band_ctx(kind, r, prev_state), 1 if nz else 0)
        if not nz:
            if v2 and b < nb - 1:  # the last band is non-zero or noise: no flag
                low, rng = _ebit(buf, st, low, rng, models, M_NOISE + (kind * NREG + r) * 2 + (prev_state == 3),
                                 1 if noise else 0)
            if noise:  # its level (spec 5.1)
                s = np.int64(sf[b])
                if nfirst:
                    npred = _noise_pred(models, noff, b, pred, not first)
                u = 0 if nfirst else 1
                low, rng = _delta_enc(buf, st, low, rng, models, M_NSZ + u, M_NSS + u, M_NSM + u * (SF_CAP - 1),
                                      s - npred)
                npred = s
                nfirst = False
                models[noff + b] = s
                prev_state = 3
            else:
                prev_state = 0
            continue
        prev_state = 1
        # scale factor (spec 5)
        s = np.int64(sf[b])
        if first:
            pred = np.int64(models[hoff + b])
            if pred == SF_UNSET:
                pred = np.int64(models[H_FIRST])
            models[H_FIRST] = s
            sc = 0
        else:
            sc = 1 + prevd_nz
        d = s - pred
        low, rng = _delta_enc(buf, st, low, rng, models, M_SFZ + sc, M_SFS + sc,
                              M_SFM + (0 if first else SF_CAP - 1), d)
        prevd_nz = 1 if d != 0 else 0
        first = False
        pred = s
        models[hoff + b] = s
        # coefficients (spec 6)
        zbase = M_ZERO + r * (NCLS * PCLS)
        gbase = M_GT1 + r * (NCLS * PCLS)
        for j in range(nblk):
            base = j * width
            a = np.int64(0)
            a2 = np.int64(0)
            if lo >= 1:
                a = abs(np.int64(q[base + lo - 1]))
            if lo >= 2:
                a2 = abs(np.int64(q[base + lo - 2]))
            for k in range(base + lo, base + hi):
                v = np.int64(q[k])
                m = abs(v)
                if j == 0:
                    pc = np.int64(models[pbase + k])
                else:
                    pc = min(abs(np.int64(q[k - width])), 2)
                c = min(a + a2, 4) * PCLS + pc
                # hot path: scalar cores only, no array passed (see rangecoder's docstring)
                low, rng, mv = _emodel(low, rng, np.int64(models[zbase + c]), 1 if m != 0 else 0)
                models[zbase + c] = mv
                if rng < TOP:
                    rng <<= 8
                    low = _shift_low(buf, st, low)
                if m != 0:
                    low, rng, mv = _emodel(low, rng, np.int64(models[gbase + c]), 1 if m > 1 else 0)
                    models[gbase + c] = mv
                    if rng < TOP:
                        rng <<= 8
                        low = _shift_low(buf, st, low)
                    if m > 1:
                        mx = max(a, a2)
                        gc = M_GTN + (CAP - 2) * (0 if mx < 3 else (1 if mx < 6 else 2))
                        i = 2
                        while i < CAP:
                            gt = 1 if m > i else 0
                            low, rng, mv = _emodel(low, rng, np.int64(models[gc + i - 2]), gt)
                            models[gc + i - 2] = mv
                            if rng < TOP:
                                rng <<= 8
                                low = _shift_low(buf, st, low)
                            if gt == 0:
                                break
                            i += 1
                        if i == CAP:
                            low, rng = _eg_enc(buf, st, low, rng, m - CAP, _esc_order(a, a2))
                    rng >>= 1  # sign, a bypass bit
                    if v < 0:
                        low += rng
                    if rng < TOP:
                        rng <<= 8
                        low = _shift_low(buf, st, low)
                a2 = a
                a = m
    _save_prev(models, q)
    st[ES_LOW] = low
    st[ES_RANGE] = rng
    if st[ES_OVERFLOW]:
        return E_OVERFLOW
    return OK


# ----------------------------------------------------------------------------- decoder


@kernel(_nrt=False)  # no reference counting: see the note in the module docstring
def decode_frame(buf, st, models, is_short, q_out, sf_out, nf_out, v2):
    """Decode one channel's frame from the range decoder ``st`` (:func:`rangecoder.dec_init`).

    Writes all 1024 ``q_out`` (int32 or int64; SHORT block-major), the ``nbands`` (50 LONG,
    32 SHORT) ``sf_out`` (int64; the noise level of a noise band, 0 for bands not coded) and
    ``nf_out`` (int64; 1 for a noise band, whose ``q`` are 0), and updates ``models``; ``v2``:
    the version-2 syntax (noise bands).  Returns ``OK`` or ``E_SHAPE``, ``E_NBANDS``,
    ``E_SF_RANGE``, ``E_Q_RANGE``, ``E_EMPTY_BAND``, ``E_TRUNCATED`` (more than ``LOOKAHEAD``
    bytes read past the end so far).  After an error the outputs, models and state are
    unspecified (the packet is rejected).
    """
    edges, regs, nbands, nblk, width, hoff, kind, noff = _frame_layout(is_short)
    if (q_out.shape[0] < FRAME or sf_out.shape[0] < nbands or nf_out.shape[0] < nbands
            or models.shape[0] < MODEL_SIZE):
        return E_SHAPE
    end = st[DS_END]
    if end > buf.shape[0]:
        return E_SHAPE
    pos = st[DS_POS]
    rng = st[DS_RANGE]
    code = st[DS_CODE]
    for i in range(FRAME):
        q_out[i] = 0
    for b in range(nbands):
        sf_out[b] = 0
        nf_out[b] = 0
    pbase = _prev_base(models, kind)
    node = 1
    for _ in range(NB_BITS):
        pos, rng, code, bit = _dbit(buf, end, pos, rng, code, models, M_NB + 64 * kind + node)
        node = 2 * node + bit
    nb = node - 64
    if nb > nbands:
        return E_NBANDS
    err = OK
    prev_state = 2
    first = True
    pred = np.int64(0)
    prevd_nz = 0
    nfirst = True
    npred = np.int64(0)
    for b in range(nb):
        lo = edges[b]
        hi = edges[b + 1]
        r = regs[b]
        if v2 or b < nb - 1:
            pos, rng, code, nz = _dbit(buf, end, pos, rng, code, models, _band_ctx(kind, r, prev_state))
            if nz == 0:
                noise = 0
                if v2:
                    noise = 1  # the last band is non-zero or noise
                    if b < nb - 1:
                        pos, rng, code, noise = _dbit(buf, end, pos, rng, code, models,
                                                      M_NOISE + (kind * NREG + r) * 2 + (prev_state == 3))
                if noise == 0:
                    prev_state = 0
                    continue
                # a noise band's level (spec 5.1)
                if nfirst:
                    npred = _noise_pred(models, noff, b, pred, not first)
                u = 0 if nfirst else 1
                pos, rng, code, d, ok = _delta_dec(buf, end, pos, rng, code, models, M_NSZ + u, M_NSS + u,
                                                   M_NSM + u * (SF_CAP - 1))
                s = npred + d
                if not ok or s < SF_MIN or s > SF_MAX:
                    err = E_SF_RANGE
                    break
                npred = s
                nfirst = False
                models[noff + b] = s
                sf_out[b] = s
                nf_out[b] = 1
                prev_state = 3
                continue
        prev_state = 1
        # scale factor (spec 5)
        if first:
            pred = np.int64(models[hoff + b])
            if pred == SF_UNSET:
                pred = np.int64(models[H_FIRST])
            sc = 0
        else:
            sc = 1 + prevd_nz
        pos, rng, code, d, ok = _delta_dec(buf, end, pos, rng, code, models, M_SFZ + sc, M_SFS + sc,
                                           M_SFM + (0 if first else SF_CAP - 1))
        if not ok:
            err = E_SF_RANGE
            break
        s = pred + d
        if s < SF_MIN or s > SF_MAX:
            err = E_SF_RANGE
            break
        if first:
            models[H_FIRST] = s
        prevd_nz = 1 if d != 0 else 0
        first = False
        pred = s
        models[hoff + b] = s
        sf_out[b] = s
        # coefficients (spec 6)
        zbase = M_ZERO + r * (NCLS * PCLS)
        gbase = M_GT1 + r * (NCLS * PCLS)
        anynz = np.int64(0)
        for j in range(nblk):
            base = j * width
            a = np.int64(0)
            a2 = np.int64(0)
            if lo >= 1:
                a = abs(np.int64(q_out[base + lo - 1]))
            if lo >= 2:
                a2 = abs(np.int64(q_out[base + lo - 2]))
            for k in range(base + lo, base + hi):
                if j == 0:
                    pc = np.int64(models[pbase + k])
                else:
                    pc = min(abs(np.int64(q_out[k - width])), 2)
                c = min(a + a2, 4) * PCLS + pc
                # hot path: scalar cores only, no array passed (see rangecoder's docstring)
                rng, code, mv, bit = _dmodel(rng, code, np.int64(models[zbase + c]))
                models[zbase + c] = mv
                if rng < TOP:
                    rng, code, pos = _dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                m = np.int64(0)
                if bit:
                    rng, code, mv, bit = _dmodel(rng, code, np.int64(models[gbase + c]))
                    models[gbase + c] = mv
                    if rng < TOP:
                        rng, code, pos = _dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                    m = np.int64(1)
                    if bit:
                        mx = max(a, a2)
                        gc = M_GTN + (CAP - 2) * (0 if mx < 3 else (1 if mx < 6 else 2))
                        m = np.int64(2)
                        while m < CAP:
                            rng, code, mv, bit = _dmodel(rng, code, np.int64(models[gc + m - 2]))
                            models[gc + m - 2] = mv
                            if rng < TOP:
                                nxt = np.int64(buf[pos]) if pos < end else np.int64(0)
                                rng, code, pos = _dshift(rng, code, pos, nxt)
                            if bit == 0:
                                break
                            m += 1
                        if m == CAP:
                            pos, rng, code, e = _eg_dec(buf, end, pos, rng, code, _esc_order(a, a2))
                            if e < 0 or e > Q_MAX - CAP:
                                err = E_Q_RANGE
                                break
                            m += e
                    rng >>= 1  # sign, a bypass bit
                    neg = code >= rng
                    if neg:
                        code -= rng
                    if rng < TOP:
                        rng, code, pos = _dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                    q_out[k] = -m if neg else m
                    anynz |= m
                a2 = a
                a = m
            if err != OK:
                break
        if err != OK:
            break
        if anynz == 0:
            err = E_EMPTY_BAND
            break
    st[DS_POS] = pos
    st[DS_RANGE] = rng
    st[DS_CODE] = code
    if err != OK:
        return err
    _save_prev(models, q_out)
    if pos - end > LOOKAHEAD:
        return E_TRUNCATED
    return OK


@kernel
def finish_decode(st):
    """Check the end of a packet after its last frame (spec 2.6): ``OK``, ``E_CORRUPT``,
    ``E_TRUNCATED`` or ``E_TRAILING``."""
    r = dec_finish(st)
    if r == RC_CORRUPT:
        return E_CORRUPT
    if r == RC_TRUNCATED:
        return E_TRUNCATED
    if r == RC_TRAILING:
        return E_TRAILING
    return OK
