"""Method 3 of the ``lossless`` codec (``spec/codec-lossless.md`` section 14): the value coder
(``snc/kernels/adaptive_residual.py``) against its plain-Python statement and the spec's example, and
whole method-3 packets against a plain-Python decoder written from the spec's text."""

from __future__ import annotations

import numpy as np
import pytest
from test_kernels_entropy import RefDecoder, RefEncoder
from test_kernels_lossless import (
    RefError,
    RefReader,
    kernel_decode,
    kernel_encode_v2,
    ref_finish_subframe,
    ref_nn,
    ref_subframe_head,
    ref_undo_stereo,
)

from snc.kernels import adaptive_residual as ar
from snc.kernels import bitio, errcodes
from snc.kernels import rangecoder as rc

RNG_SEED = 20261204
LIMIT = 1 << 40


def kernel_values(blocks, indices):
    """Encode ``[(index, values), ...]`` with the kernel; returns the bytes."""
    models = ar.new_models(indices)
    means = np.zeros(indices, np.int64)
    buf = np.zeros(64 + 8 * sum(len(v) for _, v in blocks), np.uint8)
    st = rc.enc_new()
    for index, values in blocks:
        v = np.asarray(values, np.int64)
        ar.encode_values(buf, st, models, index * ar.MODELS_PER_INDEX, means, index, v, len(v))
    return buf[: rc.enc_flush(buf, st)].tobytes()


def kernel_decode_values(data, shapes, indices, limit=LIMIT):
    buf = bitio.padded(data)
    st = rc.dec_new()
    rc.dec_init(buf, st, 0, len(data))
    models = ar.new_models(indices)
    means = np.zeros(indices, np.int64)
    out = []
    for index, n in shapes:
        o = np.zeros(n, np.int64)
        if ar.decode_values(buf, st, models, index * ar.MODELS_PER_INDEX, means, index, o, n, limit):
            return None, out
        out.append(o)
    return rc.dec_finish(st), out


# ----------------------------------------------------------------------------- section 14.3 in plain Python
def ref_fields(dec: RefDecoder, n: int) -> int:
    """F(n) of spec 14.3: equiprobable bits, a first field of 1..16 bits, then fields of 16."""
    value = 0
    w = n - 16 * ((n - 1) // 16) if n else 0
    while n > 0:
        dec.range >>= w
        q = dec.code // dec.range
        if q >= 1 << w:
            raise RefError("field")
        dec.code -= q * dec.range
        while dec.range < 1 << 24:
            dec.range <<= 8
            dec.code = ((dec.code << 8) | dec._byte()) & 0xFFFFFFFF
        value = (value << w) | q
        n -= w
        w = 16
    return value


def ref_value(dec: RefDecoder, models: list[int], mean: int) -> tuple[int, int]:
    """One coded value (spec 14.3); returns ``(r, new running mean)``."""
    t = min(mean.bit_length(), 31)
    g = max(t - 1, 0)
    up = dec.bit(models, 32 * t) if g > 0 else 1
    if up:
        e = g
        while e < 37 and dec.bit(models, 32 * t + 1 + min(e - g, 7)):
            e += 1
    else:
        e = g - 1
        while e > 0 and dec.bit(models, 32 * t + 9 + min(g - 1 - e, 7)):
            e -= 1
    mag = e  # 0 or 1
    if e >= 2:
        sub = 2 + dec.bit(models, 1024 + 4 * e + 1)
        mag = (sub << (e - 2)) | ref_fields(dec, e - 2)
    r = mag
    if mag and dec.bit(models, 1024 + 4 * e):
        r = -mag
    return r, mean + ((2 * mag - mean) >> 1)


def _random_blocks(rng, indices, count):
    blocks = []
    for _ in range(count):
        kind = rng.integers(0, 4)
        n = int(rng.integers(0, 400))
        if kind == 0:
            v = rng.laplace(0, 10.0 ** rng.uniform(-1, 5), n).round()
        elif kind == 1:  # an offset, mostly one sign
            v = np.round(1.5 + rng.uniform(-1, 1, n))
        elif kind == 2:
            v = np.zeros(n)
        else:  # extremes of the legal range (section 7.4: |r| < 2**37)
            v = rng.choice([-(2**37) + 1, 2**37 - 1, -1, 1, 0, 2**20], n)
        blocks.append((int(rng.integers(0, indices)), v.astype(np.int64)))
    return blocks


@pytest.mark.parametrize("seed", range(4))
def test_kernel_matches_reference_and_round_trips(seed):
    rng = np.random.default_rng(RNG_SEED + seed)
    indices = int(rng.integers(1, 4))
    blocks = _random_blocks(rng, indices, 12)
    data = kernel_values(blocks, indices)
    assert data == ar.reference_encode(blocks, indices)
    # the plain-Python decoder of section 14.3
    dec = RefDecoder(data)
    models = [[rc.PROB_INIT] * ar.MODELS_PER_INDEX for _ in range(indices)]
    means = [0] * indices
    for index, values in blocks:
        for v in values:
            r, means[index] = ref_value(dec, models[index], means[index])
            assert r == v
    assert dec.finish() == rc.RC_OK
    check, out = kernel_decode_values(data, [(i, len(v)) for i, v in blocks], indices)
    assert check == rc.RC_OK
    for (_, v), o in zip(blocks, out):
        assert o.tolist() == v.tolist()


def test_spec_example_first_value():
    """Section 14.3's example: r = -5 first at index 0 uses exactly the listed models and bits."""
    enc = RefEncoder()
    models = [rc.PROB_INIT] * ar.MODELS_PER_INDEX
    for ctx, bit in [(1, 1), (2, 1), (3, 1), (4, 0), (1024 + 12 + 1, 0), (None, 1), (1024 + 12, 1)]:
        if ctx is None:
            enc.bypass(bit, 1)  # F(1) is B(1)
        else:
            enc.bit(models, ctx, bit)
    assert enc.flush() == ar.reference_encode([(0, [-5])], 1) == kernel_values([(0, [-5])], 1)
    assert ar.next_mean(0, 5) == 5 and ar.context(5) == 3


def test_adaptive_coding_beats_its_raw_size_on_skewed_values():
    """A mix's rounding residual (offset 1.5, entropy ~1 bit) costs within a few per cent of its entropy,
    learning included (partition-wise Rice codes pay 30 % and more on it)."""
    rng = np.random.default_rng(RNG_SEED)
    v = np.round(1.5 + rng.uniform(-0.5, 0.5, 20000) + 0.6 * rng.uniform(-0.5, 0.5, 20000)).astype(np.int64)
    _, counts = np.unique(v, return_counts=True)
    p = counts / counts.sum()
    entropy_bytes = -(counts * np.log2(p)).sum() / 8
    assert len(kernel_values([(0, v)], 1)) < 1.06 * entropy_bytes


def test_decoder_rejects_values_over_the_limit():
    data = kernel_values([(0, [1000])], 1)
    assert kernel_decode_values(data, [(0, 1)], 1, limit=2000)[0] is None  # zigzag(1000) = 2000
    assert kernel_decode_values(data, [(0, 1)], 1, limit=2001)[0] == rc.RC_OK


def test_classes_stop_at_37():
    """Values of class 37 (the largest legal) take no step beyond it, in the kernel and the reference."""
    v = [2**36, -(2**37) + 1, 2**36 + 12345]
    data = kernel_values([(0, v)], 1)
    assert data == ar.reference_encode([(0, v)], 1)
    assert kernel_decode_values(data, [(0, 3)], 1)[1][0].tolist() == v


def test_truncated_and_padded_value_streams_are_detected():
    rng = np.random.default_rng(RNG_SEED + 7)
    blocks = [(0, rng.laplace(0, 50, 3000).round().astype(np.int64))]
    data = kernel_values(blocks, 1)
    assert kernel_decode_values(data + b"\x00" * 5, [(0, 3000)], 1)[0] == rc.RC_TRAILING
    check, out = kernel_decode_values(data[: len(data) // 2], [(0, 3000)], 1)
    assert check is None or check != rc.RC_OK or out[0].tolist() != blocks[0][1].tolist()


# ----------------------------------------------------------------------------- whole method-3 packets
def ref_decode_method3(data: bytes, frames: int, channels: int, bits: int) -> np.ndarray:
    """Spec sections 13 and 14 with plain Python: blocks and headers, then the range-coded values,
    the inverse filters over each index's whole sequence, the prediction."""
    rd = RefReader(data)
    if rd.u(8) != 3:
        raise RefError("method")
    stages = [(16 << rd.u(3), rd.u(5)) for _ in range(rd.u(2))]
    start = rd.u(32)
    blocks = []
    pos = 0
    while pos < frames:
        n = rd.u(16) + 1
        mode = rd.u(2) if channels == 2 else 0
        side = {0: (), 1: (1,), 2: (0,), 3: (1,)}[mode]
        blocks.append((n, mode, [ref_subframe_head(rd, n, bits + (c in side)) for c in range(channels)]))
        pos += n
    if rd.u(-rd.pos % 8) != 0 or rd.pos != 8 * start:
        raise RefError("range offset")
    dec = RefDecoder(data[start:])
    models = [[rc.PROB_INIT] * ar.MODELS_PER_INDEX for _ in range(channels)]
    means = [0] * channels
    coded = [[] for _ in range(channels)]
    for n, _, subs in blocks:
        for c, head in enumerate(subs):
            if head["predicted"]:
                for _ in range(n - head["order"]):
                    r, means[c] = ref_value(dec, models[c], means[c])
                    coded[c].append(r)
    if dec.finish() != rc.RC_OK:
        raise RefError("range end")
    for c in range(channels):
        for order, shift in reversed(stages):
            coded[c] = ref_nn(coded[c], order, shift, inverse=True)
    out = np.zeros((frames, channels), np.int64)
    taken = [0] * channels
    pos = 0
    for n, mode, subs in blocks:
        ch = []
        for c, head in enumerate(subs):
            m = n - head["order"] if head["predicted"] else 0
            ch.append(ref_finish_subframe(head, coded[c][taken[c] : taken[c] + m]))
            taken[c] += m
        out[pos : pos + n] = np.array(ref_undo_stereo(ch, mode), np.int64).T
        pos += n
    return out.astype(np.int32)


def kernel_encode_v3(x, bits, filters, block_frames=4096, adaptive=True):
    return kernel_encode_v2(x, bits, filters, block_frames, adaptive)


def _signals(rng):
    t = np.arange(3000)
    tone = (3000 * np.sin(t / 9.0) + 800 * np.sin(t / 2.3) + rng.laplace(0, 4, t.size)).astype(np.int64)
    residual = np.round(1.5 + rng.uniform(-0.5, 0.5, (t.size, 2)) + 0.6 * rng.uniform(-0.5, 0.5, (t.size, 2)))
    return {
        "tone_stereo": np.stack([tone, tone // 2 + rng.integers(-3, 3, t.size)], 1),
        "rounding_residual": residual.astype(np.int64),
        "quiet_mono_wasted": (rng.laplace(0, 2, (t.size, 1)).round().astype(np.int64) << 3),
    }


@pytest.mark.parametrize("name", ["tone_stereo", "rounding_residual", "quiet_mono_wasted"])
def test_method3_packets_match_the_reference_decoder(name):
    x = _signals(np.random.default_rng(RNG_SEED + 3))[name]
    data = kernel_encode_v3(x, 16, ((32, 10), (16, 11)), 1024)
    assert data[0] == 3
    assert len(data) < len(kernel_encode_v3(x, 16, ((32, 10), (16, 11)), 1024, adaptive=False))
    err, out = kernel_decode(data, len(x), x.shape[1], 16)
    assert err == errcodes.OK
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(ref_decode_method3(data, len(x), x.shape[1], 16), x)


def test_rounding_residual_is_coded_without_prediction():
    """Spec 14.5: on a white offset signal the unpredicted variant (no filters, independent channels) wins."""
    x = _signals(np.random.default_rng(RNG_SEED + 4))["rounding_residual"]
    data = kernel_encode_v3(x, 16, ((32, 10), (16, 11)), 1024)
    rd = RefReader(data)
    assert (rd.u(8), rd.u(2)) == (3, 0)  # method 3, no filter stages
    rd.u(32)
    rd.u(16)
    assert rd.u(2) == 0  # independent channels
    assert (rd.u(2), rd.u(1), rd.u(3)) == (2, 0, 0)  # FIXED, no wasted bits, order 0


def test_rice_setting_never_writes_method3():
    x = _signals(np.random.default_rng(RNG_SEED + 5))["rounding_residual"]
    assert kernel_encode_v3(x, 16, ((32, 10), (16, 11)), 1024, adaptive=False)[0] in (1, 2)


def test_method3_rejects_bad_offsets_and_corruption():
    rng = np.random.default_rng(RNG_SEED + 6)
    x = _signals(rng)["tone_stereo"]
    data = kernel_encode_v3(x, 16, ((32, 10), (16, 11)), 1024)
    assert data[0] == 3
    rd = RefReader(data)
    rd.u(8)
    head = 10 + 8 * rd.u(2)
    start = int.from_bytes(data[head // 8 : head // 8 + 5], "big") >> (8 - head % 8) & 0xFFFFFFFF

    def with_start(value):
        bits = int.from_bytes(data, "big")
        shift = 8 * len(data) - head - 32
        bits = bits & ~(0xFFFFFFFF << shift) | (value << shift)
        return bits.to_bytes(len(data), "big")

    assert with_start(start) == data
    assert kernel_decode(with_start(start + 1), len(x), 2, 16)[0] != errcodes.OK  # the values decode wrong first
    assert kernel_decode(with_start(len(data) + 1), len(x), 2, 16)[0] == errcodes.RANGE_OFFSET
    assert kernel_decode(with_start(1), len(x), 2, 16)[0] == errcodes.RANGE_OFFSET
    assert kernel_decode(data + bytes(5), len(x), 2, 16)[0] == errcodes.TRAILING  # at most 4 phantom bytes
    for n in range(0, len(data), 11):  # the container's CRC-32 covers what the range coder cannot see (spec 2.6)
        err, out = kernel_decode(data[:n], len(x), 2, 16)
        assert err != errcodes.OK or not np.array_equal(out, x)
    for _ in range(300):
        b = bytearray(data)
        j = int(rng.integers(0, 8 * len(b)))
        b[j // 8] ^= 0x80 >> (j % 8)
        err, out = kernel_decode(bytes(b), len(x), 2, 16)
        assert err != errcodes.OK or out.shape == x.shape
