"""Dynamics and tone for profiles: a compressor, a true-peak limiter and an equaliser, all streaming.

Each processor takes float blocks ``(frames, channels)`` at full scale 1.0 and keeps its state
between blocks, so a stream cut anywhere gives the same output as the whole signal.
:class:`Chain` strings them together as a profile plays them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as _np

from ..errors import InputError
from ..signal.loudness import interpolated_peaks, interpolator


def check_number(what: str, value, lo: float, hi: float) -> float:
    """``value`` as a float if it is a finite number within ``[lo, hi]``, else an InputError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, got {value!r}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"{what} must be {lo:g}..{hi:g}, got {value!r}")
    return float(value)


def _coef(seconds: float, rate: int) -> float:
    return math.exp(-1.0 / (max(seconds, 1e-6) * rate))


@dataclass(frozen=True)
class CompressorSettings:
    threshold_db: float = -24.0
    ratio: float = 3.0
    knee_db: float = 6.0
    attack_ms: float = 10.0
    release_ms: float = 200.0
    #: gain after compression (dB): profiles set it so loud passages keep their level
    makeup_db: float = 0.0

    #: the range of each field (a profile from a file is checked against them: NaN, inf and absurd values refused)
    RANGES = {"threshold_db": (-100.0, 0.0), "ratio": (1.0, 100.0), "knee_db": (0.0, 48.0),
              "attack_ms": (0.01, 1000.0), "release_ms": (1.0, 10000.0), "makeup_db": (-24.0, 24.0)}

    def check(self) -> None:
        for name, (lo, hi) in self.RANGES.items():
            check_number(f"compressor {name}", getattr(self, name), lo, hi)


class Compressor:
    """Feed-forward, channel-linked (the loudest channel drives one gain, so the image stays put)."""

    def __init__(self, settings: CompressorSettings, samplerate: int):
        settings.check()
        self.s = settings
        self.attack = _coef(settings.attack_ms / 1000.0, samplerate)
        self.release = _coef(settings.release_ms / 1000.0, samplerate)
        self.state = _np.zeros(1)

    def process(self, block: _np.ndarray) -> _np.ndarray:
        from ..kernels.dynamics import compressor_gain_db

        if not len(block):
            return block
        level = 20.0 * _np.log10(_np.maximum(_np.abs(block).max(axis=1), 1e-10))
        gain = compressor_gain_db(level, self.s.threshold_db, self.s.ratio, self.s.knee_db, self.attack,
                                  self.release, self.state)
        return block * (10.0 ** ((gain + self.s.makeup_db) / 20.0))[:, None]


@dataclass(frozen=True)
class EqBand:
    """One biquad of the RBJ Audio EQ Cookbook (R. Bristow-Johnson): ``highpass``, ``lowpass``,
    ``lowshelf``, ``highshelf`` or ``peak``."""

    kind: str
    freq_hz: float
    gain_db: float = 0.0
    q: float = 0.707

    KINDS = ("highpass", "lowpass", "lowshelf", "highshelf", "peak")
    #: the range of each number (the frequency is checked against the audio's rate when rendering)
    RANGES = {"freq_hz": (1.0, 200000.0), "gain_db": (-24.0, 24.0), "q": (0.05, 20.0)}

    def check(self) -> None:
        if self.kind not in self.KINDS:
            raise InputError(f"EQ kind must be one of {self.KINDS}, got {self.kind!r}")
        for name, (lo, hi) in self.RANGES.items():
            check_number(f"EQ {name}", getattr(self, name), lo, hi)

    def sos(self, rate: int) -> _np.ndarray:
        if self.kind not in self.KINDS:
            raise InputError(f"EQ band kind must be one of {self.KINDS}, got {self.kind!r}")
        if not (0.0 < self.freq_hz < rate / 2 and self.q > 0):
            raise InputError(f"EQ band {self.kind} at {self.freq_hz} Hz does not fit {rate} Hz audio")
        a = 10.0 ** (self.gain_db / 40.0)
        w0 = 2.0 * math.pi * self.freq_hz / rate
        cw, sw = math.cos(w0), math.sin(w0)
        alpha = sw / (2.0 * self.q)
        if self.kind == "highpass":
            b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
            den = [1 + alpha, -2 * cw, 1 - alpha]
        elif self.kind == "lowpass":
            b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
            den = [1 + alpha, -2 * cw, 1 - alpha]
        elif self.kind == "peak":
            b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
            den = [1 + alpha / a, -2 * cw, 1 - alpha / a]
        else:
            sq = 2.0 * math.sqrt(a) * alpha
            sign = 1.0 if self.kind == "lowshelf" else -1.0
            b = [a * ((a + 1) - sign * (a - 1) * cw + sq), sign * 2 * a * ((a - 1) - sign * (a + 1) * cw),
                 a * ((a + 1) - sign * (a - 1) * cw - sq)]
            den = [(a + 1) + sign * (a - 1) * cw + sq, -sign * 2 * ((a - 1) + sign * (a + 1) * cw),
                   (a + 1) + sign * (a - 1) * cw - sq]
        return _np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])


class Equalizer:
    """A chain of :class:`EqBand` biquads (scipy's ``sosfilt`` with carried state)."""

    def __init__(self, bands, samplerate: int, channels: int):
        self.sos = _np.concatenate([b.sos(samplerate) for b in bands]) if bands else _np.zeros((0, 6))
        self.zi = _np.zeros((len(self.sos), 2, channels))

    def process(self, block: _np.ndarray) -> _np.ndarray:
        if not len(self.sos) or not len(block):
            return block
        from scipy import (
            signal as _signal,  # imported on use: scipy.signal is slow to import
        )

        out, self.zi = _signal.sosfilt(self.sos, block, axis=0, zi=self.zi)
        return out


class TruePeakLimiter:
    """Keeps the true peak (4x oversampled, BS.1770-4 Annex 2) at or below ``ceiling_dbtp``.

    The gain needed by each sample's oversampled peak is spread over a look-ahead of
    ``lookahead_ms`` (a minimum filter, then a moving average inside it, so the smoothed gain
    is never above what any sample needs) and released exponentially.  The output is delayed
    by :attr:`delay` samples; :meth:`flush` returns the rest at the end of the stream.
    The ceiling is aimed 0.3 dB below the asked one: the gain's own modulation moves the
    interpolated peaks a little.
    """

    MARGIN_DB = 0.3

    def __init__(self, samplerate: int, channels: int, ceiling_dbtp: float = -1.0, lookahead_ms: float = 5.0,
                 release_ms: float = 80.0):
        # an infinite ceiling passes everything through unchanged (delayed): a player's bypass
        self.ceiling = math.inf if ceiling_dbtp == math.inf else 10.0 ** ((ceiling_dbtp - self.MARGIN_DB) / 20.0)
        self.look = max(int(round(lookahead_ms * samplerate / 1000.0)), 2)
        self.half = self.look // 2
        self.delay = self.look + self.half
        self.release = _coef(release_ms / 1000.0, samplerate)
        self.channels = channels
        self._interp = interpolator(4).reshape(-1, 4)  # the meter's 4x polyphase FIR, [tap, phase]
        self._x = _np.zeros((0, channels))       # samples not yet output (and the history they need)
        self._need = _np.zeros(0)                # required reduction (1 - gain) of each of them
        self._hist = _np.zeros((len(self._interp) - 1, channels))
        self._out_pos = 0                         # samples of _x already output
        self._state = _np.zeros(1)
        self._started = False

    def _required(self, block: _np.ndarray) -> _np.ndarray:
        if self.ceiling == math.inf:
            return _np.zeros(len(block))
        ext = _np.concatenate([self._hist, block])
        self._hist = ext[-len(self._hist):]
        peak = _np.maximum(_np.abs(block).max(axis=1), interpolated_peaks(ext, self._interp))
        return 1.0 - _np.minimum(1.0, self.ceiling / _np.maximum(peak, 1e-12))

    def process(self, block: _np.ndarray) -> _np.ndarray:
        block = _np.asarray(block, dtype=_np.float64)
        if not self._started:  # history before the stream: silence, with full look-behind
            self._x = _np.zeros((self.delay, self.channels))
            self._need = _np.zeros(self.delay)
            self._out_pos = self.delay
            self._started = True
        self._x = _np.concatenate([self._x, block])
        self._need = _np.concatenate([self._need, self._required(block)])
        return self._emit(len(self._x) - self.delay)

    def flush(self) -> _np.ndarray:
        if not self._started:
            return _np.zeros((0, self.channels))
        pad = _np.zeros((self.delay, self.channels))
        self._x = _np.concatenate([self._x, pad])
        self._need = _np.concatenate([self._need, _np.zeros(self.delay)])
        out = self._emit(len(self._x) - self.delay)
        return out

    def _emit(self, stop: int) -> _np.ndarray:
        from scipy.ndimage import maximum_filter1d, uniform_filter1d

        from ..kernels.dynamics import hold_release

        start = self._out_pos
        if stop <= start:
            return _np.zeros((0, self.channels))
        # reduction over [start - delay, stop + delay) so both filters see their full reach
        lo, hi = start - self.delay, min(stop + self.delay, len(self._need))
        need = self._need[lo:hi]
        spread = maximum_filter1d(need, size=2 * self.look + 1, mode="nearest")
        smooth = uniform_filter1d(spread, size=2 * self.half + 1, mode="nearest")
        smooth = _np.maximum(smooth, need)  # never less than a sample itself needs
        part = smooth[start - lo: stop - lo]
        reduction = hold_release(part, self.release, self._state)
        out = self._x[start:stop] * (1.0 - reduction)[:, None]
        # drop what no later output needs (keep `delay` samples of look-behind)
        keep_from = max(stop - self.delay, 0)
        self._x = self._x[keep_from:]
        self._need = self._need[keep_from:]
        self._out_pos = stop - keep_from
        return out


class Chain:
    """A profile's processing, streaming: EQ -> compressor (:meth:`shape`), then gain -> true-peak limiter."""

    def __init__(self, profile, rate: int, channels: int, gain_db: float):
        self.eq = Equalizer(profile.eq, rate, channels)
        self.comp = Compressor(profile.compressor, rate) if profile.compressor is not None else None
        self.gain = 10.0 ** (gain_db / 20.0)
        self._limiter_args = (rate, channels, profile.true_peak_dbtp)
        self._limiter = None

    @property
    def limiter(self) -> TruePeakLimiter:
        # made when first used: a player shapes with the chain but limits with its own
        if self._limiter is None:
            self._limiter = TruePeakLimiter(*self._limiter_args)
        return self._limiter

    def shape(self, block):
        y = self.eq.process(block)
        return self.comp.process(y) if self.comp is not None else y

    def process(self, block):
        return self.limiter.process(self.shape(block) * self.gain)

    def flush(self):
        return self.limiter.flush()
