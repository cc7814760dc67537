"""Dynamics and tone (snc.render.dynamics): kernels against references, EQ, compressor, limiter, loudness range."""

from __future__ import annotations

import numpy as np
import pytest

import snc
from snc.kernels.dynamics import compressor_gain_db, hold_release
from snc.render.dynamics import (
    Compressor,
    CompressorSettings,
    EqBand,
    Equalizer,
    TruePeakLimiter,
)
from snc.signal.loudness import LoudnessMeter

RATE = 44100

# ----------------------------------------------------------------------------- kernels vs references


def compressor_reference(level_db, threshold, ratio, knee, attack, release, g0):
    out, g = [], g0
    for x in level_db:
        over = x - threshold
        if 2 * over < -knee:
            target = 0.0
        elif 2 * abs(over) <= knee and knee > 0:
            target = (1 / ratio - 1) * (over + knee / 2) ** 2 / (2 * knee)
        else:
            target = (1 / ratio - 1) * over
        c = attack if target < g else release
        g = c * g + (1 - c) * target
        out.append(g)
    return np.array(out)


@pytest.mark.parametrize("knee", [0.0, 6.0])
def test_compressor_kernel_equals_reference(knee):
    level = np.random.default_rng(1).uniform(-60, 0, 3000)
    state = np.array([-2.0])
    got = compressor_gain_db(level, -24.0, 4.0, knee, 0.9, 0.999, state)
    want = compressor_reference(level, -24.0, 4.0, knee, 0.9, 0.999, -2.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert state[0] == got[-1]


def test_hold_release_kernel_equals_reference():
    x = np.random.default_rng(2).uniform(0, 1, 1000) ** 8
    state = np.array([0.5])
    got = hold_release(x, 0.99, state)
    want, r = [], 0.5
    for v in x:
        r = max(v, 0.99 * r)
        want.append(r)
    np.testing.assert_array_equal(got, np.array(want))


# ----------------------------------------------------------------------------- processors


def tone(hz, seconds=1.0, amp=0.5, channels=2):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * hz * t))[:, None] * np.ones((1, channels))


def rms_db(x):
    return 10 * np.log10(np.mean(x ** 2))


def test_equalizer_shapes_and_streams():
    hp = Equalizer([EqBand("highpass", 120.0)], RATE, 2)
    assert rms_db(hp.process(tone(40))[RATE // 2:]) < rms_db(tone(40)) - 15
    peak = Equalizer([EqBand("peak", 1000.0, 6.0, 1.0)], RATE, 2)
    assert abs(rms_db(peak.process(tone(1000))[RATE // 2:]) - rms_db(tone(1000)) - 6.0) < 0.1
    x = np.random.default_rng(3).standard_normal((5000, 2))
    whole = Equalizer([EqBand("lowshelf", 200, 4), EqBand("highshelf", 5000, -3)], RATE, 2).process(x)
    eq = Equalizer([EqBand("lowshelf", 200, 4), EqBand("highshelf", 5000, -3)], RATE, 2)
    parts = np.concatenate([eq.process(x[:1234]), eq.process(x[1234:])])
    np.testing.assert_allclose(parts, whole, atol=1e-12)
    with pytest.raises(snc.InputError):
        EqBand("notch", 100).sos(RATE)
    with pytest.raises(snc.InputError):
        EqBand("peak", 30000).sos(RATE)


def test_compressor_reduces_loud_passages_only():
    comp = Compressor(CompressorSettings(threshold_db=-20, ratio=4, knee_db=0, attack_ms=1, release_ms=50), RATE)
    quiet, loud = tone(440, amp=0.01), tone(440, amp=0.9)
    out = comp.process(np.concatenate([quiet, loud]))
    assert abs(rms_db(out[RATE // 2: RATE]) - rms_db(quiet)) < 0.1
    # 4:1 above -20 dBFS: a peak 19 dB over comes out ~14 dB lower
    assert rms_db(out[-RATE // 2:]) < rms_db(loud) - 12


@pytest.mark.parametrize("ceiling", [-1.0, -6.0])
def test_true_peak_limiter_keeps_the_ceiling_and_streams(ceiling):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3 * RATE, 2)) * 0.3
    x[RATE: RATE + 100] *= 4  # a burst far over
    def run(sizes):
        lim = TruePeakLimiter(RATE, 2, ceiling)
        out, pos = [], 0
        for n in sizes:
            out.append(lim.process(x[pos: pos + n]))
            pos += n
        out.append(lim.flush())
        return np.concatenate(out)
    whole = run([len(x)])
    parts = run([1000, 7, 50_000, len(x) - 51_007])
    assert whole.shape == x.shape
    np.testing.assert_allclose(parts, whole, atol=1e-12)
    meter = LoudnessMeter(RATE, 2)
    meter.update(whole)
    assert meter.true_peak_dbtp() <= ceiling + 1e-6


def test_limiter_leaves_quiet_audio_untouched():
    x = tone(1000, amp=0.1)
    lim = TruePeakLimiter(RATE, 2, -1.0)
    out = np.concatenate([lim.process(x), lim.flush()])
    np.testing.assert_array_equal(out, x)


def test_loudness_range():
    steady = LoudnessMeter(RATE, 2)
    steady.update(tone(1000, seconds=12, amp=0.1))
    varied = LoudnessMeter(RATE, 2)
    varied.update(np.concatenate([tone(1000, 6, 0.3 / 10 ** 0.75), tone(1000, 6, 0.3)]))
    assert steady.loudness_range_lu() < 0.1
    assert 13 < varied.loudness_range_lu() < 16  # 15 dB apart (both above the relative gate, -20 LU)
