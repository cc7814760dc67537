"""Residual attribution per time-frequency tile: how the residual follows a remix.

The residual ``R = M - sum(S'_k)`` holds the stems' coding noise and whatever the mastering
added.  A remix that mutes the vocals must mute the vocals' coding noise too, and that noise sits
where the vocals are, in time and frequency.  So the residual is split like the stems: in every
tile ``(t, f)`` of a short-time Fourier transform (:mod:`snc.stft`, ~46 ms frames, 50 % overlap)
its gain is the stems' gains weighted by their power in that tile (spec ``snc-format.md``
section 19, rule ``tiles``)::

    g_R(t, f) = sum_k g_k P_k(t, f) / sum_k P_k(t, f),   P_k = sum over channels |S'_k(t, f)|^2

and the global rule's ``g_R`` (mean square weights over the whole file) where no stem has power.
With every gain 1, ``g_R = 1`` everywhere and the inverse transform gives the residual back (to
float rounding): the remix of all-0 dB gains is the mix.

It is no cure-all: a stem's coding noise is shaped by the mix's masking threshold, so much of it
sits in tiles another stem dominates, where it stays (masked there by that stem).  Measured on
midi_openmsx_5432gone (true stems, transparent preset), the muted stem's coding noise left in the
output, re the stem: other -28.6 dB (global rule -22.7), bass -25.1 (-23.7), drums -25.0 (-22.2),
vocals -28.9 (-34.3: the vocals are 75 % of the energy, so the global rule's g_R is only 0.25).
"""

from __future__ import annotations

import numpy as _np

from .. import stft as _stft

#: frame length (seconds), rounded to a power of two in samples: 2048 at 44.1 kHz
FRAME_SECONDS = 0.046
OVERLAP = 2


def frame_size(samplerate: int) -> int:
    return int(2 ** round(_np.log2(FRAME_SECONDS * samplerate)))


def hop_size(samplerate: int) -> int:
    return frame_size(samplerate) // OVERLAP


def attributed_residual(stems: list[_np.ndarray], residual: _np.ndarray, gains: list[float],
                        fallback_gain: float, samplerate: int) -> _np.ndarray:
    """The residual with per-tile gains (float64, same shape).  ``stems`` are the decoded stems
    over the same span (float64), ``gains`` their linear gains, ``fallback_gain`` the global rule's
    residual gain (used in tiles where no stem has power).  The span should start on a multiple of
    :func:`hop_size` from the file's start, so its tiles are the whole file's."""
    nfft = frame_size(samplerate)
    spec_r = _stft.stft(residual, nfft, OVERLAP)
    weighted = _np.zeros(spec_r.shape[1:])
    total = _np.zeros(spec_r.shape[1:])
    for stem, g in zip(stems, gains):
        spec = _stft.stft(stem, nfft, OVERLAP)
        power = (spec.real ** 2 + spec.imag ** 2).sum(axis=0)
        total += power
        if g != 0.0:
            weighted += g * power
    # relative floor: a tile is "silent" when the stems' power there is negligible next to the loudest tile
    floor = 1e-20 * max(float(total.max()), 1e-300)
    gain = _np.where(total > floor, weighted / _np.maximum(total, floor), fallback_gain)
    return _stft.istft(spec_r * gain, nfft, residual.shape[0], OVERLAP)
