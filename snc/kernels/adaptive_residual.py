"""Method 3 of the ``lossless`` codec: coded residuals by the adaptive binary range coder
(``spec/codec-lossless.md`` section 14; the coder itself is ``spec/perceptual-entropy.md`` section 2).

Rice codes (method 1) fit one geometric distribution per partition: on residuals of a bit or two
per sample (a mix's rounding noise, a quiet stem) they cost well above the entropy (docs/range-coding.md),
and a partition follows a change of level only at its boundary.  Here every value is coded with
probabilities that adapt per value:

* its class ``e = bit_length(|r|)`` relative to the class ``c`` a value at the running mean of
  ``|r|`` has: one adaptive bit for ``e >= c``, then unary steps up (or down) from ``c``, each
  adaptive, all in the context of that mean's bit length (14.3); most values take two or three
  decisions, and none is spent on classes the level makes certain;
* for ``e >= 2`` the ``e - 1`` bits below the leading one: the first adaptive (in the context
  of ``e``), the rest equiprobable, up to 16 at a time with one division;
* the sign, adaptive in the context of ``e`` (a signal with an offset, such as a mix's rounding
  residual, has mostly one sign).

Every subframe index of a packet has its own models and running mean, as it has its own filters
(13.2).  :func:`encode_values` / :func:`decode_values` are the kernels; :func:`reference_encode`
is the plain-Python statement of the same algorithm, kept to test them against.
"""

from __future__ import annotations

import numpy as np

from . import rangecoder as rc
from ._jit import kernel

#: contexts of the class: the bit length of the running mean, capped (14.3)
CONTEXTS = 32
#: coded values satisfy |r| < 2**(32 + 5) (section 7.4), so the class bit_length(|r|) is at most 37
MAX_CLASS = 37
#: models of the class per context: "at least the expected class", then 8 steps up and 8 steps down
CLASS_STRIDE = 32
UP = 1
DOWN = 9
STEPS = 8
#: mantissa bits below the leading one that are coded with adaptive models: one (a second one saves about
#: a thousandth of the bytes and costs a fifth of the decoding time, docs/range-coding.md)
MANTISSA_MODELS = 1
#: the running mean A holds 2 x the mean of |r| (1 fraction bit) and moves half way per value: the level
#: of the last few values predicts the next class better than a longer mean (docs/range-coding.md)
MEAN_SHIFT = 1
#: equiprobable bits are coded this many at a time (one division instead of a step per bit, 14.3): a step
#: leaves range >= 2**(24 - 16), which two renormalisations restore
RAW_STEP = 16
#: model layout of one subframe index: the class models of every context, then per class e = 0..63
#: the sign model and the mantissa model(s) (4 slots)
CLASS_MODELS = CONTEXTS * CLASS_STRIDE
MANTISSA_BASE = CLASS_MODELS
MODELS_PER_INDEX = CLASS_MODELS + 64 * 4


@kernel
def new_models(indices):
    """Models of ``indices`` subframe indices in their initial state (P = 1/2, count 0)."""
    return np.full(indices * MODELS_PER_INDEX, rc.PROB_INIT, dtype=np.int64)


@kernel
def bit_length(u):
    n = 0
    while u:
        n += 1
        u >>= 1
    return n


@kernel
def context(mean):
    return min(bit_length(mean), CONTEXTS - 1)


@kernel
def expected_class(t):
    """The class of a value at the running mean: A = 2 x mean, so bit_length(mean) = t - 1."""
    return max(t - MEAN_SHIFT, 0)


@kernel
def next_mean(mean, m):
    return mean + (((m << MEAN_SHIFT) - mean) >> MEAN_SHIFT)


@kernel
def _first_field(n):
    """The width of the first field of ``n`` equiprobable bits (1..RAW_STEP); the others are RAW_STEP wide."""
    return n - RAW_STEP * ((n - 1) // RAW_STEP)


@kernel
def _eraw(buf, st, low, rng, value, n):
    """Encode the low ``n`` bits of ``value`` as equiprobable fields, the most significant first (14.3)."""
    k = _first_field(n)
    while n > 0:
        part = (value >> (n - k)) & ((np.int64(1) << k) - 1)
        rng >>= k
        low += part * rng
        while rng < rc.TOP:
            rng <<= 8
            low = rc._shift_low(buf, st, low)
        n -= k
        k = RAW_STEP
    return low, rng


@kernel
def _draw(buf, end, pos, rng, code, n):
    """Decode ``n`` equiprobable bits coded by :func:`_eraw`: ``(pos, rng, code, value, ok)``; not ok when a
    field's quotient does not fit its width (corrupt data)."""
    value = np.int64(0)
    ok = True
    k = _first_field(n)
    while n > 0:
        rng >>= k
        part = code // rng
        if part >> k:
            ok = False
            part = (np.int64(1) << k) - 1
        code -= part * rng
        while rng < rc.TOP:
            rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
        value = (value << k) | part
        n -= k
        k = RAW_STEP
    return pos, rng, code, value, ok


@kernel
def encode_values(buf, st, models, base, means, index, r, n):
    """Code ``r[:n]`` with the models ``models[base:base + MODELS_PER_INDEX]`` and the running mean
    ``means[index]`` of one subframe index (both updated).

    Every adaptive bit is the scalar core ``rc._emodel`` with the model indexed here, not a call of
    ``rc._ebit``: an array passed per bit costs numba's reference counting (rangecoder's module doc).
    The steps up and down stay two loops, as spec 14.3 writes them."""
    low = st[rc.ES_LOW]
    rng = st[rc.ES_RANGE]
    mean = means[index]
    for i in range(n):
        v = r[i]
        m = -v if v < 0 else v
        e = bit_length(m)
        t = context(mean)
        c = expected_class(t)
        cm = base + t * CLASS_STRIDE
        if c > 0:
            low, rng, mv = rc._emodel(low, rng, models[cm], 1 if e >= c else 0)
            models[cm] = mv
            if rng < rc.TOP:
                rng <<= 8
                low = rc._shift_low(buf, st, low)
        if e >= c:
            j = c
            while j < MAX_CLASS:
                bit = 1 if e > j else 0
                ctx = cm + UP + min(j - c, STEPS - 1)
                low, rng, mv = rc._emodel(low, rng, models[ctx], bit)
                models[ctx] = mv
                if rng < rc.TOP:
                    rng <<= 8
                    low = rc._shift_low(buf, st, low)
                if bit == 0:
                    break
                j += 1
        else:
            j = c - 1
            while j > 0:
                bit = 1 if e < j else 0
                ctx = cm + DOWN + min(c - 1 - j, STEPS - 1)
                low, rng, mv = rc._emodel(low, rng, models[ctx], bit)
                models[ctx] = mv
                if rng < rc.TOP:
                    rng <<= 8
                    low = rc._shift_low(buf, st, low)
                if bit == 0:
                    break
                j -= 1
        if e >= 2:
            below = e - 1
            k = min(MANTISSA_MODELS, below)
            mant = base + MANTISSA_BASE + e * 4
            sub = 1
            for j in range(k):
                bit = (m >> (below - 1 - j)) & 1
                low, rng, mv = rc._emodel(low, rng, models[mant + sub], bit)
                models[mant + sub] = mv
                if rng < rc.TOP:
                    rng <<= 8
                    low = rc._shift_low(buf, st, low)
                sub = 2 * sub + bit
            if below > k:
                low, rng = _eraw(buf, st, low, rng, m, below - k)
        if m:
            sign = base + MANTISSA_BASE + e * 4  # slot 0 of the class's mantissa models
            low, rng, mv = rc._emodel(low, rng, models[sign], 1 if v < 0 else 0)
            models[sign] = mv
            if rng < rc.TOP:
                rng <<= 8
                low = rc._shift_low(buf, st, low)
        mean = next_mean(mean, m)
    means[index] = mean
    st[rc.ES_LOW] = low
    st[rc.ES_RANGE] = rng


@kernel
def decode_values(buf, st, models, base, means, index, out, n, limit):
    """Decode ``n`` values into ``out[:n]`` (the inverse of :func:`encode_values`).  Returns 0, or
    1 when a value's zigzag code reaches ``limit`` (14.4)."""
    end = st[rc.DS_END]
    pos = st[rc.DS_POS]
    rng = st[rc.DS_RANGE]
    code = st[rc.DS_CODE]
    mean = means[index]
    err = 0
    for i in range(n):
        t = context(mean)
        c = expected_class(t)
        cm = base + t * CLASS_STRIDE
        up = 1
        if c > 0:
            rng, code, mv, up = rc._dmodel(rng, code, models[cm])
            models[cm] = mv
            if rng < rc.TOP:
                rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
        if up:
            e = c
            while e < MAX_CLASS:
                ctx = cm + UP + min(e - c, STEPS - 1)
                rng, code, mv, bit = rc._dmodel(rng, code, models[ctx])
                models[ctx] = mv
                if rng < rc.TOP:
                    rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                if bit == 0:
                    break
                e += 1
        else:
            e = c - 1
            while e > 0:
                ctx = cm + DOWN + min(c - 1 - e, STEPS - 1)
                rng, code, mv, bit = rc._dmodel(rng, code, models[ctx])
                models[ctx] = mv
                if rng < rc.TOP:
                    rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                if bit == 0:
                    break
                e -= 1
        m = np.int64(0)
        if e == 1:
            m = np.int64(1)
        elif e >= 2:
            below = e - 1
            k = min(MANTISSA_MODELS, below)
            mant = base + MANTISSA_BASE + e * 4
            sub = 1
            for _ in range(k):
                rng, code, mv, bit = rc._dmodel(rng, code, models[mant + sub])
                models[mant + sub] = mv
                if rng < rc.TOP:
                    rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
                sub = 2 * sub + bit
            m = np.int64(sub)  # the leading one, then the k adaptive bits
            if below > k:
                pos, rng, code, low_bits, ok = _draw(buf, end, pos, rng, code, below - k)
                if not ok:
                    err = 1
                    break
                m = (m << (below - k)) | low_bits
        v = m
        if m:
            sign = base + MANTISSA_BASE + e * 4
            rng, code, mv, s = rc._dmodel(rng, code, models[sign])
            models[sign] = mv
            if rng < rc.TOP:
                rng, code, pos = rc._dshift(rng, code, pos, np.int64(buf[pos]) if pos < end else np.int64(0))
            if s:
                v = -m
        if ((v << 1) ^ (v >> 63)) >= limit:
            err = 1
            break
        out[i] = v
        mean = next_mean(mean, m)
    means[index] = mean
    st[rc.DS_POS] = pos
    st[rc.DS_RANGE] = rng
    st[rc.DS_CODE] = code
    return err


def reference_encode(blocks, indices: int) -> bytes:
    """Plain-Python statement of 14.3: ``blocks`` is a list of ``(index, values)`` in coding order.
    Returns the range coder's bytes (the kernels must produce the same)."""
    models = [rc.PROB_INIT] * (indices * MODELS_PER_INDEX)
    means = [0] * indices
    decisions: list[tuple[int | None, int]] = []  # (model index or None for an equiprobable bit, bit)
    for index, values in blocks:
        base = index * MODELS_PER_INDEX
        for v in (int(x) for x in values):
            m = abs(v)
            e = m.bit_length()
            t = min(means[index].bit_length(), CONTEXTS - 1)
            c = max(t - MEAN_SHIFT, 0)
            cm = base + t * CLASS_STRIDE
            if c > 0:
                decisions.append((cm, int(e >= c)))
            if e >= c:
                for j in range(c, MAX_CLASS):
                    decisions.append((cm + UP + min(j - c, STEPS - 1), int(e > j)))
                    if e <= j:
                        break
            else:
                for j in range(c - 1, 0, -1):
                    decisions.append((cm + DOWN + min(c - 1 - j, STEPS - 1), int(e < j)))
                    if e >= j:
                        break
            if e >= 2:
                below = e - 1
                k = min(MANTISSA_MODELS, below)
                sub = 1
                for j in range(k):
                    bit = (m >> (below - 1 - j)) & 1
                    decisions.append((base + MANTISSA_BASE + e * 4 + sub, bit))
                    sub = 2 * sub + bit
                if below > k:
                    decisions.append((None, (m, below - k)))
            if m:
                decisions.append((base + MANTISSA_BASE + e * 4, 1 if v < 0 else 0))
            means[index] += ((m << MEAN_SHIFT) - means[index]) >> MEAN_SHIFT
    buf = np.zeros(len(decisions) + 64, dtype=np.uint8)
    st = rc.enc_new()
    arr = np.array(models, dtype=np.int64)
    for model, bit in decisions:
        if model is None:  # the low n bits of value, in fields: the first of 1..16 bits, then 16 each
            value, n = bit
            k = n - RAW_STEP * ((n - 1) // RAW_STEP)
            while n > 0:
                st[rc.ES_RANGE] >>= k
                st[rc.ES_LOW] += ((value >> (n - k)) & ((1 << k) - 1)) * st[rc.ES_RANGE]
                while st[rc.ES_RANGE] < rc.TOP:
                    st[rc.ES_RANGE] <<= 8
                    st[rc.ES_LOW] = rc._shift_low(buf, st, st[rc.ES_LOW])
                n -= k
                k = RAW_STEP
        else:
            rc.enc_bit(buf, st, arr, model, bit)
    n = rc.enc_flush(buf, st)
    return buf[:n].tobytes()
