"""The synthetic multitrack song (snc.demo.synthesize_song): shapes, determinism, musical content, the mastered
mix, and its WAV files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from snc.demo import STEM_NAMES, Song, read_wav, synthesize_song
from snc.signal.audio_io import AudioSource


def _rms(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a)))


@pytest.fixture(scope="module")
def song() -> Song:
    return synthesize_song(duration=4.0, seed=7)


# ---------------------------------------------------------------------------
# Shapes, types, ranges, determinism
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "samplerate,channels,bits",
    [(8000, 1, 16), (11025, 2, 24), (22050, 2, 16), (44100, 1, 24), (48000, 3, 16),
     (96000, 8, 24), (192000, 2, 16)],
)
def test_shapes_dtypes_ranges(samplerate, channels, bits):
    s = synthesize_song(duration=0.6, samplerate=samplerate, channels=channels, bits=bits, seed=1)
    frames = round(0.6 * samplerate)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert (s.samplerate, s.bits, s.frames, s.channels) == (samplerate, bits, frames, channels)
    assert list(s.stems) == list(STEM_NAMES)
    for name, a in [("mix", s.mix), *s.stems.items()]:
        assert a.dtype == np.int32, name
        assert a.shape == (frames, channels), name
        assert lo <= a.min() and a.max() <= hi, name
        # every channel of every track carries signal
        for c in range(channels):
            assert _rms(a[:, c]) > 1e-4 * 2 ** (bits - 1), (name, c)


def test_deterministic():
    a = synthesize_song(duration=1.5, seed=3, channels=3)
    b = synthesize_song(duration=1.5, seed=3, channels=3)
    np.testing.assert_array_equal(a.mix, b.mix)
    for name in STEM_NAMES:
        np.testing.assert_array_equal(a.stems[name], b.stems[name])
    assert a.meta == b.meta
    c = synthesize_song(duration=1.5, seed=4, channels=3)
    assert not np.array_equal(a.mix, c.mix)


def test_other_parameters_change_output():
    base = synthesize_song(duration=1.0, seed=2)
    fast = synthesize_song(duration=1.0, seed=2, tempo=150.0)
    assert not np.array_equal(base.stems["drums"], fast.stems["drums"])
    assert fast.meta["tempo"] == 150.0 and fast.meta["key"] == base.meta["key"]


@pytest.mark.parametrize(
    "kwargs",
    [dict(bits=8), dict(bits=32), dict(channels=0), dict(duration=0.0), dict(duration=-1.0),
     dict(duration=float("nan")), dict(seed=-1), dict(samplerate=44100.5), dict(tempo=0.0)],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        synthesize_song(**kwargs)


# ---------------------------------------------------------------------------
# Musical content
# ---------------------------------------------------------------------------


def test_stems_non_silent(song):
    full = 2.0 ** (song.bits - 1)
    for name, a in song.stems.items():
        level = 20 * math.log10(_rms(a) / full)
        assert level > -35.0, (name, level)
        # and audible in every second, not only somewhere
        for k in range(int(song.duration)):
            seg = a[k * song.samplerate : (k + 1) * song.samplerate]
            assert _rms(seg) > 10 ** (-45 / 20) * full, (name, k)


def _centroid(x, sr) -> float:
    f, p = signal.welch(np.asarray(x, dtype=np.float64).mean(axis=1), fs=sr, nperseg=4096)
    return float(np.sum(f * p) / np.sum(p))


def test_stems_have_distinct_spectra(song):
    c = {name: _centroid(a, song.samplerate) for name, a in song.stems.items()}
    assert c["bass"] < 400.0
    assert c["bass"] < c["other"] < c["drums"]
    assert c["bass"] < c["vocals"]


def test_vocals_have_syllables_and_gaps(song):
    v = song.stems["vocals"].astype(np.float64).mean(axis=1)
    hop = song.samplerate // 100
    frames = v[: len(v) // hop * hop].reshape(-1, hop)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    # loud syllables and much quieter gaps between them
    assert np.percentile(db, 95) - np.percentile(db, 10) > 15.0


def test_stereo_images_differ(song):
    """Each stem has its own stereo image: (L/R balance, L/R correlation) differ."""
    image = {name: np.array([_rms(a[:, 0]) / _rms(a[:, 1]), np.corrcoef(a[:, 0], a[:, 1])[0, 1]])
             for name, a in song.stems.items()}
    names = list(image)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.linalg.norm(image[a] - image[b]) > 0.03, (a, b, image[a], image[b])
    assert image["bass"][1] > 0.999  # centred
    assert image["other"][1] < 0.9  # a wide pad


# ---------------------------------------------------------------------------
# Mastering: the mix is not the sum of the stems
# ---------------------------------------------------------------------------


def test_mix_differs_from_sum_but_correlated(song):
    mix = song.mix.astype(np.float64)
    total = sum(a.astype(np.float64) for a in song.stems.values())
    residual = mix - total
    rel = _rms(residual) / _rms(mix)
    assert 0.1 < rel < 0.8, rel
    assert np.corrcoef(mix.ravel(), total.ravel())[0, 1] > 0.8


def test_mix_peaks_below_full_scale(song):
    full = 2 ** (song.bits - 1)
    ceiling = 10 ** (-1.0 / 20) * full
    assert np.abs(song.mix).max() <= ceiling + 1.0  # +-1 LSB of dither
    assert np.abs(song.mix).max() < full - 1


# ---------------------------------------------------------------------------
# Writing WAV files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits,channels", [(16, 2), (24, 1), (24, 3)])
def test_write_round_trip(tmp_path, bits, channels):
    s = synthesize_song(duration=0.5, samplerate=22050, bits=bits, channels=channels, seed=5)
    paths = s.write(tmp_path / "song")
    assert set(paths) == {"mix", *STEM_NAMES}
    assert paths["mix"] == tmp_path / "song" / "mix.wav"
    assert paths["vocals"] == tmp_path / "song" / "stems" / "vocals.wav"
    for name, path in paths.items():
        want = s.mix if name == "mix" else s.stems[name]
        info = sf.info(str(path))
        assert info.subtype == f"PCM_{bits}" and info.samplerate == 22050
        assert info.channels == channels and info.frames == want.shape[0]
        data, sr, b = read_wav(path)
        assert (sr, b) == (22050, bits)
        np.testing.assert_array_equal(data, want)
        # independent check: the library's own reader of input files
        src = AudioSource(path, name=name)
        assert (src.format.sample_format, src.format.bits) == ("int", bits)
        np.testing.assert_array_equal(src.read(src.frames, src.format), want)
        src.close()


def test_read_wav_refuses_float_files(tmp_path):
    sf.write(str(tmp_path / "f.wav"), np.zeros((10, 2)), 8000, subtype="FLOAT")
    with pytest.raises(ValueError, match="unsupported subtype FLOAT"):
        read_wav(tmp_path / "f.wav")


def test_write_rejects_out_of_range(tmp_path):
    s = synthesize_song(duration=0.1, samplerate=8000, seed=1)
    s.stems["bass"] = s.stems["bass"].copy()
    s.stems["bass"][0, 0] = 40000
    with pytest.raises(ValueError):
        s.write(tmp_path)
