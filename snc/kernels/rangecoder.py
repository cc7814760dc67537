"""Adaptive binary range coder of the ``perceptual`` codec (``spec/perceptual-entropy.md`` section 2).

The integer algorithm of LZMA's range coder (Igor Pavlov, LZMA SDK ``LzmaEnc.c`` /
``LzmaDec.c``): a 32-bit ``range``, a 33-bit ``low`` with one cached byte and a
count of pending 0xFF bytes for carry propagation, and 12-bit probabilities of a
zero bit.  Differences from LZMA (spec 2.7):

* adaptation: a model is ``(count << 16) | p``; the shift grows with the number of
  bits the model has seen (1, 1, 2, 2, 3 x 4, 4 x 7, then 5 = LZMA's rate), so a
  fresh model learns about as fast as a counting estimate, and ``p`` is kept in
  ``[PROB_MIN, PROB_ONE - PROB_MIN]``: models are reset often (every segment), so
  learning fast at first matters more than a slow rate's precision (figures:
  docs/measurements.md);
* the encoder drops the always-zero first byte, and the flush writes only the bytes
  a decoder that reads zeros past the end needs (1 byte instead of 4-5).

Everything is ``int64`` arithmetic on values below ``2**41``, so no step overflows
or mixes signed and unsigned integers (numba would turn that into float).

Encoder: the caller owns a ``uint8`` buffer and the state array of :func:`enc_new`
(``int64[ES_LEN]``, slots ``ES_*``).  Bytes that do not fit are counted, never
written: :func:`enc_flush` returns ``-1`` then.

Decoder: :func:`dec_init` fills the state array (``int64[DS_LEN]``, slots ``DS_*``)
for the bytes ``buf[start:end]``.  Bytes at or past ``end`` read as zero and are
never touched; ``st[DS_POS] - end`` counts those phantom bytes, and :func:`dec_finish`
checks the end of the data (spec 2.6).

The per-bit functions with a state array (``enc_bit``, ``dec_bit``, ...) are the
public API.  The register forms (``_ebit``, ``_dbit``, ...) take and return the
coder's registers as a tuple so that a loop keeps them in CPU registers, and the
scalar cores (``_emodel``, ``_dmodel``, ``_dshift``) take no array at all: numba
increments and decrements the reference count of every array passed to a function
(atomic operations its pruning pass misses here), which made a bit cost 26 ns
instead of 8 ns in a tight loop, so the per-coefficient paths of :mod:`.coefcode`
call only the scalar cores and index the arrays themselves.  All forms are the same
algorithm.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

#: probability precision: a model's low 16 bits hold P(bit = 0) in units of 2**-PROB_BITS (spec 2.2)
PROB_BITS = 12
PROB_ONE = 1 << PROB_BITS
#: p stays in [PROB_MIN, PROB_ONE - PROB_MIN], so one renormalisation step per bit suffices
PROB_MIN = 31
#: initial model value: count 0, P(0) = 1/2
PROB_INIT = PROB_ONE >> 1
#: adaptation shift by the model's count (bits seen, saturating at COUNT_MAX) (spec 2.3)
COUNT_MAX = 15
ADAPT_SHIFTS = np.array([1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5], dtype=np.int64)
#: normalisation threshold: range stays >= 2**24 between symbols
TOP = 1 << 24
RANGE_INIT = 0xFFFFFFFF
_MASK32 = 0xFFFFFFFF
#: a decoder reads this many bytes ahead of the symbols it has decoded (its code register)
LOOKAHEAD = 4

# encoder state slots
ES_POS, ES_LOW, ES_RANGE, ES_CACHE, ES_PENDING, ES_OVERFLOW = range(6)
ES_LEN = 6
# decoder state slots
DS_POS, DS_RANGE, DS_CODE, DS_END = range(4)
DS_LEN = 4

# error codes of dec_finish (the full list of the perceptual codec is in coefcode.py)
RC_OK = 0
RC_TRUNCATED = 1
RC_TRAILING = 2
RC_CORRUPT = 3


def enc_new() -> np.ndarray:
    """A fresh encoder state (``pos = -1``: the first byte LZMA writes is always 0 and is dropped)."""
    st = np.zeros(ES_LEN, dtype=np.int64)
    enc_reset(st)
    return st


def dec_new() -> np.ndarray:
    return np.zeros(DS_LEN, dtype=np.int64)


@kernel
def _adapt(p, cnt, bit):
    """The model after coding ``bit`` with probability ``p`` and count ``cnt`` (spec 2.3)."""
    sh = ADAPT_SHIFTS[cnt & COUNT_MAX]  # the mask only guards against a damaged model array
    if bit == 0:
        p += (PROB_ONE - p) >> sh
        p = min(p, PROB_ONE - PROB_MIN)
    else:
        p -= p >> sh
        p = max(p, PROB_MIN)
    return (min(cnt + 1, COUNT_MAX) << 16) | p


@kernel
def _emodel(low, rng, mv, bit):
    """Encode ``bit`` with the model value ``mv``: ``(low, rng, new model)``, not renormalised."""
    p = mv & 0xFFFF
    bound = (rng >> PROB_BITS) * p
    if bit == 0:
        rng = bound
    else:
        low += bound
        rng -= bound
    return low, rng, _adapt(p, mv >> 16, bit)


@kernel
def _dmodel(rng, code, mv):
    """Decode a bit with the model value ``mv``: ``(rng, code, new model, bit)``, not renormalised."""
    p = mv & 0xFFFF
    bound = (rng >> PROB_BITS) * p
    if code < bound:
        rng = bound
        bit = 0
    else:
        code -= bound
        rng -= bound
        bit = 1
    return rng, code, _adapt(p, mv >> 16, bit), bit


@kernel
def _dshift(rng, code, pos, b):
    """One renormalisation step of the decoder with the next byte ``b`` (0 past the end).
    The mask only matters for corrupt data (code >= range)."""
    return rng << 8, ((code << 8) | b) & _MASK32, pos + 1


# ----------------------------------------------------------------------------- encoder


@kernel
def enc_reset(st):
    st[ES_POS] = -1
    st[ES_LOW] = 0
    st[ES_RANGE] = RANGE_INIT
    st[ES_CACHE] = 0
    st[ES_PENDING] = 1
    st[ES_OVERFLOW] = 0


@kernel
def _emit(buf, st, b):
    """Append one byte; position -1 is the dropped leading zero byte."""
    pos = st[ES_POS]
    if pos >= 0:
        if pos < buf.shape[0]:
            buf[pos] = np.uint8(b)
        else:
            st[ES_OVERFLOW] = 1
    st[ES_POS] = pos + 1


@kernel
def _shift_low(buf, st, low):
    """LZMA's ``RangeEnc_ShiftLow``: move the top byte of ``low`` (bits 24..31) out,
    through the cache, resolving a carry out of bit 32 into the cached byte and the
    pending 0xFF bytes.  Returns the new ``low``."""
    if low < 0xFF000000 or low > _MASK32:
        carry = low >> 32
        b = st[ES_CACHE]
        n = st[ES_PENDING]
        while n > 0:
            _emit(buf, st, (b + carry) & 0xFF)
            b = 0xFF
            n -= 1
        st[ES_PENDING] = 0
        st[ES_CACHE] = (low >> 24) & 0xFF
    st[ES_PENDING] += 1
    return (low & 0x00FFFFFF) << 8


@kernel
def _ebit(buf, st, low, rng, models, ctx, bit):
    """Encode ``bit`` with model ``models[ctx]``; registers in, registers out (spec 2.3)."""
    low, rng, mv = _emodel(low, rng, np.int64(models[ctx]), bit)
    models[ctx] = mv
    if rng < TOP:  # one shift is enough: min(bound, rng - bound) >= 2**16 (spec 2.2)
        rng <<= 8
        low = _shift_low(buf, st, low)
    return low, rng


@kernel
def _ebypass(buf, st, low, rng, value, n):
    """Encode the low ``n`` bits of ``value``, most significant first, each with P = 1/2 (spec 2.4)."""
    for i in range(n - 1, -1, -1):
        rng >>= 1
        if (value >> i) & 1:
            low += rng
        if rng < TOP:
            rng <<= 8
            low = _shift_low(buf, st, low)
    return low, rng


@kernel
def enc_bit(buf, st, models, ctx, bit):
    """Encode one bit with the adaptive model ``models[ctx]`` (updated in place)."""
    low, rng = _ebit(buf, st, st[ES_LOW], st[ES_RANGE], models, ctx, bit)
    st[ES_LOW] = low
    st[ES_RANGE] = rng


@kernel
def enc_bypass(buf, st, value, n):
    """Encode the low ``n`` (0 <= n <= 40) bits of ``value`` as equiprobable bits, MSB first."""
    low, rng = _ebypass(buf, st, st[ES_LOW], st[ES_RANGE], value, n)
    st[ES_LOW] = low
    st[ES_RANGE] = rng


@kernel
def enc_flush(buf, st):
    """Terminate the data (spec 2.5); return the number of bytes written, or -1 if
    ``buf`` was too small (``st[ES_POS]`` then tells the size needed).

    Picks the value in ``[low, low + range)`` with the most trailing zero bytes and
    writes its bytes up to the last non-zero one; the decoder reads the rest as zeros.
    """
    low = st[ES_LOW]
    rng = st[ES_RANGE]
    k = 0
    v = low
    while k < 4:
        mask = (np.int64(1) << (32 - 8 * k)) - 1
        v = (low + mask) & ~mask  # the multiple of 2**(32 - 8k) at or above low
        if v < low + rng:
            break
        k += 1
    if k == 4:  # not reached: k = 1 always succeeds since range >= 2**24
        v = low
    for _ in range(k + 1):  # k bytes of v, plus one shift to push out the cached byte
        v = _shift_low(buf, st, v)
    st[ES_LOW] = 0
    st[ES_RANGE] = RANGE_INIT
    if st[ES_OVERFLOW]:
        return np.int64(-1)
    return max(st[ES_POS], np.int64(0))


# ----------------------------------------------------------------------------- decoder


@kernel
def _byte(buf, pos, end):
    if pos < end:
        return np.int64(buf[pos])
    return np.int64(0)


@kernel
def dec_init(buf, st, start, end):
    """Start decoding the bytes ``buf[start:end]`` (``end <= len(buf)``, clipped if not)."""
    end = min(end, buf.shape[0])
    start = max(start, 0)
    code = np.int64(0)
    for i in range(LOOKAHEAD):
        code = (code << 8) | _byte(buf, start + i, end)
    st[DS_POS] = start + LOOKAHEAD
    st[DS_RANGE] = RANGE_INIT
    st[DS_CODE] = code
    st[DS_END] = end


@kernel
def _dbit(buf, end, pos, rng, code, models, ctx):
    """Decode one bit with model ``models[ctx]``; returns ``(pos, rng, code, bit)`` (spec 2.3)."""
    rng, code, mv, bit = _dmodel(rng, code, np.int64(models[ctx]))
    models[ctx] = mv
    if rng < TOP:
        rng, code, pos = _dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
    return pos, rng, code, bit


@kernel
def _dbypass(buf, end, pos, rng, code, n):
    """Decode ``n`` equiprobable bits, MSB first; returns ``(pos, rng, code, value)`` (spec 2.4)."""
    value = np.int64(0)
    for _ in range(n):
        rng >>= 1
        bit = 0
        if code >= rng:
            code -= rng
            bit = 1
        value = (value << 1) | bit
        if rng < TOP:
            rng, code, pos = _dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
    return pos, rng, code, value


@kernel
def dec_bit(buf, st, models, ctx):
    """Decode one bit with the adaptive model ``models[ctx]`` (updated in place)."""
    pos, rng, code, bit = _dbit(buf, st[DS_END], st[DS_POS], st[DS_RANGE], st[DS_CODE], models, ctx)
    st[DS_POS] = pos
    st[DS_RANGE] = rng
    st[DS_CODE] = code
    return bit


@kernel
def dec_bypass(buf, st, n):
    """Decode ``n`` (0 <= n <= 40) equiprobable bits, MSB first, as an integer."""
    pos, rng, code, v = _dbypass(buf, st[DS_END], st[DS_POS], st[DS_RANGE], st[DS_CODE], n)
    st[DS_POS] = pos
    st[DS_RANGE] = rng
    st[DS_CODE] = code
    return v


@kernel
def dec_phantom(st):
    """Bytes read past the end so far (as zeros)."""
    return max(st[DS_POS] - st[DS_END], np.int64(0))


@kernel
def dec_finish(st):
    """Check the end of the data after its last symbol (spec 2.6).

    Returns ``RC_CORRUPT`` if the code register is not below the range (no encoder
    writes that), ``RC_TRUNCATED`` if more than :data:`LOOKAHEAD` bytes were read past
    the end, ``RC_TRAILING`` if bytes were left unread, else ``RC_OK``.
    """
    if st[DS_CODE] >= st[DS_RANGE]:
        return RC_CORRUPT
    over = st[DS_POS] - st[DS_END]
    if over > LOOKAHEAD:
        return RC_TRUNCATED
    if over < 0:
        return RC_TRAILING
    return RC_OK
