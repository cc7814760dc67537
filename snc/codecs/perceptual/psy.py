"""Psychoacoustic model of the ``perceptual`` codec (after libavcodec's ``aacpsy.c``): the noise power each MDCT
coefficient may carry unheard.

:func:`masking_threshold` turns a block of audio (normally the MIX) into an allowed-noise power spectral density
on the 1024 bins of the long MDCT frame; the encoder lets every stem add quantisation noise up to it.
:func:`psd_to_bands` reduces one such row to the codec's bands (long or short), :func:`.spectrum.power_spectrum` is
the analysis it rests on.  The model follows ISO/IEC 11172-3 Annex D psychoacoustic model 2 and Johnston (1988),
as reviewed by Painter & Spanias (2000), "Perceptual coding of digital audio", Proc. IEEE 88(4):

1. Spectrum: 2048-point periodic-Hann FFT of every MDCT frame (same span, same centre), power scaled so that
   white noise of variance s^2 reads s^2 per bin, exactly like the orthonormal MDCT; MDCT bin k (centre
   (k + 1/2) fs / 2048) takes the mean of FFT bins k and k + 1.
2. Energies in 1/3-Bark partitions (Bark of Zwicker & Terhardt 1980, JASA 68(5)), spread with Schroeder's
   function (Schroeder, Atal & Hall 1979, JASA 66(6): +25 dB/Bark below the masker, -10 dB/Bark above; cut at
   -60 dB as in model 2) and divided by the equally spread bandwidth, so white noise keeps its density.
3. Tonality from model 2's unpredictability (linear prediction of magnitude and phase from the two previous
   frames), energy-weighted and spread, t = clip(-0.299 - 0.43 ln c, 0, 1) (ISO 11172-3 Annex D), raised to
   Johnston's alpha = min(SFM / -60 dB, 1) of the spectral flatness over +-0.5 Bark (>= 8 bins) when that is
   higher (vibrato defeats the phase prediction at a 1024 hop, not the peakiness); masking offset
   t (14.5 + z) + (1 - t) 5.5 dB below the spread energy (Johnston 1988, IEEE JSAC 6(2), eqs. 9-10).
4. Forward (post-)masking: the previous frame's threshold carries over, decaying FORWARD_DB_PER_MS.
5. Pre-echo: in coarse 3-Bark regions, the threshold may not exceed what the quietest 256-sample sub-block of
   the frame can mask.  A sub-block's energy is divided by the mean square of the sine synthesis window over it
   (noise there is attenuated by the window) and may be forward-masked by earlier sub-blocks (SUBBLOCK_DB_PER_MS);
   sub-blocks wholly outside the signal are ignored (the decoder discards that noise).
6. Absolute threshold: Terhardt (1979), Hearing Research 1, ATH(f) = 3.64 f^-0.8 - 6.5 exp(-0.6 (f - 3.3)^2)
   + 1e-3 f^4 dB SPL (f in kHz), capped at ATH_CAP_DB.  Calibration ASSUMPTION: a full-scale sine plays at
   ``spl_full_scale`` = 96 dB SPL.  The ATH is read as the level of noise filling one critical band (Zwicker's
   bandwidth 25 + 75 (1 + 1.4 f^2)^0.69 Hz), so per coefficient it is lower by the number of bins per band: a
   16-bit dither floor then sits ~13 dB under the threshold at 3.3 kHz at 44.1 kHz (16 bits are just enough).
7. Stereo: thresholds per channel; for each pair of channels (0, 1), (2, 3), ... a channel's threshold may
   exceed its partner's by at most BMLD_MARGIN_DB - 20 log10(rho) dB, rho = 2 |Re sum X_a X_b*| / (E_a + E_b)
   (spread like the energies) the in-phase correlation.  Correlated pairs thus get nearly equal thresholds,
   the M/S rule of ISO/IEC 13818-7 Annex B (thr_M = thr_S = min(thr_L, thr_R)) against binaural unmasking,
   while unrelated channels are free.
8. Partition thresholds are interpolated (log domain, linear in Bark) to the 1024 bins, raised to the ATH and
   clamped to FLOOR_REL * full_scale^2.

Units: noise variance per orthonormal-MDCT coefficient, in PCM units squared of ``x`` as given.  Scaling ``x``
by g scales the threshold by g^2 wherever the ATH is not the limit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit

from .spectrum import CHUNK, HOP, NBINS, SHORT, as_2d, bin_frequencies, fft_frames, frame_blocks, windows

__all__ = ["absolute_threshold", "masking_threshold", "psd_to_bands"]

NOISE_OFFSET_DB = 5.5        # Johnston 1988: noise masking tone
TONE_OFFSET_DB = 14.5        # Johnston 1988: tone masking noise, + z (Bark)
SFM_TONAL_DB = -60.0         # Johnston 1988: SFM of a pure tone (alpha = min(SFM / -60 dB, 1))
SFM_HALF_BARK = 0.5          # SFM window: +-0.5 Bark around a partition, widened to >= SFM_MIN_BINS bins
SFM_MIN_BINS = 8
SPREAD_MIN_DB = -60.0        # ISO 11172-3 Annex D: spreading function set to 0 below -60 dB
FORWARD_DB_PER_MS = 0.25     # frame-to-frame carry-over: ~6 dB per 23 ms hop at 44.1 kHz (light post-masking)
SUBBLOCK_DB_PER_MS = 1.0     # within-frame post-masking of a quiet sub-block by a louder one before it
BMLD_MARGIN_DB = 3.0         # allowed excess of a channel's threshold over its fully correlated partner's
ATH_CAP_DB = 120.0           # SPL cap of Terhardt's formula (it diverges at 0 Hz and above 20 kHz)
FLOOR_REL = 1e-12            # output floor: 1e-12 full_scale^2 (~1e-3 LSB^2 at 16 bits), never reached above ATH
_TINY = 1e-300
_LN10_10 = np.log(10.0) / 10.0  # dB -> natural log


def _bark(f):
    """Critical-band rate z(f) in Bark (Zwicker & Terhardt 1980, JASA 68(5), eq. 1)."""
    return 13.0 * np.arctan(7.6e-4 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


def _ath_db(f):
    """Terhardt's absolute threshold (dB SPL, f in Hz), capped at ATH_CAP_DB (Painter & Spanias eq. 1)."""
    k = np.maximum(f, 1.0) / 1000.0
    db = 3.64 * k ** -0.8 - 6.5 * np.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * np.minimum(k, 60.0) ** 4
    return np.minimum(db, ATH_CAP_DB)


@lru_cache(maxsize=16)
def _tables(samplerate: int):
    """Partitions, spreading matrix, interpolation, ATH shape and pre-echo regions for one rate."""
    fs = float(samplerate)
    fk = bin_frequencies(samplerate)
    zk = _bark(fk)
    _, pid = np.unique(np.floor(3.0 * zk).astype(np.int64), return_inverse=True)   # 1/3-Bark partitions
    starts = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    width = np.bincount(pid).astype(float)
    zc = np.bincount(pid, zk) / width
    dz = zc[:, None] - zc[None, :]                      # maskee - masker
    sf_db = 15.81 + 7.5 * (dz + 0.474) - 17.5 * np.sqrt(1.0 + (dz + 0.474) ** 2)   # Schroeder et al. 1979
    spread = np.where(sf_db >= SPREAD_MIN_DB, 10.0 ** (sf_db / 10.0), 0.0)
    spread_t = np.ascontiguousarray(spread.T)          # rows @ spread_t == spread @ rows
    spread_bw = spread @ width
    n = len(zc)
    i1 = np.clip(np.searchsorted(zc, zk, side="right"), 1, max(n - 1, 1))
    i0 = i1 - 1 if n > 1 else np.zeros_like(i1)
    i1 = np.minimum(i1, n - 1)
    den = zc[i1] - zc[i0]
    frac = np.clip((zk - zc[i0]) / np.where(den > 0, den, 1.0), 0.0, 1.0)
    # ATH as the per-coefficient variance of noise filling one critical band at ATH(f), for full_scale = 1:
    # a tone of amplitude a has M a^2 / 2 MDCT energy; over CBW / (fs / 2M) bins -> a^2 fs / (4 CBW).
    cbw = 25.0 + 75.0 * (1.0 + 1.4 * (fk / 1000.0) ** 2) ** 0.69
    ath_unit = fs / (4.0 * cbw) * 10.0 ** (_ath_db(fk) / 10.0)
    # pre-echo regions: 3-Bark groups of the 128 short bins, long bin k in the region of short bin k // 8
    zs = _bark((np.arange(NBINS // 8) + 0.5) * fs / (NBINS // 4))
    _, rid = np.unique(np.floor(zs / 3.0).astype(np.int64), return_inverse=True)
    sstarts = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
    nshort = np.bincount(rid).astype(float)
    part_region = rid[(starts + width.astype(np.int64) // 2) // 8]
    # SFM windows: partitions whose centre lies within +-h Bark, h >= SFM_HALF_BARK and >= SFM_MIN_BINS bins
    dist = np.abs(zc[:, None] - zc[None, :])
    win = np.zeros((n, n))
    for p in range(n):
        for h in np.r_[SFM_HALF_BARK:30.0:0.1]:
            near = dist[p] <= h + 1e-9
            if width[near].sum() >= min(SFM_MIN_BINS, NBINS):
                break
        win[near, p] = 1.0
    out = dict(sfm_win=win, sfm_bins=width @ win, pid=pid.astype(np.int64),
               bin_region=np.repeat(rid, 8).astype(np.int64), short_region=rid.astype(np.int64), starts=starts,
               zc=zc, spread_t=spread_t, spread_bw=spread_bw, i0=i0, i1=i1, frac=frac,
               ath_unit=ath_unit, sstarts=sstarts, nshort=nshort, part_region=part_region,
               tone_db=TONE_OFFSET_DB + zc)
    for v in out.values():
        v.flags.writeable = False
    return out


@njit(cache=True, fastmath=True)
def _partition_stats(spec, pid, npart, rid, nreg, pa, pb):
    """Per frame t of spec[2:]: partition energies, energy-weighted unpredictability, sums of ln power, pair
    cross terms (all on MDCT bins, each the mean of FFT bins k and k + 1) and long-frame region energies.
    fastmath: no NaN or inf can arise, every division is guarded."""
    nt, nc, nj = spec.shape[0] - 2, spec.shape[1], spec.shape[2]
    e = np.zeros((nt, nc, npart))
    ec = np.zeros((nt, nc, npart))
    lg = np.zeros((nt, nc, npart))
    d = np.zeros((nt, nc, nreg))
    cross = np.zeros((nt, len(pa), npart))
    pw = np.empty(nj)
    pwc = np.empty(nj)
    mag = np.empty((nt + 2, nc, nj))
    for t in range(nt + 2):
        for c in range(nc):
            for j in range(nj):
                a0, b0 = np.float64(spec[t, c, j].real), np.float64(spec[t, c, j].imag)
                mag[t, c, j] = np.sqrt(a0 * a0 + b0 * b0)
    for t in range(nt):
        for c in range(nc):
            for j in range(nj):
                a0, b0 = np.float64(spec[t + 2, c, j].real), np.float64(spec[t + 2, c, j].imag)
                a1, b1 = np.float64(spec[t + 1, c, j].real), np.float64(spec[t + 1, c, j].imag)
                a2, b2 = np.float64(spec[t, c, j].real), np.float64(spec[t, c, j].imag)
                r0, r1, r2 = mag[t + 2, c, j], mag[t + 1, c, j], mag[t, c, j]
                # ISO 11172-3 Annex D: magnitude 2 r1 - r2 and phase 2 phi1 - phi2 predicted from the two
                # previous frames; X1^2 conj(X2) / (r1^2 r2) is the unit phasor of that phase
                rp = 2.0 * r1 - r2
                pre = 0.0
                pim = 0.0
                if r1 > 0.0 and r2 > 0.0:
                    g = rp / (r1 * r1 * r2)
                    sr, si = a1 * a1 - b1 * b1, 2.0 * a1 * b1
                    pre = g * (sr * a2 + si * b2)
                    pim = g * (si * a2 - sr * b2)
                den = r0 + abs(rp)
                cw = 1.0
                if den > 0.0:
                    cw = np.sqrt((a0 - pre) ** 2 + (b0 - pim) ** 2) / den
                pw[j] = r0 * r0
                pwc[j] = r0 * r0 * cw
            # SFM floor 110 dB under the frame's energy: far above float32 rounding, far below any audible
            # structure, and it keeps the geometric mean scale-invariant
            lo = 1e-11 * pw.sum() + 1e-300
            for k in range(nj - 1):
                p = 0.5 * (pw[k] + pw[k + 1])
                e[t, c, pid[k]] += p
                ec[t, c, pid[k]] += 0.5 * (pwc[k] + pwc[k + 1])
                lg[t, c, pid[k]] += np.log(max(p, lo))
                d[t, c, rid[k]] += p
        for q in range(len(pa)):
            xa, xb = spec[t + 2, pa[q]], spec[t + 2, pb[q]]
            prev = np.float64(xa[0].real) * xb[0].real + np.float64(xa[0].imag) * xb[0].imag
            for k in range(nj - 1):
                cur = np.float64(xa[k + 1].real) * xb[k + 1].real + np.float64(xa[k + 1].imag) * xb[k + 1].imag
                cross[t, q, pid[k]] += 0.5 * (prev + cur)
                prev = cur
    return e, ec, lg, cross, d


@njit(cache=True, fastmath=True)
def _expand(ln_thr, i0, i1, frac, ath, pa, pb, bmld, pid, out):
    """Partitions -> bins (log-linear in Bark), max with the ATH (already >= the floor), pair guard; writes
    out (F, C, K).  The guard cannot go below the floor: every cap is >= BMLD_MARGIN_DB > 0 dB."""
    nt, nc, nk = out.shape
    for t in range(nt):
        for c in range(nc):
            lt = ln_thr[t, c]
            o = out[t, c]
            for k in range(nk):
                o[k] = max(np.exp(lt[i0[k]] + frac[k] * (lt[i1[k]] - lt[i0[k]])), ath[k])
        for q in range(len(pa)):
            oa, ob, cap = out[t, pa[q]], out[t, pb[q]], bmld[t, q]
            for k in range(nk):
                va, vb, g = oa[k], ob[k], cap[pid[k]]
                oa[k] = min(va, vb * g)
                ob[k] = min(vb, va * g)


@njit(cache=True, fastmath=True)
def _region_energy(spec, rid, out):
    """out[j, c, r] = sum over the short MDCT bins k of region r of the mean power of FFT bins k, k + 1."""
    out[:] = 0.0
    for j in range(spec.shape[0]):
        for c in range(spec.shape[1]):
            prev = np.float64(spec[j, c, 0].real) ** 2 + np.float64(spec[j, c, 0].imag) ** 2
            for k in range(spec.shape[2] - 1):
                cur = np.float64(spec[j, c, k + 1].real) ** 2 + np.float64(spec[j, c, k + 1].imag) ** 2
                out[j, c, rid[k]] += 0.5 * (prev + cur)
                prev = cur


def _subblock_log_energy(blocks, length, samplerate, tab):
    """ln of the short-spectrum region densities of every 256-sample sub-block, forward-masked, (J, C, R)."""
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    short_w = windows()[1]
    sub = blocks.reshape(blocks.shape[0], blocks.shape[1], HOP // SHORT, SHORT).transpose(0, 2, 1, 3)
    sub = sub.reshape(-1, blocks.shape[1], SHORT)
    nsub = sub.shape[0]
    out = np.empty((nsub, blocks.shape[1], len(tab["nshort"])))
    step = CHUNK * 8
    for j0 in range(0, nsub, step):
        spec = _fft.rfft(sub[j0:j0 + step] * short_w.astype(np.float32), axis=-1, workers=1, overwrite_x=True)
        _region_energy(spec, tab["short_region"], out[j0:j0 + step])
    out /= tab["nshort"]
    # sub-block j covers x[256 j - 3 HOP, ...): weight of its window on real samples; ignore near-empty ones
    start = np.arange(nsub) * SHORT - 3 * HOP
    cw = np.r_[0.0, np.cumsum(short_w ** 2)]
    valid = cw[np.clip(length - start, 0, SHORT)] - cw[np.clip(-start, 0, SHORT)]
    ok = valid >= 0.05
    out[ok] /= valid[ok, None, None]
    ln = np.log(out + _TINY)
    decay = SUBBLOCK_DB_PER_MS * 1000.0 * SHORT / samplerate * _LN10_10 * np.arange(nsub)[:, None, None]
    ln = np.maximum.accumulate(ln + decay, axis=0) - decay
    ln[~ok] = np.inf
    return ln


def absolute_threshold(samplerate: int, full_scale: float, *, spl_full_scale: float = 96.0) -> np.ndarray:
    """Step 6 alone: the threshold in quiet per MDCT bin (1024,), in the units of :func:`masking_threshold`
    (which is never below it), clamped to the output floor."""
    ath = _tables(int(samplerate))["ath_unit"] * full_scale ** 2 * 10.0 ** (-spl_full_scale / 10.0)
    return np.maximum(ath, FLOOR_REL * full_scale ** 2)


def masking_threshold(x, samplerate: int, full_scale: float, *, spl_full_scale: float = 96.0,
                      pairs=None) -> np.ndarray:
    """Just-masked noise variance per MDCT coefficient, float64 (F, C, 1024), F = ceil(L / 1024) + 1.

    ``x``: float (L, C) (1-D = mono) in PCM units; ``full_scale``: amplitude of a full-scale sine in those
    units (32768 for 16-bit integers, 1.0 for float audio), assumed to play at ``spl_full_scale`` dB SPL.
    Frame t spans samples [(t - 1) 1024, (t + 1) 1024) (zeros outside the block) like the codec's MDCT; bin k
    is centred at (k + 1/2) samplerate / 2048 Hz.  Values are in the orthonormal MDCT's units (white noise of
    variance s^2 has coefficient variance s^2), so a band's step size follows directly.  ``pairs``: channel
    pairs guarded against binaural unmasking (default (0, 1), (2, 3), ...; ``()`` for none).
    """
    from ...kernels import warmup

    warmup.ensure("perceptual-encode")
    x = as_2d(x)
    if not 8000 <= samplerate <= 192000:
        raise ValueError(f"samplerate must be 8000..192000, got {samplerate}")
    if not full_scale > 0:
        raise ValueError(f"full_scale must be positive, got {full_scale}")
    chans = x.shape[1]
    pairs = [(c, c + 1) for c in range(0, chans - 1, 2)] if pairs is None else [tuple(p) for p in pairs]
    tab = _tables(int(samplerate))
    blocks, nframes = frame_blocks(x)
    npart = len(tab["zc"])

    pa = np.array([p[0] for p in pairs], dtype=np.int64)
    pb = np.array([p[1] for p in pairs], dtype=np.int64)
    if len(pairs) and (min(pa.min(), pb.min()) < 0 or max(pa.max(), pb.max()) >= chans or np.any(pa == pb)):
        raise ValueError(f"pairs must be pairs of distinct channels of 0..{chans - 1}, got {pairs}")

    # steps 1-3: per-frame partition analysis, in chunks so the complex spectra stay small
    e = np.empty((nframes, chans, npart))
    ec = np.empty_like(e)
    lg = np.empty_like(e)
    cross = np.empty((nframes, len(pairs), npart))
    d_long = np.empty((nframes, chans, len(tab["nshort"])))
    for t0 in range(0, nframes, CHUNK):
        t1 = min(t0 + CHUNK, nframes)
        spec = fft_frames(blocks, t0, t1)
        e[t0:t1], ec[t0:t1], lg[t0:t1], cross[t0:t1], d_long[t0:t1] = _partition_stats(
            spec, tab["pid"], npart, tab["bin_region"], len(tab["nshort"]), pa, pb)
    d_long /= 8.0 * tab["nshort"]
    ecb = e @ tab["spread_t"]
    cb = (ec @ tab["spread_t"]) / np.where(ecb > 0, ecb, 1.0)
    cb[ecb <= 0] = 1.0
    tonality = np.clip(-0.299 - 0.43 * np.log(np.maximum(cb, _TINY)), 0.0, 1.0)
    # Johnston's SFM over ~1 Bark around each partition: vibrato defeats the phase prediction above, a peaky
    # spectrum still reveals the partials; a component is as tonal as the stronger of the two estimates says
    win, nwin = tab["sfm_win"], tab["sfm_bins"]
    sfm_db = 10.0 / np.log(10.0) * (lg @ win / nwin - np.log(e @ win / nwin + _TINY))
    tonality = np.maximum(tonality, np.clip(sfm_db / SFM_TONAL_DB, 0.0, 1.0))
    offset_db = tonality * tab["tone_db"] + (1.0 - tonality) * NOISE_OFFSET_DB
    ln_thr = np.log(ecb / tab["spread_bw"] + _TINY) - offset_db * _LN10_10

    # step 4: forward masking, thr[t] >= thr[t - i] - i * decay (max-accumulate in the log domain)
    decay = FORWARD_DB_PER_MS * 1000.0 * HOP / samplerate * _LN10_10 * np.arange(nframes)[:, None, None]
    ln_thr = np.maximum.accumulate(ln_thr + decay, axis=0) - decay

    # step 5: pre-echo, min over the 8 sub-blocks of frame t (sub-blocks 4 (t + 2) .. + 7)
    ln_sub = _subblock_log_energy(blocks, x.shape[0], samplerate, tab)
    w2 = windows()[2]
    idx = 4 * (np.arange(nframes)[:, None] + 2) + np.arange(8)
    quiet = (ln_sub[idx] - np.log(w2)[None, :, None, None]).min(axis=1)
    ratio = np.minimum(quiet - np.log(d_long + _TINY), 0.0)
    ratio[d_long <= 0] = 0.0
    ln_thr += ratio[..., tab["part_region"]]

    # step 7 (partition level): in-phase correlation of each pair -> allowed excess over the partner
    rho = 2.0 * np.abs(cross @ tab["spread_t"]) / np.maximum(ecb[:, pa] + ecb[:, pb], _TINY)
    bmld = 10.0 ** (BMLD_MARGIN_DB / 10.0) / np.maximum(rho, 1e-3) ** 2

    # steps 6-8: to bins, ATH, stereo guard, floor
    ath = absolute_threshold(samplerate, full_scale, spl_full_scale=spl_full_scale)
    out = np.empty((nframes, chans, NBINS))
    _expand(ln_thr, tab["i0"], tab["i1"], tab["frac"], ath, pa, pb, bmld, tab["pid"], out)
    return out


def psd_to_bands(psd_row, edges, short: bool) -> np.ndarray:
    """Allowed noise per coefficient of each band, (..., nb), from a threshold PSD (..., 1024).

    ``edges``: int band edges (nb + 1, strictly increasing) on the 1024 long bins, or on the 128 short bins
    when ``short`` (short bin k spans long bins 8k .. 8k + 7; the orthonormal short MDCT has the same
    per-coefficient noise units).  A band's quantisation noise is flat across its coefficients (one step size),
    so it must stay under the threshold everywhere in the band: the band MINIMUM is returned, not the mean.
    """
    psd = np.asarray(psd_row, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64)
    n = NBINS // 8 if short else NBINS
    if psd.shape[-1] != NBINS:
        raise ValueError(f"psd_row must end with {NBINS} bins, got shape {psd.shape}")
    if edges.ndim != 1 or len(edges) < 2 or edges[0] < 0 or edges[-1] > n or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be strictly increasing within 0..{n}")
    long_edges = edges * 8 if short else edges
    return np.minimum.reduceat(psd[..., :long_edges[-1]], long_edges[:-1], axis=-1)
