"""The demo's mastering chain (snc.demo.mastering: the library's EQ, compressor and true-peak limiter) and its
dithered quantiser, against the reference in tests/demo/synth_references.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from synth_references import quantize_reference

from snc.demo import mastering

CEILING = 10 ** (mastering.CEILING_DBTP / 20)


def _rms(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.sqrt(np.mean(a * a)))


def test_master_keeps_peaks_below_ceiling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 2)) * np.linspace(0.1, 3.0, 20000)[:, None]
    y = mastering.master(x, 44100)
    assert y.shape == x.shape
    assert np.abs(y).max() <= CEILING
    assert _rms(y - x) > 0.1 * _rms(x)


def test_master_is_aligned_with_its_input():
    """A quiet tone passes the compressor below its knee and the limiter untouched: the chain is then the EQ
    plus the makeup gain, sample for sample (the limiter's streaming delay is flushed and removed)."""
    sr = 44100
    x = 0.05 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)[:, None]
    want = mastering.master_eq(x, sr) * 10 ** (mastering.MASTER_COMPRESSOR.makeup_db / 20)
    np.testing.assert_allclose(mastering.master(x, sr), want, rtol=1e-9, atol=1e-12)


def test_master_compresses():
    sr = 44100
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 1000 * t)
    x = np.concatenate([0.05 * tone, 0.8 * tone])[:, None]  # -26 dB, then -2 dB
    y = mastering.master(x, sr)
    range_in = 20 * math.log10(_rms(x[-sr // 2:]) / _rms(x[sr // 2: sr]))
    range_out = 20 * math.log10(_rms(y[-sr // 2:]) / _rms(y[sr // 2: sr]))
    assert range_in == pytest.approx(24.08, abs=0.01)
    assert range_out < range_in - 8.0  # about 12 dB of reduction at 3:1


@pytest.mark.parametrize("sr", [8000, 44100, 192000])
def test_master_eq_response(sr):
    x = np.zeros((1 << 16, 1))
    x[0] = 1.0
    h = 20 * np.log10(np.abs(np.fft.rfft(mastering.master_eq(x, sr)[:, 0])))
    f = np.fft.rfftfreq(len(x), 1 / sr)

    def at(hz):
        return h[np.searchsorted(f, hz)]

    assert np.all(np.isfinite(h))
    assert at(5.0) < -20.0  # rumble removed
    assert at(60.0) == pytest.approx(3.0, abs=1.0)  # the low shelf
    assert at(350.0) == pytest.approx(-1.0, abs=1.0)  # the mud cut, half filled by the low shelf
    assert at(1500.0) == pytest.approx(0.0, abs=0.5)
    if sr >= 44100:
        assert at(19000.0) == pytest.approx(3.0, abs=0.3)  # the air shelf


@settings(max_examples=30, deadline=None)
@given(x=arrays(np.float64, st.tuples(st.integers(1, 300), st.integers(1, 3)), elements=st.floats(-50.0, 50.0)))
def test_master_property(x):
    y = mastering.master(x, 8000)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.abs(y).max() <= CEILING


def test_quantize_kernel_matches_reference():
    rng = np.random.default_rng(15)
    x = rng.uniform(-1.2, 1.2, 5001)
    raw = rng.bit_generator.random_raw(2501)
    for scale in (2.0**15, 2.0**23):
        got = mastering.quantize_kernel(x, raw, scale)
        want = quantize_reference(x, raw, scale)
        np.testing.assert_array_equal(got, want)
        assert got.min() == -scale and got.max() == scale - 1  # clipped
        inside = np.abs(x) < 0.99
        assert np.abs(got[inside] - x[inside] * scale).max() <= 1.5  # round + 1 LSB dither


def test_quantize_dither_is_tpdf():
    rng = np.random.default_rng(16)
    x = np.full(200000, 0.25 / 2**15)  # a quarter LSB
    q = mastering.quantize(x, 16, rng)
    assert set(np.unique(q)) <= {-1, 0, 1}
    assert q.mean() == pytest.approx(0.25, abs=0.01)  # dither linearises the quantiser
    # TPDF: total error variance 1/12 (rounding) + 1/6 (dither), whatever the signal
    assert q.var() == pytest.approx(1 / 4, abs=0.01)
