"""The master stream's ``gain`` codec (spec snc-format.md section 18.5): knots, interpolation, packets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from snc.codecs import get_codec
from snc.codecs.gain import MAX_KNOT, UNITY, GainCodec, interpolate, knot_count
from snc.errors import CodecError


def _spec_gain():
    """tools/make_vectors.py's ``spec_gain``: spec section 18.5 word for word in Python integers, the reference
    the golden master vector's hashes were computed with."""
    spec = importlib.util.spec_from_file_location("make_vectors", Path(__file__).resolve().parents[2] / "tools"
                                                  / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.spec_gain


@pytest.mark.parametrize("frames,shift", [(1, 4), (16, 4), (17, 4), (1000, 7), (4096, 12)])
def test_interpolation_equals_the_spec_formula(frames, shift):
    rng = np.random.default_rng(frames + shift)
    knots = rng.integers(0, MAX_KNOT + 1, (knot_count(frames, shift), 2))
    assert np.array_equal(interpolate(knots, frames, shift), _spec_gain()(knots, frames, shift))


def test_the_spec_example():
    g = interpolate(np.array([[16384], [8192]]), 16, 4)
    assert (g[0, 0], g[1, 0], g[8, 0]) == (16384, 15872, 12288)


def test_knots_round_trip_and_unity_is_one_byte():
    codec = get_codec("gain", {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7})
    rng = np.random.default_rng(1)
    knots = (UNITY + np.cumsum(rng.integers(-40, 41, (knot_count(5000, 7), 2)), axis=0)).astype(np.int32)
    packet = codec.encode(knots)
    assert len(packet) < knots.size * 2  # smooth knots cost well under their 20 bits
    assert np.array_equal(codec.decode(packet, 5000), interpolate(knots, 5000, 7))
    unity = codec.encode(None)
    assert unity == b"\x00"
    assert (codec.decode(unity, 300) == UNITY).all()


def test_corrupt_and_out_of_range_packets_are_refused():
    codec = GainCodec(channels=1, knot_shift=4)
    with pytest.raises(CodecError, match="mode"):
        codec.decode(b"\x07", 16)
    with pytest.raises(CodecError):
        codec.decode(b"", 16)
    with pytest.raises(CodecError, match="0..262144"):
        codec.encode(np.array([[0], [MAX_KNOT + 1]], dtype=np.int32))
    # a lossless packet of a knot beyond +24 dB, wrapped by hand: the decoder checks the range itself
    from snc.codecs.lossless import LosslessCodec

    inner = LosslessCodec(format="int", bits=20, channels=1).encode(np.array([[UNITY], [MAX_KNOT + 5]], np.int32))
    with pytest.raises(CodecError, match="outside"):
        codec.decode(b"\x01" + inner, 16)
    with pytest.raises(CodecError):
        codec.decode(b"\x01" + inner[:2], 16)


@pytest.mark.parametrize("config", [{"knot_shift": 3}, {"knot_shift": 13}, {"bits": 16}, {"format": "float32"}])
def test_bad_configs_are_refused(config):
    full = {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7, **config}
    if full["format"] != "int":
        full.pop("bits")
    with pytest.raises(CodecError):
        get_codec("gain", full)


EQ = [[[1 << 24, -(1 << 23), 0, -(1 << 23), 0]], [[1 << 24, 0, 0, 0, 0], [1 << 23, 1 << 23, 0, 0, 0]]]


def test_an_eq_round_trips_through_the_config_and_plays_as_the_spec_says():
    from snc.kernels.master_eq import EQ_FRACTION, eq_cascade

    codec = get_codec("gain", {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7, "eq": EQ})
    assert get_codec("gain", codec.get_config()).get_config()["eq"] == EQ
    rng = np.random.default_rng(5)
    stem = rng.integers(-30000, 30000, (700, 2)).astype(np.int32)
    gain = rng.integers(0, MAX_KNOT + 1, (700, 2)).astype(np.int32)
    played = codec.play(gain, stem)
    for c in range(2):
        f = eq_cascade(stem[:, c], np.array(EQ[c], dtype=np.int64))
        expect = [(int(g) * int(v) + (1 << (13 + EQ_FRACTION))) >> (14 + EQ_FRACTION) for g, v in zip(gain[:, c], f)]
        assert played[:, c].tolist() == expect


def test_a_config_without_eq_is_unchanged():
    """Files written before the EQ existed keep their config, and their stems play as before."""
    codec = GainCodec(channels=1)
    assert "eq" not in codec.get_config() and codec.eq is None


@pytest.mark.parametrize("eq", [
    EQ[:1],                                              # one channel's sections for two channels
    [[], EQ[1]],                                         # a channel without sections
    [[[1 << 24, 0, 0, 0, 0]] * 5, EQ[1]],                # more than four sections
    [[[1 << 24, 0, 0, 0]], EQ[1]],                       # four coefficients
    [[[(1 << 28) + 1, 0, 0, 0, 0]], EQ[1]],              # a coefficient out of range
    [[[1.0, 0, 0, 0, 0]], EQ[1]],                        # not an integer
    [[[True, 0, 0, 0, 0]], EQ[1]],                       # not an integer either
    "eq",
])
def test_a_bad_eq_is_one_clear_error(eq):
    with pytest.raises(CodecError, match="eq"):
        get_codec("gain", {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7, "eq": eq})


COMPRESSOR = [12 << 16, 1 << 16, 49000, 300, 24]


def test_a_compressor_round_trips_through_the_config_and_plays_as_the_spec_says():
    """``segment_gain``: the knots' gain times the compressor's on the stems' sum, ``(G * C + 2^29) >> 30``."""
    from snc.kernels.master_dynamics import EXP2_TABLE, LOG2_TABLE, compressor_gain

    codec = get_codec("gain", {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7,
                               "compressor": COMPRESSOR})
    assert get_codec("gain", codec.get_config()).get_config()["compressor"] == COMPRESSOR
    rng = np.random.default_rng(8)
    stems = [rng.integers(-9000, 9000, (900, 2)).astype(np.int32) for _ in range(3)]
    gain = rng.integers(0, MAX_KNOT + 1, (900, 2)).astype(np.int32)
    level = np.abs(sum(s.astype(np.int64) for s in stems)).sum(axis=1)
    comp = compressor_gain(level, *COMPRESSOR, LOG2_TABLE, EXP2_TABLE)
    assert comp.min() < (1 << 30)  # it compresses
    want = [[(int(g) * int(cv) + (1 << 29)) >> 30 for g in row] for row, cv in zip(gain, comp)]
    assert codec.segment_gain(gain, stems).tolist() == want
    assert GainCodec(channels=2).segment_gain(gain, stems) is gain  # without a compressor: the knots' gain


@pytest.mark.parametrize("compressor,match", [
    (COMPRESSOR[:4], "five integers"),
    ([*COMPRESSOR[:4], 1.5], "five integers"),
    ([*COMPRESSOR[:4], True], "five integers"),
    ([-1, *COMPRESSOR[1:]], "threshold"),
    ([COMPRESSOR[0], (16 << 16) + 1, *COMPRESSOR[2:]], "knee"),
    ([*COMPRESSOR[:2], (1 << 16) + 1, *COMPRESSOR[3:]], "slope"),
    ([*COMPRESSOR[:3], 0, COMPRESSOR[4]], "attack"),
    ([*COMPRESSOR[:4], (1 << 16) + 1], "release"),
    ("fast", "five integers"),
])
def test_a_bad_compressor_is_one_clear_error(compressor, match):
    with pytest.raises(CodecError, match=match):
        get_codec("gain", {"format": "int", "bits": 20, "channels": 2, "knot_shift": 7, "compressor": compressor})
