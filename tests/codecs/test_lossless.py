"""The ``lossless`` stream codec: configuration, exact round trips, corrupt input, golden packets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snc.codecs.lossless import LosslessCodec
from snc.codecs.registry import get_codec
from snc.errors import CodecError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lossless"


def roundtrip(x: np.ndarray, bits: int, **kw) -> bytes:
    codec = LosslessCodec(bits=bits, channels=x.shape[1], **kw)
    data = codec.encode(x)
    y = codec.decode(data, len(x))
    assert y.dtype == np.int32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    return data


def full_scale(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def music(n: int, channels: int, bits: int, seed: int = 0) -> np.ndarray:
    """Tonal test signal with noise, at about -6 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    f = rng.uniform(0.01, 0.2, (1, channels))
    x = 0.3 * np.sin(t * f) + 0.15 * np.sin(t * 3.7 * f + 1) + rng.normal(0, 0.003, (n, channels))
    return np.round(x * 2.0 ** (bits - 1)).astype(np.int32)


# ----------------------------------------------------------------------------- config
def test_config_roundtrip_and_registry():
    codec = LosslessCodec(bits=24, channels=6, block_frames=1024, max_order=12)
    cfg = codec.get_config()
    assert cfg == {"format": "int", "channels": 6, "bits": 24, "block_frames": 1024, "max_order": 12,
                   "residual_coding": "adaptive"}
    assert json.loads(json.dumps(cfg)) == cfg
    again = get_codec("lossless", cfg)
    assert isinstance(again, LosslessCodec) and again.get_config() == cfg
    assert LosslessCodec.from_config({"format": "int", "bits": 16, "channels": 2}).get_config()["block_frames"] == 4096
    assert LosslessCodec.lossless and LosslessCodec.codec_id == "lossless"


@pytest.mark.parametrize(
    "kw",
    [
        {"format": "float32"},
        {"bits": 7},
        {"bits": 33},
        {"channels": 0},
        {"channels": 9},
        {"block_frames": 15},
        {"block_frames": 65537},
        {"block_frames": 4096.0},
        {"max_order": -1},
        {"max_order": 33},
        {"residual_coding": "zstd"},
    ],
)
def test_config_rejects(kw):
    with pytest.raises(CodecError):
        LosslessCodec(**kw)


def test_from_config_rejects_unknown_keys():
    with pytest.raises(CodecError):
        LosslessCodec.from_config({"bits": 16, "channels": 1, "level": 8})


def test_encode_rejects_bad_blocks():
    codec = LosslessCodec(bits=16, channels=2)
    with pytest.raises(CodecError):
        codec.encode(np.zeros((10, 3), np.int32))
    with pytest.raises(CodecError):
        codec.encode(np.zeros((10, 2), np.float32))
    with pytest.raises(CodecError):
        codec.encode(np.full((10, 2), 40000, np.int32))


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("kind", ["silence", "dc", "square", "noise", "music", "extremes"])
def test_roundtrip_signals(bits, kind):
    lo, hi = full_scale(bits)
    n = 5000
    rng = np.random.default_rng(bits)
    x = {
        "silence": np.zeros((n, 2), np.int64),
        "dc": np.full((n, 2), [hi, lo]),
        "square": np.where((np.arange(n) // 50) % 2, hi, lo)[:, None].repeat(2, 1),
        "noise": rng.integers(lo, hi + 1, (n, 2)),
        "music": music(n, 2, bits),
        "extremes": rng.choice([lo, lo + 1, -1, 0, 1, hi - 1, hi], (n, 2)),
    }[kind].astype(np.int32)
    data = roundtrip(x, bits)
    raw = x.size * bits // 8
    if kind in ("silence", "dc"):
        assert len(data) < 40
    if kind == "square":
        assert len(data) < raw / 2.5
    if kind in ("noise", "extremes"):
        # escapes keep white noise at its raw size plus a few bytes per block and channel
        assert len(data) <= raw + 1 + 2 * 2 * 8


@pytest.mark.parametrize("channels", [1, 2, 3, 8])
@pytest.mark.parametrize("frames", [1, 2, 4095, 4096, 4097])
def test_roundtrip_lengths_and_channels(channels, frames):
    roundtrip(music(frames, channels, 16, seed=frames + channels), 16)


def test_roundtrip_long_packet_and_settings():
    x = music(65536, 2, 16)
    size = len(roundtrip(x, 16))
    assert size < x.size * 2 * 0.6
    roundtrip(x[:9000], 16, block_frames=65536)
    roundtrip(x[:9000], 16, block_frames=16)
    roundtrip(x[:9000], 16, max_order=0)
    roundtrip(x[:9000], 16, max_order=1)


def test_roundtrip_32bit_full_scale_stereo():
    lo, hi = full_scale(32)
    x = np.array([[hi, lo], [lo, hi], [hi, hi], [lo, lo], [0, lo], [hi, 0]] * 700, np.int32)
    roundtrip(x, 32)
    roundtrip(np.array([[lo, hi]], np.int32), 32)


def test_roundtrip_wasted_bits_and_odd_depths():
    x = music(3000, 2, 16) << 8
    data24 = roundtrip(x, 24)
    data16 = roundtrip(x >> 8, 16)
    assert len(data24) <= len(data16) + 16  # the zero low byte costs (almost) nothing
    roundtrip(music(3000, 1, 12) >> 0, 12)
    roundtrip(music(3000, 3, 20), 20)


def test_empty_packet():
    codec = LosslessCodec(bits=16, channels=2)
    data = codec.encode(np.zeros((0, 2), np.int32))
    assert data == b"\x01"
    assert codec.decode(data, 0).shape == (0, 2)


SIGNAL_KINDS = ["noise", "music", "steps", "sparse", "extremes"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.integers(1, 3000),
    channels=st.integers(1, 8),
    bits=st.integers(8, 32),
    kind=st.sampled_from(SIGNAL_KINDS),
    block_frames=st.sampled_from([16, 100, 1024, 4096]),
    seed=st.integers(0, 2**32 - 1),
)
def test_roundtrip_property(frames, channels, bits, kind, block_frames, seed):
    rng = np.random.default_rng(seed)
    lo, hi = full_scale(bits)
    if kind == "noise":
        x = rng.integers(lo, hi + 1, (frames, channels))
    elif kind == "music":
        x = music(frames, channels, bits, seed % 1000)
    elif kind == "steps":
        x = np.repeat(rng.integers(lo, hi + 1, (frames // 37 + 1, channels)), 37, 0)[:frames]
    elif kind == "sparse":
        x = np.where(rng.random((frames, channels)) < 0.05, rng.integers(lo, hi + 1, (frames, channels)), 0)
    else:
        x = rng.choice([lo, hi, 0], (frames, channels))
    roundtrip(x.astype(np.int32), bits, block_frames=block_frames)


# ----------------------------------------------------------------------------- corrupt input
def small_packet() -> tuple[LosslessCodec, np.ndarray, bytes]:
    codec = LosslessCodec(bits=16, channels=2, block_frames=64)
    x = music(200, 2, 16, seed=3)
    x[150:] = np.random.default_rng(1).integers(-(2**15), 2**15, (50, 2))  # escapes too
    return codec, x, codec.encode(x)


def decode_or_codec_error(codec, data, frames):
    try:
        out = codec.decode(data, frames)
    except CodecError as exc:
        assert str(exc).startswith("lossless: ") and "\n" not in str(exc)
        return None
    assert out.shape == (frames, codec.channels) and out.dtype == np.int32
    return out


def test_every_truncation_raises_codec_error():
    codec, x, data = small_packet()
    for n in range(len(data)):
        with pytest.raises(CodecError):
            codec.decode(data[:n], len(x))


def test_extra_or_missing_frames_and_bytes():
    codec, x, data = small_packet()
    for bad in (data + b"\x00", data + b"\x80", data[:-1]):
        with pytest.raises(CodecError):
            codec.decode(bad, len(x))
    for frames in (len(x) - 1, len(x) + 1, 1):
        with pytest.raises(CodecError):
            codec.decode(data, frames)
    with pytest.raises(CodecError, match="cannot hold"):
        codec.decode(data, 10**12)
    with pytest.raises(CodecError):
        codec.decode(data, -1)


def test_random_bit_flips_decode_or_raise():
    codec, x, data = small_packet()
    rng = np.random.default_rng(5)
    for _ in range(1500):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(0, 8 * len(b)))
            b[i // 8] ^= 1 << (i % 8)
        decode_or_codec_error(codec, bytes(b), len(x))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 500), st.sampled_from([8, 16, 24, 32]), st.integers(1, 8))
def test_random_bytes_decode_or_raise(data, frames, bits, channels):
    codec = LosslessCodec(bits=bits, channels=channels)
    decode_or_codec_error(codec, data, frames)
    decode_or_codec_error(codec, b"\x01" + data, frames)


# ----------------------------------------------------------------------------- golden packets
def golden_cases():
    index = json.loads((FIXTURES / "fixtures.json").read_text())
    return index["packets"]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["name"])
def test_golden_packets(case):
    """Decoding the stored packets must give the stored hashes: catches any format drift."""
    codec = get_codec(case["codec_id"], case["config"])
    data = (FIXTURES / case["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["packet_sha256"]
    out = codec.decode(data, case["frames"])
    assert hashlib.sha256(out.astype("<i4").tobytes()).hexdigest() == case["samples_sha256"]


def test_spec_worked_example_is_the_fixture():
    """The hex dump of spec/codec-lossless.md section 9 is the golden packet ``spec_example``."""
    spec = (Path(__file__).parents[2] / "spec" / "codec-lossless.md").read_text()
    section = spec[spec.index("## 9. Worked example") :]
    hexline = section.split("```")[1].strip()
    assert bytes.fromhex(hexline) == (FIXTURES / "spec_example.bin").read_bytes()
    codec = LosslessCodec(bits=16, channels=2)
    out = codec.decode(bytes.fromhex(hexline), 8)
    assert out[:, 0].tolist() == [100, 110, 121, 130, 142, 150, 161, 170]
    assert out[:, 1].tolist() == [100, 111, 121, 131, 142, 151, 161, 171]


# ----------------------------------------------------------------------------- method 2 (adaptive filters)
def test_method2_roundtrip_truncation_and_bit_flips():
    codec = LosslessCodec(bits=16, channels=2, block_frames=1024, residual_coding="rice")
    x = music(6000, 2, 16, seed=11)
    data = codec.encode(x)
    assert data[0] == 2  # the filters pay on tonal material
    np.testing.assert_array_equal(codec.decode(data, len(x)), x)
    for n in range(0, len(data), 7):
        with pytest.raises(CodecError):
            codec.decode(data[:n], len(x))
    rng = np.random.default_rng(7)
    for _ in range(400):
        b = bytearray(data)
        i = int(rng.integers(0, 8 * len(b)))
        b[i // 8] ^= 1 << (i % 8)
        decode_or_codec_error(codec, bytes(b), len(x))


@pytest.mark.parametrize("codec_id,config,dtype", [
    ("lossless", {"format": "int", "bits": 16, "channels": 2}, np.int32),
    ("pcm", {"format": "int", "bits": 24, "channels": 2}, np.int32),
    ("float", {"format": "float32", "channels": 2}, np.float32),
])
def test_lossless_codecs_meet_any_noise_budget(codec_id, config, dtype):
    """The codec contract: ``encode(block, noise=...)``.  A lossless codec adds no noise, so it meets every
    budget: the packet is the one without a budget, and decodes to the block exactly."""
    codec = get_codec(codec_id, config)
    assert codec.lossless
    rng = np.random.default_rng(3)
    block = (rng.integers(-3000, 3000, (3000, 2)) / (4096.0 if dtype == np.float32 else 1)).astype(dtype)
    packet = codec.encode(block)
    assert codec.encode(block, noise=np.zeros((4, 2, 1024))) == packet
    assert codec.encode(block, noise=None) == packet
    assert np.array_equal(codec.decode(packet, len(block)), block)
    for name in ("format", "bits", "channels"):  # fixed at construction
        with pytest.raises(AttributeError):
            setattr(codec, name, getattr(codec, name))


def test_alternative_cascades_keep_the_smallest_packet():
    """The encoder tries every cascade and writes the smallest packet, the default on a tie (it decodes faster);
    a period longer than the default's 32 taps is what the long cascade follows."""
    from snc.codecs.lossless import LONG_FILTERS

    rng = np.random.default_rng(5)
    period = np.round(rng.normal(0, 2000, (300, 2))).astype(np.int32)
    periodic = np.tile(period, (40, 1)) + rng.integers(-2, 3, (12000, 2)).astype(np.int32)
    noise = rng.integers(-3000, 3000, (12000, 2)).astype(np.int32)
    for x, long_wins in ((periodic, True), (noise, False)):
        alone = {}
        for name, filters in (("default", LosslessCodec.filters), ("long", LONG_FILTERS)):
            codec = LosslessCodec(bits=16, channels=2)
            codec.filters = filters
            alone[name] = codec.encode(x)
        codec = LosslessCodec(bits=16, channels=2)
        codec.alternative_filters = (LONG_FILTERS,)
        data = codec.encode(x)
        assert (len(alone["long"]) < len(alone["default"])) == long_wins
        assert data == (alone["long"] if long_wins else alone["default"])
        np.testing.assert_array_equal(codec.decode(data, len(x)), x)
