"""Every failure a user can cause gives one SncError subclass and leaves no output file."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from conftest import random_multitrack

import snc


def _no_output(tmp_path):
    return not any(p.name.endswith(".snc") or ".part" in p.name for p in tmp_path.iterdir())


def _write(path, data, rate=44100, subtype="PCM_16"):
    sf.write(path, data, rate, subtype=subtype)
    return path


@pytest.fixture
def files(tmp_path):
    mix, stems = random_multitrack(2, frames=4000, stems=2)
    paths = {"mix": _write(tmp_path / "mix.wav", mix.astype(np.int16))}
    for name, data in stems.items():
        paths[name] = _write(tmp_path / f"{name}.wav", data.astype(np.int16))
    return paths, mix, stems


def test_missing_mix(tmp_path):
    with pytest.raises(snc.InputError, match="no such file"):
        snc.encode(tmp_path / "none.wav", tmp_path / "o.snc", preset="archival")
    assert _no_output(tmp_path)


def test_not_audio(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    with pytest.raises(snc.InputError, match="not a readable audio file"):
        snc.encode(bad, tmp_path / "o.snc", preset="archival")
    assert _no_output(tmp_path)


def test_rate_mismatch(tmp_path, files):
    paths, mix, stems = files
    other = _write(tmp_path / "rate.wav", stems["s0"].astype(np.int16), rate=48000)
    with pytest.raises(snc.InputError, match="48000 Hz, the mix 44100 Hz"):
        snc.encode(paths["mix"], tmp_path / "o.snc", stems={"a": other}, preset="archival")
    assert _no_output(tmp_path)


def test_channel_mismatch(tmp_path, files):
    paths, mix, stems = files
    mono = _write(tmp_path / "mono.wav", stems["s0"][:, 0].astype(np.int16))
    with pytest.raises(snc.InputError, match="1 channels, the mix 2"):
        snc.encode(paths["mix"], tmp_path / "o.snc", stems={"a": mono}, preset="archival")


def test_length_mismatch_within_one_second_warns_and_stays_exact(tmp_path, files):
    paths, mix, stems = files
    short = _write(tmp_path / "short.wav", stems["s0"][:3000].astype(np.int16))
    with pytest.warns(snc.SncWarning, match="1000 frames shorter"):
        report = snc.encode(paths["mix"], tmp_path / "o.snc", stems={"a": short, "b": paths["s1"]}, verify=True,
                            preset="archival")
    assert report.verified
    with snc.open(tmp_path / "o.snc") as f:
        assert np.array_equal(f.read(dtype="native"), mix)


def test_length_mismatch_over_one_second_is_an_error(tmp_path):
    rng = np.random.default_rng(0)
    mix = rng.integers(-100, 100, (8000 * 3, 1)).astype(np.int16)
    with pytest.raises(snc.InputError, match="more than 1 s"):
        snc.encode(mix, tmp_path / "o.snc", stems={"a": mix[:8000]}, samplerate=8000, preset="archival")
    assert _no_output(tmp_path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = np.zeros((5000, 2), dtype=np.float32)
    x[4321, 1] = bad
    with pytest.raises(snc.InputError, match="NaN or infinite sample near frame 4321"):
        snc.encode(x, tmp_path / "o.snc", samplerate=44100, segment_frames=1024, preset="archival")
    assert _no_output(tmp_path)


def test_empty_audio(tmp_path):
    with pytest.raises(snc.InputError, match="empty"):
        snc.encode(np.zeros((0, 2), np.int16), tmp_path / "o.snc", samplerate=44100, preset="archival")
    assert _no_output(tmp_path)


@pytest.mark.parametrize("kwargs,match", [
    (dict(preset="archival", bitrate=128), "--bitrate applies to"),
    (dict(preset="transparent", bitrate=1), "bitrate must be"),
    (dict(remix_headroom=30), "remix headroom must be 0..24"),
    (dict(remix_headroom="6"), "remix headroom must be 0..24"),
])
def test_perceptual_options_are_checked(tmp_path, kwargs, match):
    with pytest.raises(snc.InputError, match=match):
        snc.encode(np.zeros((10, 1), np.int16), tmp_path / "o.snc", samplerate=8000, **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs", [dict(preset="loud"), dict(separator="magic"), dict(codec="mp3")])
def test_unknown_option_values(tmp_path, kwargs):
    with pytest.raises(snc.InputError):
        snc.encode(np.zeros((10, 1), np.int16), tmp_path / "o.snc", samplerate=8000, **kwargs)


@pytest.mark.parametrize("rate,channels", [(4000, 1), (384000, 1), (44100, 9)])
def test_rate_and_channel_limits(tmp_path, rate, channels):
    with pytest.raises(snc.InputError):
        snc.encode(np.zeros((10, channels), np.int16), tmp_path / "o.snc", samplerate=rate, preset="archival")


def test_missing_output_directory(tmp_path):
    with pytest.raises(snc.InputError, match="directory does not exist"):
        snc.encode(np.zeros((10, 1), np.int16), tmp_path / "no" / "o.snc", samplerate=8000, preset="archival")


def test_failure_mid_stream_leaves_no_file(tmp_path, monkeypatch):
    from snc.codecs.pcm import PcmCodec

    calls = {"n": 0}
    original = PcmCodec.encode

    def failing(self, block):
        calls["n"] += 1
        if calls["n"] > 5:
            raise snc.CodecError("simulated failure")
        return original(self, block)

    monkeypatch.setattr(PcmCodec, "encode", failing)
    mix, stems = random_multitrack(3, frames=10000)
    with pytest.raises(snc.CodecError, match="simulated"):
        snc.encode(mix, tmp_path / "o.snc", stems=stems, samplerate=44100, bits=16, codec="pcm",
                   segment_frames=1024, preset="archival")
    assert _no_output(tmp_path)


def test_stem_name_rules(tmp_path):
    x = np.zeros((10, 1), np.int16)
    for name in ["", "residual", "x" * 256]:
        with pytest.raises(snc.InputError, match="invalid stem name"):
            snc.encode(x, tmp_path / "o.snc", stems={name: x}, samplerate=8000, preset="archival")


def test_no_warning_when_lengths_match(tmp_path, files):
    paths, _, _ = files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snc.encode(paths["mix"], tmp_path / "o.snc", stems={"a": paths["s0"], "b": paths["s1"]}, preset="archival")
