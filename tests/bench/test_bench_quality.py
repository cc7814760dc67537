"""Quick checks of the bench quality plumbing (bench/quality.py): metric wrappers and the Opus round trip.

Skipped (with the reason) when pystoi, visqol-python or opus-tools are not installed: they are bench tools,
not core dependencies (``pip install -e .[bench]``; ``apt-get install -y opus-tools``).
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import quality as q  # noqa: E402

needs_opus = pytest.mark.skipif(shutil.which("opusenc") is None or shutil.which("opusdec") is None,
                                reason="opusenc/opusdec not installed (apt-get install -y opus-tools)")


def speechlike(rate: int, seconds: float = 3.0, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Noise and a few partials, amplitude-modulated at syllable rate (~4 Hz) with pauses: STOI needs envelopes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    env = np.clip(np.sin(2 * np.pi * 3.7 * t), 0, None) ** 2
    out = np.empty((t.size, channels))
    for c in range(channels):
        tone = sum(np.sin(2 * np.pi * f * (1 + 0.01 * c) * t + k) / (k + 1)
                   for k, f in enumerate((180, 360, 720, 1400)))
        out[:, c] = 0.25 * env * (0.6 * tone / 2 + 0.4 * rng.standard_normal(t.size))
    return out


def noisy(x: np.ndarray, snr: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(x.shape)
    n *= math.sqrt(np.sum(x**2) / np.sum(n**2) / 10 ** (snr / 10))
    return x + n


# ------------------------------------------------------------------------------------------------ SNR


def test_snr_identical_is_inf_and_noise_is_measured():
    x = speechlike(16000, 1.0)
    assert q.snr_db(x, x) == math.inf
    assert q.snr_db(x, noisy(x, 30.0)) == pytest.approx(30.0, abs=1e-9)
    assert q.snr_db(x, noisy(x, 10.0)) == pytest.approx(10.0, abs=1e-9)
    assert q.snr_db(x[:, 0], x[:, 0] * 0.9) == pytest.approx(20.0)  # 1-D is mono
    assert q.snr_db(np.zeros((10, 2)), np.ones((10, 2))) == -math.inf


def test_shape_mismatch_is_refused():
    x = np.zeros((100, 2))
    with pytest.raises(ValueError, match="shape"):
        q.snr_db(x, np.zeros((99, 2)))
    with pytest.raises(ValueError, match="shape"):
        q.snr_db(x, np.zeros((100, 1)))


# ----------------------------------------------------------------------------------------------- STOI


def test_stoi_identical_is_one_and_noise_lowers_it():
    pytest.importorskip("pystoi", reason="pystoi not installed (pip install pystoi; bench extra)")
    rate = 44100
    x = speechlike(rate)
    assert q.stoi(x, x, rate) == pytest.approx(1.0, abs=1e-6)
    s20, s0 = q.stoi(x, noisy(x, 20.0), rate), q.stoi(x, noisy(x, 0.0), rate)
    assert 1.0 > s20 > s0
    assert s0 < 0.95


def test_stoi_is_the_mean_of_per_channel_values():
    pytest.importorskip("pystoi", reason="pystoi not installed (pip install pystoi; bench extra)")
    from pystoi import stoi as ref_stoi

    rate = 16000
    x = speechlike(rate)
    y = x.copy()
    y[:, 1] = noisy(x[:, 1], 5.0)  # only the right channel degraded
    per = [ref_stoi(x[:, c], y[:, c], rate, extended=False) for c in range(2)]
    assert per[0] == pytest.approx(1.0, abs=1e-6)
    assert q.stoi(x, y, rate) == pytest.approx(np.mean(per))


# --------------------------------------------------------------------------------------------- ViSQOL


def _needs_visqol():
    pytest.importorskip("visqol", reason="visqol-python not installed (pip install visqol-python; bench extra)")
    reason = q.visqol_unavailable()
    if reason:
        pytest.skip(f"visqol-python cannot run here: {reason}")


def test_visqol_identical_is_top_and_noise_lowers_it():
    _needs_visqol()
    rate = 44100  # not 48 kHz: exercises the resampling to 48 kHz
    x = speechlike(rate, 3.0)
    top = q.visqol(x, x, rate)
    assert 4.5 < top <= 5.0
    mid, low = q.visqol(x, noisy(x, 30.0), rate), q.visqol(x, noisy(x, 5.0), rate)
    assert top > mid > low >= 1.0


# ------------------------------------------------------------------------------------------ Opus round trip


def bursts(rate: int, seconds: float, channels: int, seed: int = 2) -> np.ndarray:
    """Irregularly placed white-noise bursts: one unambiguous cross-correlation peak."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    x = np.zeros((n, channels))
    pos = np.sort(rng.choice(np.arange(rate // 20, n - rate // 10), 7, replace=False))
    for p in pos:
        length = int(rng.integers(rate // 200, rate // 40))
        x[p:p + length] = 0.3 * rng.standard_normal((length, channels))
    return x


def xcorr_lag(ref: np.ndarray, deg: np.ndarray) -> float:
    """Lag of deg against ref in samples (positive = deg late), parabolic sub-sample estimate."""
    c = correlate(deg, ref, mode="full", method="fft")
    i = int(np.argmax(c))
    frac = 0.0
    if 0 < i < len(c) - 1:
        a, b, d = c[i - 1], c[i], c[i + 1]
        den = a - 2 * b + d
        frac = 0.5 * (a - d) / den if den else 0.0
    return i - (len(ref) - 1) + frac


@needs_opus
@pytest.mark.parametrize("rate,channels,frames_extra", [(44100, 2, 123), (48000, 2, 0), (44100, 1, 7), (32000, 2, 1)])
def test_opus_roundtrip_is_sample_aligned(rate, channels, frames_extra):
    x = bursts(rate, 2.0, channels)
    x = np.vstack([x, np.zeros((frames_extra, channels))])
    y, nbytes = q.opus_roundtrip(x, rate, 128)
    assert y.shape == x.shape and y.dtype == np.float64
    assert nbytes > 1000
    for c in range(channels):
        lag = xcorr_lag(x[:, c], y[:, c])
        assert abs(lag) <= 1.0, f"channel {c}: lag {lag:.3f} samples"
        assert abs(lag) < 0.05, f"channel {c}: lag {lag:.3f} samples (expected ~0)"
    # white noise decorrelates within one sample: a +-1 sample misalignment would cost several dB of SNR
    aligned = q.snr_db(x, y)
    for shift in (-1, 1):
        assert aligned > q.snr_db(x, np.roll(y, shift, axis=0)) + 3.0


@needs_opus
def test_opus_bitrate_is_roughly_honoured_and_1d_input_accepted():
    rate = 48000
    x = speechlike(rate, 3.0, channels=1)[:, 0]
    y64, b64 = q.opus_roundtrip(x, rate, 64)
    y192, b192 = q.opus_roundtrip(x, rate, 192)
    assert y64.shape == (x.size, 1)
    assert b192 > b64
    assert q.snr_db(x, y192[:, 0]) > q.snr_db(x, y64[:, 0])
