"""Tests of the synthetic multitrack song generator (snc.demo)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import signal

from snc.demo import STEM_NAMES, Song, read_wav, synthesize_song
from snc.demo import synth


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


def test_limiter_keeps_peaks_below_ceiling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 2)) * np.linspace(0.1, 3.0, 20000)[:, None]
    y, gain = synth.limit(x, 44100, ceiling_db=-1.0)
    ceiling = 10 ** (-1.0 / 20)
    assert np.abs(y).max() <= ceiling + 1e-12
    assert np.all(gain <= 1.0) and np.all(gain > 0.0)
    # an isolated spike is faded down over the 2 ms look-ahead *before* it arrives
    x = 0.3 * np.sin(np.linspace(0, 300, 10000))[:, None]
    x[5000] = 5.0
    y, gain = synth.limit(x, 44100, ceiling_db=-1.0, lookahead=0.002)
    assert np.abs(y).max() <= ceiling + 1e-12
    assert gain[4900] == 1.0 and gain[5000] == pytest.approx(ceiling / 5.0)
    assert 0.3 < gain[4956] < 0.7  # half way down the linear fade
    assert np.abs(np.diff(gain)).max() < 0.02
    # a signal already below the ceiling passes untouched
    quiet = 0.5 * np.sin(np.linspace(0, 200, 5000))[:, None]
    yq, gq = synth.limit(quiet, 44100)
    np.testing.assert_array_equal(gq, 1.0)
    np.testing.assert_array_equal(yq, quiet)


def test_compressor_reduces_dynamic_range():
    sr = 44100
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t)
    x = np.concatenate([0.05 * tone, 0.8 * tone])[:, None]  # -26 dB, then -2 dB
    y, gain = synth.compress(x, sr, threshold_db=-20.0, ratio=3.0, makeup_db=0.0)
    quiet_in, loud_in = _rms(x[sr // 2 : sr]), _rms(x[-sr // 2 :])
    quiet_out, loud_out = _rms(y[sr // 2 : sr]), _rms(y[-sr // 2 :])
    range_in = 20 * math.log10(loud_in / quiet_in)
    range_out = 20 * math.log10(loud_out / quiet_out)
    assert range_in == pytest.approx(24.08, abs=0.01)
    assert range_out < range_in - 8.0  # about 12 dB of reduction at ratio 3:1
    assert quiet_out == pytest.approx(quiet_in, rel=1e-6)  # below the knee: unity
    # attack: the gain falls gradually after the level jump, not instantly
    assert gain[sr + 10] > gain[sr + 4000]


def test_mastering_chain_on_song_level_signal():
    rng = np.random.default_rng(1)
    x = 0.3 * rng.standard_normal((44100, 2))
    y = synth.master(x, 44100)
    assert y.shape == x.shape
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-12
    assert _rms(y - x) > 0.1 * _rms(x)


@pytest.mark.parametrize("sr", [8000, 44100, 192000])
def test_rbj_biquads(sr):
    def response_db(sos, f):
        _, h = signal.sosfreqz(sos, worN=[f], fs=sr)
        return 20 * np.log10(np.abs(h[0]))

    nyq = sr / 2
    low = synth.rbj_biquad("lowshelf", 100.0, sr, gain_db=6.0)
    assert response_db(low, 1.0) == pytest.approx(6.0, abs=0.1)
    assert response_db(low, 0.99 * nyq) == pytest.approx(0.0, abs=0.1)
    high = synth.rbj_biquad("highshelf", min(2000.0, 0.1 * sr), sr, gain_db=-4.0)
    assert response_db(high, 1.0) == pytest.approx(0.0, abs=0.1)
    assert response_db(high, 0.999 * nyq) == pytest.approx(-4.0, abs=0.2)
    peak = synth.rbj_biquad("peaking", 350.0, sr, gain_db=-2.0, q=1.0)
    assert response_db(peak, 350.0) == pytest.approx(-2.0, abs=1e-6)
    hp = synth.rbj_biquad("highpass", 25.0, sr)
    assert response_db(hp, 25.0) == pytest.approx(-3.01, abs=0.05)
    assert response_db(hp, 2.0) < -40
    # f0 above Nyquist is clipped instead of producing an unstable filter
    above = synth.rbj_biquad("highshelf", 50000.0, sr, gain_db=3.0)
    assert np.all(np.abs(np.roots(above[0, 3:])) < 1.0)


def test_pan_gains():
    np.testing.assert_array_equal(synth.pan_gains(0.3, 1), [1.0])
    for ch in range(2, 9):
        for pan in (-1.0, -0.4, 0.0, 0.25, 1.0):
            g = synth.pan_gains(pan, ch)
            assert g.shape == (ch,) and np.all(g > 0)
            assert np.sum(g**2) == pytest.approx(1.0)
    g = synth.pan_gains(0.0, 2)
    assert g[0] == pytest.approx(g[1])
    g = synth.pan_gains(-1.0, 2)
    assert g[0] > 5 * g[1]


# ---------------------------------------------------------------------------
# numba kernels == pure NumPy/Python references
# ---------------------------------------------------------------------------


def test_compressor_kernel_matches_reference():
    rng = np.random.default_rng(10)
    level = 10 ** (rng.uniform(-60, 6, 3000) / 20)
    level[::7] = 0.0
    for knee in (0.0, 6.0):
        args = (-18.0, 4.0, knee, 0.9, 0.999, 3.0)
        got = synth._compressor_gain_kernel(level, *args)
        want = synth._compressor_gain_reference(level, *args)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gain_computer_curve():
    gc = synth._gain_computer
    assert gc(-40.0, -20.0, 4.0, 6.0) == -40.0  # below the knee: unity
    assert gc(0.0, -20.0, 4.0, 6.0) == pytest.approx(-15.0)  # above: 20 dB over -> 5 dB
    # continuous at both ends of the knee
    for edge in (-23.0, -17.0):
        assert gc(edge - 1e-9, -20.0, 4.0, 6.0) == pytest.approx(gc(edge + 1e-9, -20.0, 4.0, 6.0))


def test_limiter_kernel_matches_reference():
    rng = np.random.default_rng(11)
    peak = np.abs(rng.standard_normal(2500)) * 1.5
    required = np.minimum(1.0, 0.9 / np.maximum(peak, 1e-12))
    for lookahead in (1, 17, 64):
        got = synth._limiter_gain_kernel(required, lookahead, 0.995)
        want = synth._limiter_gain_reference(required, lookahead, 0.995)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        assert np.all(got <= required)
    assert synth._limiter_gain_kernel(np.ones(0), 5, 0.9).shape == (0,)


def test_svf_kernel_matches_reference():
    rng = np.random.default_rng(12)
    n, sr = 3000, 48000
    x = rng.standard_normal(n)
    fc = rng.uniform(20.0, 0.45 * sr, n)
    g = np.tan(np.pi * fc / sr)
    k = rng.uniform(0.05, 2.0, n)
    for mode in (0, 1, 2):
        got = synth._svf_kernel(x, g, k, mode)
        want = synth._svf_reference(x, g, k, mode)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_svf_responses():
    sr = 48000
    x = np.zeros(8192)
    x[0] = 1.0
    f = np.fft.rfftfreq(len(x), 1 / sr)
    for mode, f_lo, f_hi in (("low", 1.0, 0.0), ("high", 0.0, 1.0)):
        h = np.abs(np.fft.rfft(synth.svf(x, 1000.0, 0.7071, sr, mode)))
        assert h[np.searchsorted(f, 50)] == pytest.approx(f_lo, abs=0.01)
        assert h[np.searchsorted(f, 20000)] == pytest.approx(f_hi, abs=0.01)
    h = np.abs(np.fft.rfft(synth.svf(x, 1000.0, 5.0, sr, "band")))
    assert f[np.argmax(h)] == pytest.approx(1000.0, abs=10.0)
    assert h.max() == pytest.approx(1.0, abs=0.02)  # unity-gain band-pass


def test_saw_kernel_matches_reference():
    rng = np.random.default_rng(13)
    dt = rng.uniform(1e-4, 0.45, 4000)
    dt[1000:2000] = 0.01  # a steady stretch
    saw_k = synth._saw_kernel(dt, 0.3)
    saw_r = synth._saw_reference(dt, 0.3)
    np.testing.assert_allclose(saw_k, saw_r, atol=1e-9)
    assert saw_k.min() >= -1.0 - 1e-12 and saw_k.max() <= 1.0 + 1e-12


def test_saw_is_band_limited():
    """polyBLEP attenuates aliases: at 2.5 kHz / 8 kHz the first fold-back
    partial is far below the fundamental."""
    sr, f0 = 8000, 2500.0
    saw = synth._saw(np.full(sr, f0), sr)
    spec = np.abs(np.fft.rfft(saw * np.hanning(sr)))
    fund = spec[int(f0)]
    alias = spec[int(sr - 2 * f0)]  # the 2nd harmonic (5 kHz) folds to 3 kHz
    assert alias < 0.2 * fund


def test_adsr_kernel_matches_reference():
    rng = np.random.default_rng(14)
    sr, n = 1000, 6000
    onsets = np.unique(rng.integers(0, n + 200, 40))
    gates = rng.uniform(0.0, 0.4, len(onsets))
    vels = rng.uniform(0.2, 1.0, len(onsets))
    args = (0.02, 0.1, 0.6, 0.05)
    env_k, idx_k, t_k = synth._adsr_kernel(n, onsets, gates, vels, *args, float(sr))
    env_r, idx_r, t_r = synth._adsr_reference(n, onsets, gates, vels, *args, sr)
    np.testing.assert_array_equal(idx_k, idx_r)
    np.testing.assert_allclose(t_k, t_r, atol=1e-12)
    # (the kernel advances its exponentials recursively: equal up to round-off)
    np.testing.assert_allclose(env_k, env_r, rtol=1e-9, atol=1e-12)
    # retriggering never jumps: the attack starts from the current level
    assert np.abs(np.diff(env_k)).max() <= max(vels) * 1.0 / (args[0] * sr) + 1e-9


def test_quantize_kernel_matches_reference():
    rng = np.random.default_rng(15)
    x = rng.uniform(-1.2, 1.2, 5001)
    raw = rng.bit_generator.random_raw(2501)
    for scale in (2.0**15, 2.0**23):
        got = synth._quantize_kernel(x, raw, scale)
        want = synth._quantize_reference(x, raw, scale)
        np.testing.assert_array_equal(got, want)
        assert got.min() == -scale and got.max() == scale - 1  # clipped
        inside = np.abs(x) < 0.99
        assert np.abs(got[inside] - x[inside] * scale).max() <= 1.5  # round + 1 LSB dither


def test_quantize_dither_is_tpdf():
    rng = np.random.default_rng(16)
    x = np.full(200000, 0.25 / 2**15)  # a quarter LSB
    q = synth.quantize(x, 16, rng)
    assert set(np.unique(q)) <= {-1, 0, 1}
    assert q.mean() == pytest.approx(0.25, abs=0.01)  # dither linearises the quantiser
    # TPDF: total error variance 1/12 (rounding) + 1/6 (dither), whatever the signal
    assert q.var() == pytest.approx(1 / 4, abs=0.01)


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
        # independent check: soundfile's left-aligned int32 reading
        raw, _ = sf.read(str(path), dtype="int32", always_2d=True)
        np.testing.assert_array_equal(raw >> (32 - bits), want)


# ---------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(np.float64, st.tuples(st.integers(1, 300), st.integers(1, 3)),
             elements=st.floats(-50.0, 50.0)),
    lookahead=st.integers(1, 40),
    ceiling_db=st.floats(-20.0, 0.0),
)
def test_limiter_property(x, lookahead, ceiling_db):
    ceiling = 10 ** (ceiling_db / 20)
    peak = np.abs(x).max(axis=1)
    required = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    got = synth._limiter_gain_kernel(required, lookahead, 0.99)
    want = synth._limiter_gain_reference(required, lookahead, 0.99)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.all(got <= required)
    y, _ = synth.limit(x, 1000, ceiling_db=ceiling_db, lookahead=lookahead / 1000)
    assert np.abs(y).max() <= ceiling


def test_write_rejects_out_of_range(tmp_path):
    s = synthesize_song(duration=0.1, samplerate=8000, seed=1)
    s.stems["bass"] = s.stems["bass"].copy()
    s.stems["bass"][0, 0] = 40000
    with pytest.raises(ValueError):
        s.write(tmp_path)
