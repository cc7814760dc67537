"""Perceptual noise substitution (PNS) of the ``perceptual`` codec's encoder.

Like libavcodec's PNS search in ``aaccoder.c``: which bands of a LONG frame are sent as their energy
only, for the decoder to fill with noise of that power (spec codec-perceptual.md 4.1).  A band qualifies
when it is high (:data:`~.tables.NOISE_SUBSTITUTION`), its budget would code it at a low SNR, it sounds
like noise (:data:`~.tables.NOISE_PEAKINESS`) and the frame's high band is steady
(:data:`~.tables.NOISE_FLATNESS`, :func:`steady_highs`).
"""

from __future__ import annotations

import numpy as _np

from .tables import EDGES_LONG, NOISE_FLATNESS, NOISE_PEAKINESS, band_power, kernels


def substitute(coefs: _np.ndarray, band_budget: _np.ndarray, *, samplerate: int, noise_substitution,
               noise_fill: bool):
    """Noise substitution of LONG spectra ``coefs`` (F, 1024) with band budgets (F, 50): ``(level, chosen)``,
    the noise level (a scale factor whose step is the band's RMS: ``+-step`` values carry its power) and
    which bands become noise bands.  ``noise_substitution``: ``(lowest Hz, highest SNR dB)`` or None (off);
    ``noise_fill``: also bands the budget drops whole (energy below it)."""
    _, pk = kernels()
    energy = band_power(coefs * coefs, EDGES_LONG)
    level = _np.clip(_np.round(2.0 * _np.log2(_np.maximum(energy, 1e-300))), pk.SF_MIN, pk.SF_MAX).astype(_np.int64)
    if noise_substitution is None:
        return level, _np.zeros(energy.shape, dtype=bool)
    lowest_hz, max_snr_db = noise_substitution
    high = EDGES_LONG[:-1] * (0.5 * samplerate / 1024.0) >= lowest_hz
    # only bands the budget would code: one below it is dropped as before (its noise is inaudible, and
    # the residual of a mix coded alone, whose budget is infinite, must stay empty) -- unless noise_fill
    lowest_energy = 0.0 if noise_fill else band_budget
    chosen = high & (energy > lowest_energy) & (energy < band_budget * 10.0 ** (max_snr_db / 10.0))
    power = coefs * coefs
    smooth = power.copy()
    smooth[1:] += power[:-1]
    smooth[:-1] += power[1:]
    peak = _np.maximum.reduceat(smooth, EDGES_LONG[:-1], axis=-1)
    chosen &= peak <= NOISE_PEAKINESS * band_power(smooth, EDGES_LONG)
    return level, chosen


def steady_highs(block: _np.ndarray) -> _np.ndarray:
    """Frames (bool ``(F,)``) whose high band is steady in every channel (:data:`~.tables.NOISE_FLATNESS`)."""
    mdct, _ = kernels()
    x = _np.asarray(block, dtype=_np.float64)
    frames = x.shape[0]
    nf = mdct.n_frames(frames)
    hop = mdct.HOP
    sub = hop // 8
    d = _np.zeros(((nf + 1) * hop, x.shape[1]))
    if frames >= 3:  # frame t's window covers samples hop (t - 1) .. hop (t + 1): pad one hop in front
        d[hop + 2 : hop + frames] = x[2:] - 2.0 * x[1:-1] + x[:-2]
    energy = _np.einsum("bnc,bnc->bc", d.reshape(-1, sub, x.shape[1]), d.reshape(-1, sub, x.shape[1]))
    windows = _np.lib.stride_tricks.sliding_window_view(energy, 16, axis=0)[::8][:nf]  # (F, C, 16)
    peak, mean = windows.max(axis=-1), windows.mean(axis=-1)
    return (peak <= NOISE_FLATNESS * mean).all(axis=-1)
