"""Packets of the ``perceptual`` codec: golden packets (the integer decoder must never drift) and corrupt
packets (truncations, bit flips, garbage, malformed lengths, the wrong stream config), which must fail with
a CodecError, never a crash or a hang."""

from __future__ import annotations

import faulthandler
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from perceptual_helpers import drum_hit, full_scale, make_codec, music

from snc.codecs.perceptual import PerceptualCodec
from snc.codecs.registry import get_codec
from snc.errors import CodecError
from snc.kernels import mdct
from snc.kernels import perceptual_packet as pk

FIXTURES = Path(__file__).parents[2] / "fixtures" / "perceptual"


@pytest.fixture
def watchdog():
    """A decoder that loops forever would hang the suite: dump the stacks and exit after 120 s instead."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def golden_cases():
    return json.loads((FIXTURES / "vectors.json").read_text())["packets"]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["name"])
def test_golden_packets(case):
    """The stored packets must decode to the stored hashes forever (integer-only decoder, spec 1-7).
    Decoding as 32-bit and clamping gives the same samples: the clamp is the last step (spec 6)."""
    codec = get_codec(case["codec_id"], case["config"])
    data = (FIXTURES / case["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["packet_sha256"]
    out = codec.decode(data, case["frames"])
    assert out.shape == (case["frames"], case["config"]["channels"]) and out.dtype == np.int32
    assert hashlib.sha256(out.astype("<i4").tobytes()).hexdigest() == case["samples_sha256"]
    wide = PerceptualCodec(bits=32, channels=case["config"]["channels"]).decode(data, case["frames"])
    lo, hi = full_scale(case["config"]["bits"])
    assert np.array_equal(np.clip(wide, lo, hi), out)
    assert ("clamp" in case["features"]) == (not np.array_equal(wide, out))


def test_golden_packets_cover_the_decoder():
    feats = set().union(*(c["features"] for c in golden_cases()))
    needed = {"long", "start", "short", "stop", "ms", "lr", "ms_short", "clamp", "empty", "escape",
              "partial_frame", "sf_negative", "shift_left", "all_mantissas", "handmade",
              "channels1", "channels2", "channels6", "bits8", "bits16", "bits20", "bits24", "bits32",
              "noise", "noise_short", "noise_ms"}
    assert needed <= feats, needed - feats


def test_golden_empty_packet_is_the_version_byte():
    (case,) = [c for c in golden_cases() if "empty" in c["features"]]
    assert (FIXTURES / case["file"]).read_bytes() == bytes([pk.VERSION])
    assert make_codec(channels=2).encode(np.zeros((0, 2), np.int32)) == bytes([pk.VERSION])


def _small_packet():
    """A stereo packet with LONG/START/SHORT/STOP frames and mid/side (3000 frames)."""
    n = 3000
    x = music(n, 2, seed=50) // 16
    x += drum_hit(n, 1500, 12000.0).repeat(2, axis=1)
    codec = make_codec(channels=2)
    kinds, _ = codec.analyse(x)
    assert (kinds == mdct.SHORT).any()
    return codec, codec.encode(x), n


def _decode_or_codec_error(codec, data, frames):
    try:
        y = codec.decode(data, frames)
    except CodecError:
        return False
    assert y.shape == (frames, codec.channels) and y.dtype == np.int32
    return True


def test_truncations_raise_codec_error(watchdog):
    """Every truncation is rejected, except that the range coder's last (up to 4) flush bytes only narrow
    the final interval: dropping or appending a few of them need not be detected by the packet
    (spec/perceptual-entropy.md 2.6; the container's size and CRC-32 cover it), but must decode cleanly."""
    codec, data, n = _small_packet()
    assert len(data) > 200
    for i in range(len(data) - 4):
        with pytest.raises(CodecError):
            codec.decode(data[:i], n)
    for i in range(len(data) - 4, len(data)):
        _decode_or_codec_error(codec, data[:i], n)
    for extra in (b"\x00", b"\xff\x00"):
        _decode_or_codec_error(codec, data + extra, n)
    for extra in (bytes(5), b"\x55" * 40):
        with pytest.raises(CodecError):
            codec.decode(data + extra, n)


def test_bit_flips_fail_cleanly(watchdog):
    codec, data, n = _small_packet()
    rng = np.random.default_rng(51)
    decoded = 0
    for _ in range(400):
        b = bytearray(data)
        for pos in rng.integers(0, len(b) * 8, int(rng.integers(1, 4))):
            b[pos // 8] ^= 1 << (pos % 8)
        decoded += _decode_or_codec_error(codec, bytes(b), n)
    assert decoded < 200  # most corruptions are detected


def test_random_garbage_fails_cleanly(watchdog):
    rng = np.random.default_rng(52)
    for channels in (1, 2, 6):
        codec = make_codec(channels=channels, bits=24)
        for _ in range(100):
            data = bytes([pk.VERSION]) + rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
            for frames in (1, 1024, 5000):
                _decode_or_codec_error(codec, data, frames)


@pytest.mark.parametrize("data,frames", [
    (b"", 100), (b"\x00", 100), (b"\x02" + bytes(50), 100), (b"\xff" * 10, 100),  # bad version byte
    (b"", 0), (b"\x01\x00", 0), (b"\x00", 0),  # an empty packet is exactly the version byte
    (b"\x01" + bytes(4), 10**9),  # a short packet cannot claim a huge length
])
def test_decode_rejects_malformed(data, frames):
    with pytest.raises(CodecError):
        make_codec(channels=2).decode(data, frames)


@pytest.mark.parametrize("frames", [-1, 1.5, "10", None])
def test_decode_rejects_bad_frame_counts(frames):
    with pytest.raises(CodecError):
        make_codec().decode(bytes([pk.VERSION]), frames)


def test_long_silence_packet_decodes():
    frames = 1 << 20
    F = mdct.n_frames(frames)
    buf = np.zeros(pk.bound_bytes(F, 1), np.uint8)
    n = pk.encode_packet(np.zeros(F, np.int64), np.zeros(F, np.int64), np.zeros((F, 1, pk.NB_LONG), np.int64),
                         np.zeros((F, 1, pk.NB_LONG), np.int64), np.zeros((F, 1, 1024), np.int32), buf)
    data = buf[:n].tobytes()
    assert data == make_codec().encode(np.zeros((frames, 1), np.int32))  # what the encoder writes
    assert not make_codec().decode(data, frames).any()


def test_wrong_stream_config_fails_cleanly():
    """A packet decoded with another channel count is (almost always) rejected, never crashes."""
    codec, data, n = _small_packet()
    for channels in (1, 3, 8):
        _decode_or_codec_error(make_codec(channels=channels), data, n)
