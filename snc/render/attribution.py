"""Residual attribution per time-frequency tile: how the residual follows a remix.

The residual ``R = M - sum(S'_k)`` holds the stems' coding noise and whatever the mastering
added.  A remix that mutes the vocals must mute the vocals' coding noise too, and that noise sits
where the vocals are, in time and frequency.  So the residual is split like the stems: in every
tile ``(t, f)`` of a short-time Fourier transform (:mod:`snc.signal.stft`, ~46 ms frames, 50 % overlap)
its gain is the stems' gains weighted by their power in that tile, but never more than the global
rule's gain (spec ``snc-format.md`` section 19.1, rule ``tiles``)::

    g_R(t, f) = min(sum_k g_k P_k(t, f) / sum_k P_k(t, f), g_global),   P_k = sum over channels |S'_k(t, f)|^2

and ``g_global`` (mean square weights over the whole file) where no stem has power.  Why the minimum:
the residual is mostly coding noise, and two estimates of how much of it belongs to the stems kept
(their share in this tile, their share of the file) are both rough -- a stem's noise is shaped by the
mix's masking threshold, so it also sits in tiles another stem dominates.  Taking the smaller one
never amplifies noise more than either supports; with every gain equal it is that gain, so all-0 dB
still gives the mix.  The price: a residual that is real signal (a mastering chain's effect, not
noise) is held to the global gain where a kept stem dominates; the ``share`` rule (the tile share
alone) follows such a residual better and removes less of a muted stem's noise.
With every gain 1, ``g_R = 1`` everywhere and the inverse transform gives the residual back (to
float rounding): the remix of all-0 dB gains is the mix.

The rules' measured effect (the muted lead's coding noise left in a karaoke render) is in
docs/tuning.md ("Render"), with the bench command that reproduces it.
"""

from __future__ import annotations

import numpy as _np

from ..signal import stft as _stft

#: frame length (seconds), rounded to a power of two in samples: 2048 at 44.1 kHz
FRAME_SECONDS = 0.046
OVERLAP = 2


def frame_size(samplerate: int) -> int:
    # at least 2 * OVERLAP samples: a hop of zero would never advance at absurdly low rates
    return max(int(2 ** round(_np.log2(FRAME_SECONDS * samplerate))), 2 * OVERLAP)


def hop_size(samplerate: int) -> int:
    return frame_size(samplerate) // OVERLAP


def attributed_residual(stems: list[_np.ndarray], residual: _np.ndarray, gains: list[float],
                        fallback_gain: float, samplerate: int, ceiling: bool = True) -> _np.ndarray:
    """The residual with per-tile gains (float64, same shape).  ``stems`` are the decoded stems
    over the same span (float64), ``gains`` their linear gains, ``fallback_gain`` the global rule's
    residual gain (the gain where no stem has power, and with ``ceiling`` -- the ``tiles`` rule --
    the ceiling of every tile's gain; without it, the ``share`` rule).  The span should start on a multiple of
    :func:`hop_size` from the file's start, so its tiles are the whole file's."""
    tiles = Tiles(stems, residual, samplerate)
    return tiles.residual(0, residual.shape[0], gains, fallback_gain, ceiling)


class Tiles:
    """The gain-independent part of the rule over one span: the residual's spectra and the stems'
    power per tile.  :meth:`residual` then gives any stretch of the attributed residual for any
    gains, transforming back only the frames that overlap it: a player changes gains every block
    without analysing the span again, and gets what :func:`attributed_residual` of the whole span
    gives (the same operations in the same order)."""

    def __init__(self, stems: list[_np.ndarray], residual: _np.ndarray, samplerate: int):
        self.nfft = frame_size(samplerate)
        self.window = _stft.window(self.nfft, OVERLAP)
        self.length = residual.shape[0]
        self.spec_r = _stft.stft(residual, self.nfft, OVERLAP)
        self.powers = []
        self.total = _np.zeros(self.spec_r.shape[1:])
        for stem in stems:
            spec = _stft.stft(stem, self.nfft, OVERLAP)
            power = (spec.real ** 2 + spec.imag ** 2).sum(axis=0)
            self.total += power
            self.powers.append(power)
        # relative floor: a tile is "silent" when the stems' power there is negligible next to the loudest tile
        self.floor = 1e-20 * max(float(self.total.max()), 1e-300) if self.total.size else 1e-300

    def gain(self, frames: slice, gains: list[float], fallback_gain: float, ceiling: bool) -> _np.ndarray:
        """The residual's gain in the tiles of STFT ``frames``."""
        total = self.total[frames]
        weighted = _np.zeros(total.shape)
        for power, g in zip(self.powers, gains):
            if g != 0.0:
                weighted += g * power[frames]
        share = _np.where(total > self.floor, weighted / _np.maximum(total, self.floor), fallback_gain)
        return _np.minimum(share, fallback_gain) if ceiling else share

    def residual(self, start: int, stop: int, gains: list[float], fallback_gain: float,
                 ceiling: bool = True) -> _np.ndarray:
        """Samples ``[start, stop)`` of the span's attributed residual, ``(stop - start, channels)``."""
        if start == 0 and stop == self.length:
            gain = self.gain(slice(None), gains, fallback_gain, ceiling)
            return _stft.istft(self.spec_r * gain, self.nfft, self.length, OVERLAP)
        nfft, hop = self.nfft, self.nfft // OVERLAP
        count = self.spec_r.shape[1]
        # hop-blocks [b0, b1) of the zero-padded signal hold the samples; frame j lands on blocks j .. j+OVERLAP-1
        b0, b1 = (start + nfft // 2) // hop, -(-(stop + nfft // 2) // hop)
        j0, j1 = max(b0 - OVERLAP + 1, 0), min(b1, count)
        gain = self.gain(slice(j0, j1), gains, fallback_gain, ceiling)
        win = self.window
        blocks = (_fft().irfft(self.spec_r[:, j0:j1] * gain, n=nfft, axis=-1) * win).reshape(
            self.spec_r.shape[0], j1 - j0, OVERLAP, hop)
        out = _np.zeros((self.spec_r.shape[0], b1 - b0, hop))
        norm = _np.zeros((b1 - b0, hop))
        squared = (win * win).reshape(OVERLAP, hop)
        for q in range(OVERLAP):  # the order of istft's overlap-add, so the sums round alike
            lo, hi = max(j0, b0 - q), min(j1, b1 - q)
            if hi > lo:
                out[:, lo + q - b0: hi + q - b0] += blocks[:, lo - j0: hi - j0, q]
                norm[lo + q - b0: hi + q - b0] += squared[q]
        skip = start + nfft // 2 - b0 * hop
        out = out.reshape(out.shape[0], -1)[:, skip: skip + stop - start]
        norm = norm.reshape(-1)[skip: skip + stop - start]
        return (out / _np.maximum(norm, 1e-12)).T


def _fft():
    import scipy.fft

    return scipy.fft
