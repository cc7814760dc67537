"""The quantiser of the ``perceptual`` codec: per-band scale factors that meet a noise budget.

Like libavcodec's ``aacenc_quantization.h`` / ``aaccoder.c``: the decoder's step for a scale factor
(:func:`step_size`, spec codec-perceptual.md 4), the rate-distortion-aware rounding
(:func:`quantise_magnitude`), the search for the coarsest step per band whose measured noise meets the
band's budget (:func:`quantise_bands`), and the eight short blocks of a SHORT frame quantised with one shared
scale factor per band (:func:`quantise_short`).
"""

from __future__ import annotations

import numpy as _np

from .tables import EDGES_SHORT, INACTIVE, NOISE_TOLERANCE, REFINE_PASSES, ROUNDING, band_power, kernels


def quantise_magnitude(a: _np.ndarray, rounding=ROUNDING) -> _np.ndarray:
    """Quantised magnitudes (float, integral) of ``a = |c| / step`` (see :data:`~.tables.ROUNDING`)."""
    below_one, above = rounding
    return _np.floor(a + _np.where(a < 1.0, below_one, above))


def step_size(sf: _np.ndarray) -> _np.ndarray:
    """The decoder's step for scale factor ``sf``: ``MANT[sf & 3] * 2^((sf >> 2) - 30)`` exactly."""
    _, pk = kernels()
    sf = _np.asarray(sf, dtype=_np.int64)
    return pk.MANT[sf & 3].astype(_np.float64) * _np.exp2((sf >> 2) - 30)


def quantise_bands(coefs: _np.ndarray, noise: _np.ndarray, edges: _np.ndarray, rounding=ROUNDING,
             drop_db: float = 0.0):
    """Scale factors and quantised values for spectra ``coefs`` (..., n) with the per-band
    noise budgets ``noise`` (..., nbands), refined until the measured noise meets the budget.

    Returns ``(sf (..., nbands) int64, q (..., n) int64, sf_floor (..., nbands))``; a band whose
    energy is not more than ``drop_db`` above its budget (:attr:`EncoderSettings.drop_db`) is left at
    zero (its sf is then :data:`~.tables.INACTIVE`); ``sf_floor`` is the smallest scale factor that keeps
    every ``|q|`` inside the entropy coder's range."""
    _, pk = kernels()
    widths = _np.diff(edges)
    energy = band_power(coefs * coefs, edges)
    target = _np.maximum(noise, 1e-12)
    sf = _np.floor(4.0 * _np.log2(_np.sqrt(12.0 * target))).astype(_np.int64)
    # the largest quantised magnitude must stay inside the entropy coder's range
    peak = _np.maximum.reduceat(_np.abs(coefs), edges[:-1], axis=-1)
    sf_floor = _np.ceil(4.0 * _np.log2(_np.maximum(peak, 1e-30) / pk.Q_LIMIT)).astype(_np.int64) + 1
    sf = _np.clip(_np.maximum(sf, sf_floor), pk.SF_MIN, pk.SF_MAX)
    active = energy > target * 10.0 ** (drop_db / 10.0)
    allowed = target * NOISE_TOLERANCE

    def trial(sf):
        step = _np.repeat(step_size(sf), widths, axis=-1)
        a = _np.abs(coefs) / step
        q = quantise_magnitude(a, rounding)
        err = (a - q) * step
        return q, band_power(err * err, edges)

    q, got = trial(sf)
    for _ in range(REFINE_PASSES):  # finer where the noise is over
        worse = active & (got > allowed) & (sf > _np.maximum(sf_floor, pk.SF_MIN))
        if not worse.any():
            break
        sf = sf - worse
        q, got = trial(sf)
    for _ in range(REFINE_PASSES):  # coarser where the next step still fits
        up = _np.minimum(sf + 1, pk.SF_MAX)
        q_up, got_up = trial(up)
        fits = active & (got <= allowed) & (got_up <= allowed) & (up > sf)
        if not fits.any():
            break
        sf = _np.where(fits, up, sf)
        q = _np.where(_np.repeat(fits, widths, axis=-1), q_up, q)
        got = _np.where(fits, got_up, got)
    q = (_np.sign(coefs) * q).astype(_np.int64)
    q *= _np.repeat(active, widths, axis=-1)
    return _np.where(active, sf, INACTIVE), q, sf_floor


def quantise_short(blocks: _np.ndarray, budget: _np.ndarray, rounding=ROUNDING, drop_db: float = 0.0):
    """The eight short blocks of SHORT frames, ``blocks`` (Fs, 8, 128), with one noise budget per band and
    frame ``budget`` (Fs, nbands_short): ``(sf (Fs, nbands_short), q (Fs, 8, 128))``.  The blocks share one
    scale factor per band: the finest one, but not so fine that the loudest block's values leave the coder's
    range; then every block is requantised with it."""
    bud = budget[:, None, :]
    s, _, floor = quantise_bands(blocks, _np.broadcast_to(bud, blocks.shape[:2] + bud.shape[2:]), EDGES_SHORT,
                           rounding, drop_db)
    active = (s != INACTIVE).any(axis=1)
    s = _np.where(active, _np.maximum(s.min(axis=1), floor.max(axis=1)), INACTIVE)
    return s, requantise(blocks, s, rounding)


def requantise(blocks: _np.ndarray, sf: _np.ndarray, rounding=ROUNDING) -> _np.ndarray:
    """Quantise short blocks (Fs, 8, 128) with per-band scale factors (Fs, nbands_short) shared by the 8 blocks."""
    widths = _np.diff(EDGES_SHORT)
    active = sf != INACTIVE
    step = _np.repeat(step_size(_np.where(active, sf, 0)), widths, axis=-1)[:, None, :]
    q = _np.sign(blocks) * quantise_magnitude(_np.abs(blocks) / step, rounding)
    return (q * _np.repeat(active, widths, axis=-1)[:, None, :]).astype(_np.int64)
