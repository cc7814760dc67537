"""Psychoacoustic model (snc.codecs.perceptual.psy): units against a direct MDCT, masking shape, tonality, ATH,
pre-echo, scaling, stereo guard, shapes at every rate, and the noise it allows on music-like material."""

from __future__ import annotations

import numpy as np
import pytest

from snc.codecs.perceptual import psy, spectrum
from snc.kernels.bands import band_edges

M = spectrum.HOP
FS = 44100
FULL = 32768.0


def db(v):
    return 10.0 * np.log10(v)


def bin_of(f, fs=FS):
    return int(f * 2 * M / fs)


def mdct_matrix(m=M):
    """Orthonormal sine-window MDCT as an (M, 2M) matrix: X = C @ frame, frame += C.T @ X (TDAC)."""
    n = np.arange(2 * m)
    k = np.arange(m)[:, None]
    w = np.sin(np.pi * (n + 0.5) / (2 * m))
    return np.sqrt(2.0 / m) * w * np.cos(np.pi / m * (n + 0.5 + m / 2) * (k + 0.5))


def frames_of(x):
    """The codec's framing: frame t spans [(t - 1) M, (t + 1) M), zeros outside; (F, 2M, C)."""
    nf = -(-len(x) // M) + 1
    xp = np.zeros(((nf + 1) * M, x.shape[1]))
    xp[M:M + len(x)] = x
    return np.stack([xp[t * M:(t + 2) * M] for t in range(nf)])


def direct_mdct(x):
    """(F, C, M) coefficients of the orthonormal MDCT, written from the definition."""
    return np.einsum("kn,tnc->tck", mdct_matrix(), frames_of(x))


def inverse_mdct(coef, length):
    """Overlap-add synthesis of (F, C, M) coefficients back to (length, C)."""
    cm = mdct_matrix()
    nf, nc, _ = coef.shape
    y = np.zeros(((nf + 1) * M, nc))
    for t in range(nf):
        y[t * M:(t + 2) * M] += cm.T @ coef[t].T
    return y[M:M + length]


def music_like(seconds=4.0, fs=FS, seed=0):
    """Stereo synthetic mix: bass line, a chord of harmonic notes with vibrato and decay, noise hi-hats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    t = np.arange(n) / fs
    x = np.zeros((n, 2))
    beat = int(0.25 * fs)
    for i, start in enumerate(range(0, n, 2 * beat)):       # bass: 55/73 Hz notes, 6 harmonics
        f0 = (55.0, 73.4)[i % 2]
        seg = slice(start, min(start + 2 * beat, n))
        env = np.exp(-3.0 * (t[seg] - t[start]))
        for h in range(1, 7):
            x[seg] += (0.25 / h) * env[:, None] * np.sin(2 * np.pi * f0 * h * t[seg])[:, None]
    for f0, pan in ((261.6, 0.3), (329.6, 0.5), (392.0, 0.7), (523.3, 0.5)):    # chord with vibrato
        phase = 2 * np.pi * f0 * t + 0.02 * f0 / 5.0 * np.sin(2 * np.pi * 5.0 * t)
        note = sum((0.08 / h) * np.sin(h * phase) for h in range(1, 10))
        x[:, 0] += (1 - pan) * note
        x[:, 1] += pan * note
    hat = np.zeros(n)
    for start in range(beat // 2, n, beat):                   # hi-hats: high-passed noise bursts
        m = min(int(0.05 * fs), n - start)
        hat[start:start + m] += rng.standard_normal(m) * np.exp(-np.arange(m) / (0.01 * fs))
    hat = np.diff(hat, prepend=0.0) * 0.1
    x += hat[:, None] * np.array([0.8, 1.0])
    return x * 0.5 * FULL


@pytest.mark.slow
def test_power_spectrum_scale_matches_direct_mdct():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((3 * FS, 2)) * 300.0
    ps = spectrum.power_spectrum(noise)[2:-2]
    ref = direct_mdct(noise)[2:-2] ** 2
    # per 32-bin band, averaged over frames and channels: white noise gives s^2 per coefficient in both
    ratio = (ps.reshape(len(ps), 2, 32, 32).mean(axis=(0, 1, 3))
             / ref.reshape(len(ref), 2, 32, 32).mean(axis=(0, 1, 3)))
    assert np.all(np.abs(db(ratio)) < 0.6)
    assert abs(db(ps[..., 10:1000].mean() / 300.0 ** 2)) < 0.1
    # a stationary tone: the energy per frame (summed over bins) agrees too
    t = np.arange(2 * FS) / FS
    tone = (1000.0 * np.sin(2 * np.pi * 1234.5 * t) + 300.0 * np.sin(2 * np.pi * 5000.0 * t + 1.0))[:, None]
    e_ps = spectrum.power_spectrum(tone)[2:-2].sum(axis=-1).mean()
    e_ref = (direct_mdct(tone)[2:-2] ** 2).sum(axis=-1).mean()
    assert abs(db(e_ps / e_ref)) < 0.2


def test_tone_masks_near_frequencies_and_spreads_upwards():
    t = np.arange(2 * FS) / FS
    x = (0.5 * FULL * np.sin(2 * np.pi * 1000.0 * t))[:, None]
    thr = psy.masking_threshold(x, FS, FULL)[10:-10, 0].mean(axis=0)
    quiet = psy.masking_threshold(np.zeros((4096, 1)), FS, FULL)[1, 0]
    assert db(thr[bin_of(1100)] / thr[bin_of(4000)]) > 40.0
    assert db(thr[bin_of(1100)] / quiet[bin_of(1100)]) > 40.0
    # Schroeder spreading: shallower above the masker than below, at equal Bark distances
    fk = (np.arange(M) + 0.5) * FS / (2 * M)
    z = psy._bark(fk)
    z0 = psy._bark(1000.0)
    for dz, margin in ((2.0, 6.0), (3.0, 15.0)):
        up, down = np.argmin(abs(z - z0 - dz)), np.argmin(abs(z - z0 + dz))
        assert db(thr[up] / thr[down]) > margin
        assert thr[down] > 3 * quiet[down]          # still masking, not the ATH, on the low side


def test_noise_masks_more_than_a_tone_of_equal_energy():
    rng = np.random.default_rng(2)
    n = 2 * FS
    t = np.arange(n) / FS
    tone = 3000.0 * np.sin(2 * np.pi * 1000.0 * t)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    spec[(f < 920) | (f > 1080)] = 0.0                   # one critical band of noise around 1 kHz
    noise = np.fft.irfft(spec, n)
    noise *= np.std(tone) / np.std(noise)
    band = slice(bin_of(850), bin_of(1150))
    smr = {}
    for name, sig in (("tone", tone), ("noise", noise)):
        thr = psy.masking_threshold(sig[:, None], FS, FULL)[5:-5, 0, band].sum()
        energy = spectrum.power_spectrum(sig[:, None])[5:-5, 0, band].sum()
        smr[name] = db(energy / thr)
    assert smr["tone"] > smr["noise"] + 8.0
    # Johnston: noise masks ~5.5 dB below its energy (a little more here: the SFM sees the band's steep edges)
    assert 3.0 < smr["noise"] < 15.0
    assert smr["tone"] > 18.0                 # tone: 14.5 + z dB


def test_white_noise_threshold_is_a_few_db_below_its_density():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2 * FS, 1)) * 1000.0
    thr = psy.masking_threshold(x, FS, FULL)[5:-5, 0, bin_of(300):bin_of(8000)]
    assert 4.0 < -db(np.median(thr) / 1000.0 ** 2) < 10.0


def ath_db(f):
    k = f / 1000.0
    return 3.64 * k ** -0.8 - 6.5 * np.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * k ** 4


@pytest.mark.parametrize("fs", [8000, 44100, 192000])
def test_silence_gives_the_absolute_threshold(fs):
    thr = psy.masking_threshold(np.zeros((3000, 2)), fs, FULL)
    assert np.all(np.isfinite(thr)) and np.all(thr > 0)
    assert np.all(thr == thr[:1, :1])                  # every frame and channel alike
    np.testing.assert_array_equal(thr[0, 0], psy.absolute_threshold(fs, FULL))  # silence masks nothing more
    q = thr[0, 0]
    k1 = bin_of(1000, fs)
    # calibration (96 dB SPL full scale): noise filling a critical band at ATH(f) dB SPL
    f1 = (k1 + 0.5) * fs / (2 * M)
    cbw = 25 + 75 * (1 + 1.4 * (f1 / 1000) ** 2) ** 0.69
    assert db(q[k1]) == pytest.approx(db(FULL ** 2 * fs / (4 * cbw)) + ath_db(f1) - 96.0, abs=1e-6)
    assert db(q[bin_of(50, fs)] / q[k1]) > 25.0       # steep below 100 Hz
    assert db(q[bin_of(3500, fs)] / q[k1]) < 0.0      # most sensitive near 3-4 kHz
    if fs > 32000:
        assert db(q[bin_of(16000, fs)] / q[k1]) > 30.0   # steep above 15 kHz
        assert db(q[bin_of(15000, fs)] / q[bin_of(12000, fs)]) > 15.0
    if fs > 44100:
        assert np.all(q[bin_of(21000, fs):] > FULL ** 2)   # beyond hearing: very high, finite
    if fs == 44100:
        # 16-bit dither (LSB^2 / 12 per coefficient) lies under the quietest threshold, but not far
        assert 1 / 12 < q.min() < 100 / 12


def test_attack_after_silence_gets_a_low_threshold():
    rng = np.random.default_rng(4)
    onset = 10 * M + 700                 # inside frame 10 (sub-block 5) and frame 11 (sub-block 1)
    x = np.zeros((24 * M, 1))
    x[onset:] = rng.standard_normal((len(x) - onset, 1)) * 3000.0
    thr = psy.masking_threshold(x, FS, FULL)[:, 0]
    quiet = psy.masking_threshold(np.zeros((M, 1)), FS, FULL)[0, 0]
    mid = slice(bin_of(500), bin_of(8000))
    steady = thr[16:20, mid].mean()
    for t in (10, 11):
        assert thr[t, mid].mean() < steady / 300.0
        assert np.median(thr[t, mid] / quiet[mid]) < 3.0
    assert np.median(thr[16, mid] / quiet[mid]) > 100.0


def test_forward_masking_carries_over_and_decays():
    t = np.arange(12 * M) / FS
    x = np.zeros((40 * M, 1))
    x[:12 * M, 0] = 0.5 * FULL * np.sin(2 * np.pi * 1000.0 * t)    # stops at the end of frame 11
    thr = psy.masking_threshold(x, FS, FULL)[:, 0, bin_of(1000)]
    quiet = psy.masking_threshold(np.zeros((M, 1)), FS, FULL)[0, 0, bin_of(1000)]
    step = psy.FORWARD_DB_PER_MS * 1000.0 * M / FS
    # frames 13.. hold no signal: the threshold decays by `step` dB per frame until it reaches the ATH
    assert thr[13] > 100 * quiet
    assert db(thr[13] / thr[14]) == pytest.approx(step, abs=1e-6)
    assert db(thr[13] / thr[18]) == pytest.approx(5 * step, abs=1e-6)
    assert thr[-1] == pytest.approx(quiet)


def test_threshold_scales_with_the_signal():
    x = music_like(2.0)
    a = psy.masking_threshold(x, FS, FULL)
    b = psy.masking_threshold(10.0 * x, FS, FULL)
    quiet = psy.masking_threshold(np.zeros((M, 2)), FS, FULL)[0]
    free = a > 30 * quiet
    assert free.mean() > 0.3
    np.testing.assert_allclose(b[free], 100.0 * a[free], rtol=1e-3)


@pytest.mark.parametrize("channels, fs, length", [
    (1, 44100, 5000), (2, 44100, 3 * M), (6, 48000, 7000), (2, 8000, 4000), (2, 192000, 9000),
    (1, 44100, 700), (2, 44100, 1), (1, 22050, 0),
])
def test_shapes_rates_and_lengths(channels, fs, length):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((length, channels)) * 2000.0
    thr = psy.masking_threshold(x, fs, FULL)
    assert thr.shape == (-(-length // M) + 1, channels, M) and thr.dtype == np.float64
    quiet = psy.masking_threshold(np.zeros((M, channels)), fs, FULL)[0]
    assert np.all(np.isfinite(thr)) and np.all(thr >= quiet * (1 - 1e-9))
    if length:
        assert np.any(thr > 10 * quiet)


def test_mono_1d_and_float_scale_agree():
    x = music_like(1.0)[:, 0]
    a = psy.masking_threshold(x, FS, FULL)
    b = psy.masking_threshold((x / FULL)[:, None], FS, 1.0)
    np.testing.assert_allclose(b * FULL ** 2, a, rtol=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError):
        psy.masking_threshold(np.zeros((10, 1)), 4000, FULL)
    with pytest.raises(ValueError):
        psy.masking_threshold(np.zeros((10, 1)), FS, 0.0)
    with pytest.raises(ValueError):
        psy.masking_threshold(np.zeros((10, 2)), FS, FULL, pairs=[(0, 2)])


def test_correlated_channels_get_close_thresholds():
    rng = np.random.default_rng(5)
    s = rng.standard_normal(2 * FS) * 3000.0
    mid = (slice(5, -5), slice(None), slice(bin_of(300), bin_of(10000)))
    # R = L / 3 (fully correlated, 9.5 dB apart): rho = 2 (1/3) / (1 + 1/9) = 0.6, so the guard holds L
    # to BMLD_MARGIN_DB - 20 log10(rho) = 7.4 dB above R
    x = np.stack([s, s / 3.0], axis=1)
    free = psy.masking_threshold(x, FS, FULL, pairs=())[mid]
    guarded = psy.masking_threshold(x, FS, FULL)[mid]
    assert np.median(db(free[:, 0] / free[:, 1])) == pytest.approx(db(9.0), abs=0.5)
    limit = psy.BMLD_MARGIN_DB - 20 * np.log10(0.6)
    assert np.max(db(guarded[:, 0] / guarded[:, 1])) == pytest.approx(limit, abs=0.05)
    np.testing.assert_array_equal(guarded[:, 1], free[:, 1])
    # independent channels 6 dB apart: left alone (up to a little chance correlation)
    y = np.stack([s, rng.standard_normal(2 * FS) * 1500.0], axis=1)
    free = psy.masking_threshold(y, FS, FULL, pairs=())[mid]
    guarded = psy.masking_threshold(y, FS, FULL)[mid]
    assert np.median(guarded / free) > 0.99


def test_psd_to_bands_takes_the_band_minimum():
    rng = np.random.default_rng(6)
    psd = rng.random((3, 2, M)) + 0.1
    edges = band_edges(M)
    got = psy.psd_to_bands(psd, edges, short=False)
    assert got.shape == (3, 2, len(edges) - 1)
    for i in range(len(edges) - 1):
        np.testing.assert_array_equal(got[..., i], psd[..., edges[i]:edges[i + 1]].min(axis=-1))
    short = band_edges(M // 8)
    got = psy.psd_to_bands(psd[0, 0], short, short=True)
    for i in range(len(short) - 1):
        assert got[i] == psd[0, 0, 8 * short[i]:8 * short[i + 1]].min()
    with pytest.raises(ValueError):
        psy.psd_to_bands(psd, [0, 10, 10, 20], short=False)
    with pytest.raises(ValueError):
        psy.psd_to_bands(psd, [0, 200], short=True)


@pytest.mark.slow
def test_noise_shaped_to_the_threshold_sits_a_sane_smr_below_music():
    rng = np.random.default_rng(7)
    x = music_like(4.0)
    thr = psy.masking_threshold(x, FS, FULL)
    sig = direct_mdct(x) ** 2
    fk = (np.arange(M) + 0.5) * FS / (2 * M)
    mid = (fk > 500) & (fk < 5000)
    smr = db(sig[2:-2][..., mid].sum() / thr[2:-2][..., mid].sum())
    # transparent coders sit ~10-25 dB under the signal here; Johnston's offsets give ~10 dB on dense material
    assert 8.0 < smr < 30.0
    # quantisation-like noise with exactly that PSD, through an inverse MDCT: the units hold end to end
    hearing = (fk > 20) & (fk < 16000)          # a coder zeroes the rest (its ATH is far above any signal)
    noise = inverse_mdct(rng.standard_normal(thr.shape) * np.sqrt(thr) * hearing, len(x))
    got = direct_mdct(noise)[2:-2] ** 2
    bands = band_edges(M)
    audible = (fk[bands[:-1]] > 100) & (fk[bands[:-1]] < 16000)
    per_band = (np.add.reduceat(got.mean(axis=(0, 1)), bands[:-1])[audible]
                / np.add.reduceat((thr[2:-2] * hearing).mean(axis=(0, 1)), bands[:-1])[audible])
    assert np.all(np.abs(db(per_band)) < 1.5)
    snr = db((x ** 2).sum() / (noise ** 2).sum())
    assert snr > 10.0
