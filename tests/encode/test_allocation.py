"""Mix-masked noise allocation (:mod:`snc.encode.allocation`, spec codec-perceptual.md 9): the residual's and the
stems' budgets, the stems' SNR floors, headroom and quality, and that a coarser setting never costs more."""

from __future__ import annotations

import numpy as np
import pytest

from snc.encode import allocation
from snc.kernels.bands import band_edges, band_power


def _mask_and_stems(seed=41, F=3, C=2, K=3, stem_db=(-10, 60)):
    rng = np.random.default_rng(seed)
    mask = 10.0 ** rng.uniform(0, 3, (F, C, 1024))
    stems = [10.0 ** (rng.uniform(*stem_db, (F, C, 1024)) / 10) * rng.uniform(0.1, 1) for _ in range(K)]
    stems[-1][:, :, :200] = 0.0  # a stem silent in the low bands
    return mask, stems


def _rate_bits(noise, power, edges):
    """Gaussian rate estimate of coding ``power`` at ``noise``: sum over bands of w/2 log2(E/N)."""
    e, n = band_power(power, edges), band_power(noise, edges)
    return float((np.diff(edges) * 0.5 * np.log2(np.maximum(e / n, 1.0))).sum())


def test_meet_snr_counts_dropped_bands_with_their_energy():
    """A stem's SNR floor holds with the bands its codec drops (energy <= drop_db above the noise)
    counted at their energy, and the water-filling is not stricter than it needs to be."""
    rng = np.random.default_rng(48)
    widths = np.diff(band_edges(1024)).astype(float)
    energy = 10.0 ** rng.uniform(2, 6, (4, len(widths)))
    noise = energy * 10.0 ** rng.uniform(-2.5, 0.0, energy.shape)  # many bands just under their energy
    for drop_db in (0.0, 3.0):
        capped = allocation._meet_snr(noise, energy, widths, 20.0, drop_db)
        effective = np.where(energy <= capped * 10.0 ** (drop_db / 10.0), energy, capped)
        snr = 10 * np.log10((energy * widths).sum() / (effective * widths).sum())
        assert 20.5 - 1e-6 <= snr <= 20.5 + 0.2
    plain = allocation._meet_snr(noise, energy, widths, 20.0, 0.0)
    assert (allocation._meet_snr(noise, energy, widths, 20.0, 3.0) <= plain).all()


def test_allocate_residual_gets_half_the_scaled_mask():
    mask, stems = _mask_and_stems()
    edges = band_edges(1024)
    for q in (0.0, -8.0, 3.0):
        _, res = allocation.allocate(mask, stems, quality_db=q)
        t = np.minimum.reduceat(mask, edges[:-1], axis=-1) * 10.0 ** (q / 10.0)
        np.testing.assert_allclose(res, allocation.expand_bands(t / 2, edges), rtol=1e-12)
        assert (res <= mask * 10.0 ** (q / 10.0) / 2 * (1 + 1e-12)).all()  # flat per band, under every bin
    out, res = allocation.allocate(mask, [])
    assert out == [] and res.shape == mask.shape


def test_allocate_residual_mask_binds_the_residual_alone():
    """A stricter threshold for the mix (speech and band floors) lowers the residual's budget and leaves
    the stems' budgets exactly as they were."""
    mask, stems = _mask_and_stems(seed=44)
    strict = mask * 10.0 ** (-12 / 10)
    noise, res = allocation.allocate(mask, stems, quality_db=3.0)
    noise_s, res_s = allocation.allocate(mask, stems, quality_db=3.0, residual_mask=strict)
    for a, b in zip(noise, noise_s):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(res_s, res * 10.0 ** (-12 / 10), rtol=1e-12)


def test_band_floor_keeps_every_band_coded():
    rng = np.random.default_rng(45)
    power = 10.0 ** rng.uniform(-3, 6, (3, 2, 1024))
    edges = band_edges(1024)
    for snr in (0.5, 1.0, 6.0):
        floor = allocation.band_floor(power, snr)
        fb = band_power(floor, edges)
        np.testing.assert_allclose(floor, allocation.expand_bands(fb, edges), rtol=1e-12)  # flat per band
        np.testing.assert_allclose(fb, band_power(power, edges) * 10 ** (-snr / 10), rtol=1e-12)


@pytest.mark.parametrize("stem_db", [(-10, 60), (-10, 20)])
@pytest.mark.parametrize("headroom", [0.0, 3.0, 6.0, 12.0, 24.0])
def test_allocate_stem_noise_bound(headroom, stem_db):
    """Every stem: (g - 1)^2 max(1, K/4) N_k <= T / 2 (spec 9), one flat level per band, and its segment SNR
    (a band at or below its budget dropped) at least MIN_STEM_SNR_DB."""
    mask, stems = _mask_and_stems(stem_db=stem_db)
    edges = band_edges(1024)
    widths = np.diff(edges)
    noise, res = allocation.allocate(mask, stems, headroom_db=headroom, quality_db=-8.0)
    assert len(noise) == len(stems) and all(n.shape == mask.shape for n in noise)
    t = np.minimum.reduceat(mask, edges[:-1], axis=-1) * 10.0 ** (-8.0 / 10.0)
    nb = [band_power(n, edges) for n in noise]
    energies = [band_power(s, edges) for s in stems]
    g = 10.0 ** (headroom / 20.0)
    if headroom > 0:
        for n in nb:
            assert ((g - 1.0) ** 2 * max(1.0, len(stems) / 4) * n <= t / 2 * (1 + 1e-9) + 1e-9).all()
    for n, e in zip(noise, energies):
        nbk = band_power(n, edges)
        np.testing.assert_allclose(n, allocation.expand_bands(nbk, edges), rtol=1e-12)  # flat per band
        # a band at or below its budget is dropped by the codec: its noise is its energy
        snr = 10 * np.log10((e * widths).sum() / (np.minimum(nbk, e) * widths).sum())
        assert snr >= allocation.MIN_STEM_SNR_DB - 1e-6
    silent = np.zeros_like(nb[-1], bool)
    silent[..., : np.searchsorted(edges, 200, side="right") - 1] = True  # bands wholly below bin 200
    # silent bands of a stem: a budget above their (zero) energy, so the codec drops them
    assert silent.sum() > 10 and (nb[-1][silent] > energies[-1][silent]).all()


def test_allocate_snr_per_stem():
    """One SNR per stem: each stem keeps its own (the lead's is higher); a scalar is every stem's."""
    mask, stems = _mask_and_stems(seed=46, stem_db=(-10, 20))
    edges = band_edges(1024)
    widths = np.diff(edges)

    def snrs(noise):
        return [10 * np.log10((band_power(s, edges) * widths).sum()
                              / (band_power(n, edges) * widths).sum()) for s, n in zip(stems, noise)]

    plain, res = allocation.allocate(mask, stems, quality_db=-8.0, stem_snr_db=20.0)
    lead, res_lead = allocation.allocate(mask, stems, quality_db=-8.0, stem_snr_db=[20.0, 26.0, 20.0])
    np.testing.assert_array_equal(res, res_lead)
    for k in (0, 2):
        np.testing.assert_array_equal(plain[k], lead[k])
    got = snrs(lead)
    assert got[1] >= 26.0 - 1e-6 and got[1] > snrs(plain)[1] + 3
    with pytest.raises(ValueError):
        allocation.allocate(mask, stems, stem_snr_db=[20.0, 26.0])


@pytest.mark.parametrize("k", [1, 3, 4, 6])
def test_allocate_loud_stems_get_the_bound(k):
    """Stems far above the mask (their SNR floor already met): coded bands get exactly the per-stem bound
    B = T / (2 (g-1)^2 max(1, K/4)), whatever the other stems do; bands where a stem is quieter than B get B
    as well, which drops them (zero bits; the codec's own rounding noise never makes them look codable)."""
    rng = np.random.default_rng(43)
    F, C = 2, 2
    mask = 10.0 ** rng.uniform(0, 2, (F, C, 1024))
    stems = [10.0 ** rng.uniform(5, 7, (F, C, 1024)) for _ in range(k)]
    stems[0][:, :, 300:600] = 1e-3  # stem 0 very quiet there
    edges = band_edges(1024)
    for headroom in (3.0, 6.0, 12.0):
        noise, _ = allocation.allocate(mask, stems, headroom_db=headroom)
        t = np.minimum.reduceat(mask, edges[:-1], axis=-1)
        bound = t * allocation.STEM_SHARE / ((10 ** (headroom / 20) - 1) ** 2 * max(1.0, k / 4))
        np.testing.assert_allclose(allocation.stem_noise_bound(t, headroom, k), bound, rtol=1e-12)
        quiet_seen = 0
        for s, n in zip(stems, noise):
            e, nbk = band_power(s, edges), band_power(n, edges)
            quiet = e <= bound
            quiet_seen += int(quiet.sum())
            np.testing.assert_allclose(nbk, bound, rtol=1e-12)  # quiet bands too: their energy is below it
        assert quiet_seen > 0


def test_allocate_headroom_direction():
    """More remix headroom -> less total stem noise (never more); the residual's budget does not move."""
    mask, stems = _mask_and_stems(seed=42)
    prev = None
    for h in (0.0, 6.0, 12.0, 24.0):
        noise, res = allocation.allocate(mask, stems, headroom_db=h)
        total = np.array([float(n.sum()) for n in noise])
        if prev is not None:
            assert (total <= prev[0] * (1 + 1e-9)).all() and (total < prev[0]).any()
            np.testing.assert_array_equal(res, prev[1])
        prev = (total, res)


@pytest.fixture(scope="module")
def song():
    from snc.demo.synth import synthesize_song

    return synthesize_song(duration=0.4, samplerate=44100, channels=2, seed=3)


@pytest.fixture(scope="module")
def song_powers(song):
    from snc.codecs.perceptual.psy import masking_threshold
    from snc.codecs.perceptual.spectrum import power_spectrum

    mask = masking_threshold(song.mix.astype(np.float64), song.samplerate, 32768.0)
    return mask, [power_spectrum(s.astype(np.float64)) for s in song.stems.values()]


@pytest.mark.parametrize("knob", ["quality_db", "headroom_db"])
def test_allocate_rate_is_monotonic(song_powers, knob):
    """A coarser setting (higher quality_db, lower remix headroom) must never make a stem cost more bits."""
    mask, powers = song_powers
    edges = band_edges(1024)
    settings_ = [{"quality_db": q} for q in (-8.0, 0.0, 3.0)] if knob == "quality_db" else \
        [{"headroom_db": h} for h in (24.0, 12.0, 6.0, 0.0)]
    prev = None
    for kw in settings_:  # from fine to coarse
        noise, _ = allocation.allocate(mask, powers, **kw)
        bits = np.array([_rate_bits(n, p, edges) for n, p in zip(noise, powers)])
        if prev is not None:
            assert (bits <= prev * 1.01 + 100).all(), (kw, bits, prev)
        prev = bits


def test_mix_floors_stop_at_the_limit_of_hearing():
    """The band and intelligibility floors keep every band of the mix coded -- but not above 20 kHz, where no
    hole is heard: the ultrasonic dither of a 96 kHz / 24-bit file is left to the mask, which drops it (it cost a
    hi-res file several times the bytes of the same music at 44.1 kHz)."""
    from snc.encode.tuning import PERCEPTUAL_TUNING
    from snc.signal.audio_io import AudioFormat

    rate, bits = 96000, 24
    rng = np.random.default_rng(5)
    t = np.arange(8192) / rate
    tone = 0.3 * (1 << 23) * np.sin(2 * np.pi * 440 * t)[:, None] * np.ones((1, 2))
    mix = np.round(tone + rng.normal(0, 1.0, tone.shape)).astype(np.int32)  # 24-bit dither up to 48 kHz
    tuning = PERCEPTUAL_TUNING["transparent"]
    _, res = allocation.noise_budgets(mix, [mix // 2, mix - mix // 2], AudioFormat(rate, 2, "int", bits),
                                      tuning=tuning, headroom_db=6.0, has_stems=True,
                                      stem_snr_db=[tuning.stem_snr_db] * 2)
    from snc.codecs.perceptual.spectrum import bin_frequencies

    freqs = bin_frequencies(rate)
    edges = band_edges(1024)
    whole = np.repeat(freqs[edges[:-1]] >= allocation.HEARING_LIMIT_HZ, np.diff(edges))  # bands wholly above
    assert whole.sum() > 300
    assert (res[..., whole] > 1e3).all()  # far above the dither (~1 LSB^2 per coefficient): dropped
    audible = freqs < 16000
    assert (res[..., audible] < 1e3).any()  # the floors still bind below
