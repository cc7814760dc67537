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
