"""Mix-masked noise allocation: how much coding noise each stream may add.

The masking threshold ``T`` of the **mix** (:func:`snc.codecs.perceptual.psy.masking_threshold`,
a noise power per MDCT bin) is what the listener cannot hear in the default
mix.  In closed loop the decoded mix is ``sum(S'_k) + R'`` with ``R = M -
sum(S'_k)``, so at default gains only the residual's noise ``N_R`` reaches the
ear; the stems' noises ``N_k`` cancel.  They reappear when the player remixes:
with stem gains ``g_k`` and residual gain ``g_r`` the error is

    e = sum_k (g_r - g_k) n_k + g_r n_R,   E|e|^2 = sum_k (g_r - g_k)^2 N_k + g_r^2 N_R

(the noises are uncorrelated).  A remix headroom of ``h`` dB lets any one stem
be raised by ``g = 10^(h/20)`` (or the others lowered by as much: the same remix,
quieter, with a mask as much lower).  The residual follows the stems with the
energy-weighted mean of their gains (spec "Remix"): for stem ``j`` with energy
share ``f``, ``g_r = 1 + (g - 1) f`` and

    E|e|^2 = (g - 1)^2 [(1 - f)^2 N_j + f^2 sum_{k != j} N_k] + g_r^2 N_R.

With every ``N_k <= B`` the bracket is at most ``B * max(1, K/4)`` for ``f <=
1/2``; a stem with more than half the energy lifts the remix's own mask with it
(towards ``g^2 T``), which covers larger ``f``.  So the budget is split in half:

* each stem: ``N_k <= B = T / (2 (g - 1)^2 max(1, K/4))``, or its own energy
  where it is quieter than that (dropped, zero bits) -- a bound per stem, not a
  shared sum: a remix raises one stem at a time;
* residual: ``N_R <= T_R / 2`` -- the default mix sits 3 dB below its mask.

``T_R`` may be stricter than ``T`` (:func:`third_octave_floor`: intelligibility
of the mix; :func:`band_floor`: no band of the mix dropped whole); only the mix
needs that, so it binds the residual alone: the
residual, coded in closed loop, brings the stems' summed noise down to it in
one stream instead of K.  ``quality_db`` moves both budgets (``T * 10^(quality_db
/ 10)``): positive for coarser presets.  Every stem finally keeps a broadband SNR
(:func:`_meet_snr`): it may be soloed.  The file's lead stem (the one a karaoke
remix mutes) keeps a higher one: muting it takes away the mask its noise hid
under, and what the residual then passes on of that noise (spec 19.1: the
residual follows the stems per tile) is what is left of the muted stem.
Everything here is per frame, per channel and per analysis band of the
long-frame layout (:mod:`snc.kernels.bands`); the results are noise powers per
MDCT bin, like ``T``.
"""

from __future__ import annotations

import numpy as np

from ..codecs.perceptual.psy import masking_threshold, psd_to_bands
from ..codecs.perceptual.spectrum import bin_frequencies, power_spectrum
from ..kernels.bands import band_edges, band_power, expand_bands

#: the stems get this share of the masked noise, the residual the rest
STEM_SHARE = 0.5
#: every stem keeps at least this SNR over each segment (dB): below it, soloing a stem would reveal
#: its noise even where the mix masks it
MIN_STEM_SNR_DB = 20.0


def stem_noise_bound(threshold: np.ndarray, headroom_db: float, n_stems: int) -> np.ndarray:
    """``B``: the noise any one stem may carry where the mix's threshold is ``threshold``
    (module docstring).  Headroom 0 dB: the stems' noise never reaches the ear (1000x)."""
    g = 10.0 ** (headroom_db / 20.0)
    weight = max((g - 1.0) ** 2, 1e-3) * max(1.0, n_stems / 4.0)
    return threshold * STEM_SHARE / weight


def allocate(mask: np.ndarray, stem_power: list[np.ndarray], *, headroom_db: float = 6.0,
             quality_db: float = 0.0, stem_snr_db=MIN_STEM_SNR_DB,
             residual_mask: np.ndarray | None = None, drop_db: float = 0.0) -> tuple[list[np.ndarray], np.ndarray]:
    """Noise budgets for every stem and for the residual.

    ``mask``: (F, C, 1024) masking threshold of the mix; ``stem_power``: per stem its
    power per bin (F, C, 1024) on the same frames (:func:`snc.codecs.perceptual.spectrum.power_spectrum`);
    ``stem_snr_db``: the broadband SNR every stem keeps, or one per stem (the lead stem of a
    file keeps more: muting it must leave little of its noise, module docstring);
    ``residual_mask``: a stricter threshold for the residual (the mix) alone, default ``mask``;
    ``drop_db``: the stems' codec leaves a band uncoded unless its energy is that far above its budget
    (:attr:`snc.codecs.perceptual.EncoderSettings.drop_db`), so such a band's noise counts as its energy
    when the stem's SNR is met.
    Returns ``(stem_noise, residual_noise)``, noise powers per bin like ``mask``.
    """
    edges = band_edges(mask.shape[-1])
    scale = 10.0 ** (quality_db / 10.0)

    def bands(m):  # a band shares one step size, so its noise is flat: the band's quietest bin sets it
        return psd_to_bands(np.maximum(m, 0.0), edges, False) * scale

    t = bands(mask)
    t_res = t if residual_mask is None else bands(residual_mask)
    res_noise = expand_bands(t_res * (1.0 - STEM_SHARE), edges)
    if not stem_power:
        return [], res_noise
    bound = stem_noise_bound(t, headroom_db, len(stem_power))
    widths = np.diff(edges)
    snrs = np.broadcast_to(np.asarray(stem_snr_db, dtype=np.float64), (len(stem_power),))
    out = []
    for s, snr_db in zip(stem_power, snrs):
        e = band_power(s, edges)
        # a band quieter than the bound is dropped (its noise is its own energy): its budget stays the bound, so
        # the codec, whose integer transform adds its own rounding noise, never spends bits to code it
        out.append(expand_bands(np.maximum(_meet_snr(bound, e, widths, float(snr_db), drop_db), 1e-12), edges))
    return out, res_noise


def _meet_snr(noise: np.ndarray, energy: np.ndarray, widths: np.ndarray, snr_db: float, drop_db: float = 0.0,
              iterations: int = 40) -> np.ndarray:
    """Cap a stem's band noises at one level ``lam`` until the whole segment's SNR reaches
    ``snr_db`` (a soloed stem must not sound noisy even where the mix masked it).
    Capping the largest noises first is reverse water-filling (Cover & Thomas 13.3.3): the
    fewest bits for a given total noise.  Broadband, like the target (an SNR per band would cost far more).
    A band the codec will leave uncoded (energy at most ``drop_db`` above its noise) counts with its energy."""
    total = float((energy * widths).sum())
    limit = total * 10.0 ** (-(snr_db + 0.5) / 10.0)
    drop = 10.0 ** (drop_db / 10.0)

    def total_noise(n):
        return float((np.where(energy <= n * drop, energy, n) * widths).sum())

    if total_noise(noise) <= limit or total == 0.0:
        return noise
    lo, hi = 0.0, float(noise.max())
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if total_noise(np.minimum(noise, mid)) > limit:
            hi = mid
        else:
            lo = mid
    return np.minimum(noise, lo)


#: intelligibility guard: in the third-octave bands STOI weighs (150 Hz - 4.3 kHz, Taal et al. 2011) the
#: noise stays this far below the band's mean power, even where the mask would allow more: masking
#: spreads from loud neighbours over quiet bands, and the envelope of a quiet band is what a listener
#: (and STOI) loses first
SPEECH_BAND_HZ = (150.0, 4300.0)


#: the floors keep every band of the mix coded because a hole in the spectrum is heard; above the upper limit
#: of human hearing none is, so there (a hi-res file's ultrasonic band and dither, the last 2 kHz at 44.1 kHz)
#: the mix's own mask alone decides
HEARING_LIMIT_HZ = 20000.0


def third_octave_floor(power: np.ndarray, samplerate: int, snr_db: float) -> np.ndarray:
    """Per bin (F, C, 1024): the mean power of the bin's third-octave band, ``snr_db`` lower, inside
    :data:`SPEECH_BAND_HZ`; infinite elsewhere.  ``power``: (F, C, 1024) per-bin power of the mix."""
    freqs = bin_frequencies(samplerate, power.shape[-1])
    lo, hi = SPEECH_BAND_HZ
    out = np.full(power.shape, np.inf)
    # third-octave bands centred at 150 * 2^(j/3) Hz, as in STOI's filter bank
    j = 0
    while True:
        fc = lo * 2.0 ** (j / 3.0)
        if fc > hi * 2.0 ** (1 / 6):
            break
        sel = (freqs >= fc * 2.0 ** (-1 / 6)) & (freqs < fc * 2.0 ** (1 / 6))
        if sel.any():
            mean = power[..., sel].mean(axis=-1, keepdims=True)
            out[..., sel] = mean * 10.0 ** (-snr_db / 10.0)
        j += 1
    return out


def band_floor(power: np.ndarray, snr_db: float) -> np.ndarray:
    """Per bin (..., 1024): the mean power of the bin's analysis band, ``snr_db`` lower.  As a noise
    budget it keeps every band of the signal coded (its energy stays above the budget)."""
    edges = band_edges(power.shape[-1])
    return expand_bands(band_power(power, edges), edges) * 10.0 ** (-snr_db / 10.0)


def noise_budgets(mix_block, stem_blocks, fmt, *, tuning, headroom_db: float, has_stems: bool,
                  stem_snr_db: list[float]) -> tuple[list[np.ndarray], np.ndarray]:
    """One segment's allowed coding noise per bin for every stem (or the mix stream) and for the residual.

    ``fmt``: the blocks' integer format; ``tuning``: the :class:`~snc.encode.tuning.PerceptualTuning`;
    ``stem_snr_db``: the SNR each stem keeps (:func:`allocate`).  Without stems the mix is the only stream:
    it gets the whole mask, and the residual nothing to code (an infinite budget)."""
    mix = mix_block.astype(np.float64)
    quality_db = tuning.quality_db
    mask = masking_threshold(mix, fmt.sample_rate, float(1 << (fmt.bits - 1)), spl_full_scale=tuning.full_scale_spl)
    # the mix's own threshold: the intelligibility floor and the band floor (neither moves with quality_db)
    # bind the mix, i.e. the residual, not the stems
    mix_power = power_spectrum(mix)
    floors = np.minimum(third_octave_floor(mix_power, fmt.sample_rate, tuning.speech_snr_db),
                        band_floor(mix_power, tuning.band_snr_db))
    floors[..., bin_frequencies(fmt.sample_rate) >= HEARING_LIMIT_HZ] = np.inf
    mix_mask = np.minimum(mask, floors * 10.0 ** (-quality_db / 10.0))
    if not has_stems:
        return [mix_mask * 10.0 ** (quality_db / 10.0)], np.full_like(mask, np.inf)
    powers = [power_spectrum(b.astype(np.float64)) for b in stem_blocks]
    return allocate(mask, powers, headroom_db=headroom_db, quality_db=quality_db, stem_snr_db=stem_snr_db,
                    residual_mask=mix_mask, drop_db=tuning.stem_drop_db)
