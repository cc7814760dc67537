"""The demo's sound sources (snc.demo.voices, snc.demo.instruments.pan_gains): numba kernels against their
NumPy/Python references (tests/demo/synth_references.py), and the responses they must have."""

from __future__ import annotations

import numpy as np
import pytest
from synth_references import adsr_reference, saw_reference, svf_reference

from snc.demo import voices
from snc.demo.instruments import pan_gains


def test_svf_kernel_matches_reference():
    rng = np.random.default_rng(12)
    n, sr = 3000, 48000
    x = rng.standard_normal(n)
    fc = rng.uniform(20.0, 0.45 * sr, n)
    g = np.tan(np.pi * fc / sr)
    k = rng.uniform(0.05, 2.0, n)
    for mode in (0, 1, 2):
        got = voices.svf_kernel(x, g, k, mode)
        want = svf_reference(x, g, k, mode)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_svf_responses():
    sr = 48000
    x = np.zeros(8192)
    x[0] = 1.0
    f = np.fft.rfftfreq(len(x), 1 / sr)
    for mode, f_lo, f_hi in (("low", 1.0, 0.0), ("high", 0.0, 1.0)):
        h = np.abs(np.fft.rfft(voices.svf(x, 1000.0, 0.7071, sr, mode)))
        assert h[np.searchsorted(f, 50)] == pytest.approx(f_lo, abs=0.01)
        assert h[np.searchsorted(f, 20000)] == pytest.approx(f_hi, abs=0.01)
    h = np.abs(np.fft.rfft(voices.svf(x, 1000.0, 5.0, sr, "band")))
    assert f[np.argmax(h)] == pytest.approx(1000.0, abs=10.0)
    assert h.max() == pytest.approx(1.0, abs=0.02)  # unity-gain band-pass
    with pytest.raises(ValueError, match="unknown SVF mode"):
        voices.svf(x, 1000.0, 1.0, sr, "notch")


def test_saw_kernel_matches_reference():
    rng = np.random.default_rng(13)
    dt = rng.uniform(1e-4, 0.45, 4000)
    dt[1000:2000] = 0.01  # a steady stretch
    saw_k = voices.saw_kernel(dt, 0.3)
    saw_r = saw_reference(dt, 0.3)
    np.testing.assert_allclose(saw_k, saw_r, atol=1e-9)
    assert saw_k.min() >= -1.0 - 1e-12 and saw_k.max() <= 1.0 + 1e-12


def test_saw_is_band_limited():
    """polyBLEP attenuates aliases: at 2.5 kHz / 8 kHz the first fold-back
    partial is far below the fundamental."""
    sr, f0 = 8000, 2500.0
    saw = voices.saw(np.full(sr, f0), sr)
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
    env_k, idx_k, t_k = voices.adsr_kernel(n, onsets, gates, vels, *args, float(sr))
    env_r, idx_r, t_r = adsr_reference(n, onsets, gates, vels, *args, sr)
    np.testing.assert_array_equal(idx_k, idx_r)
    np.testing.assert_allclose(t_k, t_r, atol=1e-12)
    # (the kernel advances its exponentials recursively: equal up to round-off)
    np.testing.assert_allclose(env_k, env_r, rtol=1e-9, atol=1e-12)
    # retriggering never jumps: the attack starts from the current level
    assert np.abs(np.diff(env_k)).max() <= max(vels) * 1.0 / (args[0] * sr) + 1e-9


def test_overlay_and_choke():
    out = np.zeros(10)
    voices.overlay(out, [2, 4, 20], np.ones(5), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 3, 3, 3, 2, 2, 0])
    out = np.zeros(10)
    voices.overlay(out, [2, 4], np.ones(5), [1.0, 2.0], choke=True)  # the first hit stops at the second
    np.testing.assert_array_equal(out, [0, 0, 1, 1, 2, 2, 2, 2, 2, 0])


def test_delay():
    x = np.arange(5.0)
    np.testing.assert_array_equal(voices.delay(x, 2), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(voices.delay(x, 9), np.zeros(5))
    np.testing.assert_array_equal(voices.delay(x, 0), x)


def test_pan_gains():
    np.testing.assert_array_equal(pan_gains(0.3, 1), [1.0])
    for ch in range(2, 9):
        for pan in (-1.0, -0.4, 0.0, 0.25, 1.0):
            g = pan_gains(pan, ch)
            assert g.shape == (ch,) and np.all(g > 0)
            assert np.sum(g**2) == pytest.approx(1.0)
    g = pan_gains(0.0, 2)
    assert g[0] == pytest.approx(g[1])
    g = pan_gains(-1.0, 2)
    assert g[0] > 5 * g[1]
