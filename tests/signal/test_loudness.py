"""Tests for snc.signal.loudness: BS.1770-4 / EBU Tech 3341 checks, pyloudnorm agreement, streaming invariance."""

import numpy as np
import pytest

from snc.errors import InputError
from snc.signal.loudness import LoudnessMeter, channel_weights, integrated_loudness, k_weighting, true_peak

# For a sine of peak amplitude A the mean square is A^2/2, and the K-filter gain at ~1 kHz is +0.691 dB,
# which the -0.691 dB offset of BS.1770-4 eq. (2) cancels: one channel reads 20 log10(A) - 3.01 LKFS and
# the same sine in both channels of a pair (G = 1 each) reads 20 log10(A) LKFS (EBU Tech 3341 test 1).
MONO_0DBFS_997HZ = 10 * np.log10(0.5)            # -3.0103
SURROUND_GAIN_DB = 10 * np.log10(1.41)           # +1.4922


def sine(freq, seconds, fs, dbfs=0.0, phase=0.0):
    t = np.arange(int(round(seconds * fs))) / fs
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def stereo(x):
    return np.stack([x, x], axis=1)


def noise(seconds, fs, channels, seed, level=0.1):
    return level * np.random.default_rng(seed).standard_normal((int(seconds * fs), channels))


def feed_in_random_blocks(meter, x, seed):
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(x):
        n = int(rng.choice([0, 1, 7, 441, 4799, 4800, 4801, 30000]) * rng.uniform(0.5, 1.5)) if i else 1
        meter.update(x[i:i + n])
        i += n
    return meter


# -- filter coefficients -----------------------------------------------------------------------------------

def test_k_weighting_reproduces_bs1770_48k_table():
    (b1, a1), (b2, a2) = k_weighting(48000)
    np.testing.assert_allclose(b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-12)
    np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-12)
    np.testing.assert_allclose(b2, [1.0, -2.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-12)


def test_channel_weights():
    assert list(channel_weights(1)) == [1.0]
    assert list(channel_weights(2)) == [1.0, 1.0]
    assert list(channel_weights(5)) == [1.0, 1.0, 1.0, 1.41, 1.41]
    assert list(channel_weights(6)) == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]
    assert list(channel_weights(8)) == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.0, 1.0]


# -- agreement with pyloudnorm -------------------------------------------------------------------------------

def _signals(fs):
    two_tones = np.stack([sine(997, 10, fs, -6), sine(440, 10, fs, -10)], axis=1)
    return {
        "noise-stereo": noise(10, fs, 2, seed=1),
        "noise-mono": noise(10, fs, 1, seed=2, level=0.3),
        "noise-5ch": noise(10, fs, 5, seed=3, level=0.05),      # pyloudnorm's order: L R C Ls Rs
        "tones-stereo": two_tones,
        "tone-3k-mono": sine(3000, 10, fs, -12)[:, None],
        "tone-60hz-stereo": stereo(sine(60, 10, fs, -3)),
    }


@pytest.mark.parametrize("fs", [8000, 44100, 48000, 96000])
def test_matches_pyloudnorm(fs):
    pyln = pytest.importorskip("pyloudnorm")
    for name, x in _signals(fs).items():
        ours = integrated_loudness(x, fs)
        ref = pyln.Meter(fs).integrated_loudness(x)                     # RBJ-cookbook K-weighting
        assert abs(ours - ref) < 0.1, (name, ours, ref)
        if fs in (44100, 48000):                                         # same analogue prototype as ours
            ref_deman = pyln.Meter(fs, filter_class="DeMan").integrated_loudness(x)
            assert abs(ours - ref_deman) < 0.01, (name, ours, ref_deman)


# -- BS.1770-4 / EBU Tech 3341 reference values --------------------------------------------------------------

@pytest.mark.parametrize("fs", [44100, 48000, 96000])
def test_sine_0dbfs_one_channel_reads_minus_3_01(fs):
    assert integrated_loudness(sine(997, 5, fs), fs) == pytest.approx(MONO_0DBFS_997HZ, abs=0.1)
    left_only = np.stack([sine(997, 5, fs), np.zeros(5 * fs)], axis=1)
    assert integrated_loudness(left_only, fs) == pytest.approx(MONO_0DBFS_997HZ, abs=0.1)


def test_sine_0dbfs_at_8k_is_close():
    # The bilinear transform squeezes the 1.7 kHz shelf towards 4 kHz Nyquist: 1 kHz reads 0.2 dB low.
    assert integrated_loudness(sine(997, 5, 8000), 8000) == pytest.approx(MONO_0DBFS_997HZ, abs=0.25)


# (levels in dBFS, durations in s) of EBU Tech 3341 tests 1-5, stereo 1 kHz sines; each reads the first number.
TECH_3341 = {
    "1": (-23.0, [(-23, 20)]),
    "2": (-33.0, [(-33, 20)]),
    "3": (-23.0, [(-36, 10), (-23, 60), (-36, 10)]),
    "4": (-23.0, [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)]),
    "5": (-23.0, [(-26, 20), (-20, 20.1), (-26, 20)]),
}


@pytest.mark.parametrize("case", sorted(TECH_3341))
@pytest.mark.parametrize("fs", [44100, 48000])
def test_ebu_tech_3341(case, fs):
    expected, parts = TECH_3341[case]
    x = stereo(np.concatenate([sine(1000, seconds, fs, level) for level, seconds in parts]))
    assert integrated_loudness(x, fs) == pytest.approx(expected, abs=0.1)


def test_six_channels_weights_and_lfe():
    fs = 48000
    tone = sine(997, 5, fs, -20)

    def in_channel(ch):
        x = np.zeros((len(tone), 6))
        x[:, ch] = tone
        return integrated_loudness(x, fs)

    mono = integrated_loudness(tone, fs)
    assert mono == pytest.approx(-20 + MONO_0DBFS_997HZ, abs=0.1)
    assert in_channel(0) == pytest.approx(mono, abs=1e-9)              # L
    assert in_channel(2) == pytest.approx(mono, abs=1e-9)              # C
    assert in_channel(3) == float("-inf")                              # LFE is excluded
    assert in_channel(5) == pytest.approx(mono + SURROUND_GAIN_DB, abs=1e-9)   # Rs, G = 1.41


def test_gating_drops_silence():
    # Ungated, 90 s of silence around 20 s of tone would lower the reading by 10 log10(110 / 20) = 7.4 dB.
    # Gated, only the 6 blocks straddling the two edges (holding 3 blocks' worth of tone energy) join the
    # 197 full blocks: 10 log10(200 / 203) = -0.065 dB.
    fs = 48000
    tone = stereo(sine(997, 20, fs, -18))
    with_silence = np.concatenate([np.zeros((30 * fs, 2)), tone, np.zeros((60 * fs, 2))])
    expected = integrated_loudness(tone, fs) + 10 * np.log10(200 / 203)
    assert integrated_loudness(with_silence, fs) == pytest.approx(expected, abs=0.01)
    assert integrated_loudness(tone, fs) == pytest.approx(-18.0, abs=0.1)


def test_filter_state_stays_normal_in_long_silence():
    # Regression: decaying biquad states turned subnormal after the signal stopped, slowing lfilter ~15x.
    fs = 48000
    meter = LoudnessMeter(fs, 1)
    meter.update(np.concatenate([sine(997, 1, fs, -10), np.zeros(20 * fs)]))
    for zi in meter._zi:
        assert np.all(np.abs(zi) >= np.finfo(np.float64).tiny)
    # 7 full blocks of tone plus 3 trailing blocks holding 1.5 blocks' worth of it, out of 10 gated blocks
    assert meter.integrated_lufs() == pytest.approx(-10 + MONO_0DBFS_997HZ + 10 * np.log10(8.5 / 10), abs=0.02)


def test_silence_and_too_short_read_minus_inf():
    fs = 44100
    assert integrated_loudness(np.zeros((5 * fs, 2)), fs) == float("-inf")
    assert integrated_loudness(sine(997, 0.39, fs)[:, None], fs) == float("-inf")      # < one 400 ms block
    assert integrated_loudness(sine(997, 5, fs, -80), fs) == float("-inf")              # below -70 LKFS
    assert integrated_loudness(np.zeros((0, 2)), fs) == float("-inf")
    meter = LoudnessMeter(fs, 2)
    assert meter.integrated_lufs() == float("-inf") and meter.true_peak_dbtp() == float("-inf")
    assert true_peak(np.zeros((fs, 2)), fs) == float("-inf")


# -- true peak ------------------------------------------------------------------------------------------------

def _faded(x, fs, seconds=0.02):
    ramp = np.sin(np.linspace(0, np.pi / 2, int(seconds * fs))) ** 2    # avoid the switch-on overshoot
    x = x.copy()
    x[:len(ramp)] *= ramp
    x[-len(ramp):] *= ramp[::-1]
    return x


@pytest.mark.parametrize("fs", [8000, 44100, 48000, 96000, 192000])
def test_true_peak_of_quarter_rate_sine_between_samples(fs):
    # sin(pi n / 2 + pi / 4): every sample is +-0.707 (-3.01 dBFS), the crests fall half-way between samples.
    x = _faded(sine(fs / 4, 1, fs, phase=np.pi / 4), fs)
    assert 20 * np.log10(np.max(np.abs(x))) == pytest.approx(-3.01, abs=0.01)
    assert true_peak(x, fs) == pytest.approx(0.0, abs=0.2)
    assert true_peak(stereo(x) * 0.5, fs) == pytest.approx(-6.02, abs=0.2)


def test_true_peak_never_below_sample_peak():
    fs = 44100
    x = noise(2, fs, 2, seed=4, level=0.2)
    assert true_peak(x, fs) >= 20 * np.log10(np.max(np.abs(x))) - 1e-12
    impulse = np.zeros(fs)
    impulse[fs // 2] = -1.0
    assert true_peak(impulse, fs) == pytest.approx(0.0, abs=1e-12)
    impulse[:] = 0.0
    impulse[-1] = 0.5                                                   # last sample: needs the flushed tail
    assert true_peak(impulse, fs) == pytest.approx(-6.02, abs=0.01)


# -- streaming -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fs,channels", [(8000, 1), (11025, 2), (44100, 2), (96000, 6)])
def test_block_boundaries_do_not_matter(fs, channels):
    x = noise(6, fs, channels, seed=5) * np.linspace(0.1, 2.0, 6 * fs)[:, None]   # a crescendo
    x[2 * fs:3 * fs] = 0.0                                                           # and a gap to gate
    whole = LoudnessMeter(fs, channels)
    whole.update(x)
    pieces = feed_in_random_blocks(LoudnessMeter(fs, channels), x, seed=fs + channels)
    assert np.isfinite(whole.integrated_lufs())
    assert pieces.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-9)
    assert pieces.true_peak_dbtp() == pytest.approx(whole.true_peak_dbtp(), abs=0.05)
    assert whole.integrated_lufs() == pytest.approx(integrated_loudness(x, fs), abs=1e-12)
    assert whole.true_peak_dbtp() == pytest.approx(true_peak(x, fs), abs=1e-12)


def test_readings_do_not_disturb_the_stream():
    fs = 48000
    x = noise(3, fs, 2, seed=6)
    meter = LoudnessMeter(fs, 2)
    for block in np.array_split(x, 7):
        meter.update(block)
        meter.integrated_lufs(), meter.true_peak_dbtp()
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(x, fs), abs=1e-9)
    assert meter.true_peak_dbtp() == pytest.approx(true_peak(x, fs), abs=1e-9)


def test_state_is_one_float_per_100ms():
    fs = 8000
    meter = LoudnessMeter(fs, 1)
    block = noise(60, fs, 1, seed=7)
    for _ in range(10):                                                  # ten minutes
        meter.update(block)
    assert len(meter._hops) == 6000
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness(block, fs), abs=0.01)


# -- input checking ----------------------------------------------------------------------------------------------

def test_mono_1d_and_2d_agree():
    x = noise(2, 48000, 1, seed=8)
    assert integrated_loudness(x[:, 0], 48000) == integrated_loudness(x, 48000)
    meter = LoudnessMeter(48000, 1)
    meter.update(x[:, 0])
    assert meter.integrated_lufs() == integrated_loudness(x, 48000)


def test_bad_input_raises():
    with pytest.raises(InputError):
        LoudnessMeter(4000, 2)
    with pytest.raises(InputError):
        LoudnessMeter(48000, 0)
    with pytest.raises(InputError):
        LoudnessMeter(48000, 2, weights=[1.0])
    with pytest.raises(InputError):
        LoudnessMeter(48000, 2).update(np.zeros((10, 3)))
    with pytest.raises(InputError):
        integrated_loudness(np.zeros((2, 2, 2)), 48000)
