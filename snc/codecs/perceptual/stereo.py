"""Mid/side stereo of the ``perceptual`` codec's encoder (after libavcodec's ``aacenc_ms``).

Per frame of a stereo stream, the encoder codes ``M = (L + R) / 2`` and ``S = (L - R) / 2`` where that
saves bits by a rough rate estimate (:func:`choose_mid_side`); the decoder's integer inverse is
``L = M + S``, ``R = M - S`` (spec codec-perceptual.md 5).
"""

from __future__ import annotations

import numpy as _np

from .psy import psd_to_bands
from .tables import EDGES_LONG, band_power


def _bits(e: _np.ndarray, n: _np.ndarray, widths: _np.ndarray) -> _np.ndarray:
    """Rough bits of bands of energy ``e`` coded at noise ``n`` (0.5 log2 SNR per coefficient)."""
    return (widths * 0.5 * _np.log2(_np.maximum(e / _np.maximum(n, 1e-12), 1.0))).sum(axis=-1)


def choose_mid_side(spectra: _np.ndarray, noise: _np.ndarray) -> _np.ndarray:
    """Mid/side (1) or left/right (0) per frame of stereo ``spectra`` (F, 2, 1024) with the per-bin noise
    budgets ``noise`` (same shape), where it saves bits by the rough 0.5*log2(SNR) estimate."""
    e = spectra ** 2
    left, right = e[:, 0], e[:, 1]
    mid = (0.25 * (spectra[:, 0] + spectra[:, 1]) ** 2)
    side = (0.25 * (spectra[:, 0] - spectra[:, 1]) ** 2)
    widths = _np.diff(EDGES_LONG)
    bands = lambda p: band_power(p, EDGES_LONG)  # noqa: E731
    nl, nr = psd_to_bands(noise[:, 0], EDGES_LONG, False), psd_to_bands(noise[:, 1], EDGES_LONG, False)
    half = 0.5 * _np.minimum(nl, nr)
    lr = _bits(bands(left), nl, widths) + _bits(bands(right), nr, widths)
    msb = _bits(bands(mid), half, widths) + _bits(bands(side), half, widths)
    return (msb < lr).astype(_np.int64)


def to_mid_side(spectra: _np.ndarray, noise: _np.ndarray, ms: _np.ndarray):
    """The spectra and per-bin budgets the quantiser codes: the frames ``ms == 1`` as mid and side, each with
    half the smaller of the two budgets (``L = M + S``, ``R = M - S``: each output gets both noises)."""
    coded = spectra.copy()
    budget = noise.copy()
    if ms.any():
        left, right = spectra[ms == 1, 0], spectra[ms == 1, 1]
        coded[ms == 1, 0] = 0.5 * (left + right)
        coded[ms == 1, 1] = 0.5 * (left - right)
        half = 0.5 * _np.minimum(noise[ms == 1, 0], noise[ms == 1, 1])
        budget[ms == 1, 0] = half
        budget[ms == 1, 1] = half
    return coded, budget
