"""Mastering of the demo mix, and the dithered quantiser that turns every float track into PCM.

The chain is the library's own renderer dynamics (:mod:`snc.render.dynamics`): an RBJ-cookbook
equaliser, a soft-knee feed-forward compressor and a look-ahead true-peak limiter.  It is
non-linear and the stems and the mix are dithered independently, so ``mix - sum(stems)`` is a
substantial, signal-dependent residual: exactly what a stem-native codec has to store next to
the stems.

* TPDF dither: S. P. Lipshitz, R. A. Wannamaker, J. Vanderkooy, "Quantization and dither:
  a theoretical survey" (JAES 40(5), 1992).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..render.dynamics import Compressor, CompressorSettings, EqBand, Equalizer, TruePeakLimiter

#: The cookbook shelf with slope S = 1 is the shelf with Q = 1/sqrt(2).
_SHELF_Q = 1.0 / math.sqrt(2.0)
#: A 25 Hz rumble high-pass, +3 dB low shelf at 100 Hz, a -2 dB "mud" cut at 350 Hz, +3 dB "air" above 9 kHz.
MASTER_EQ = (
    EqBand("highpass", 25.0, q=0.7071),
    EqBand("lowshelf", 100.0, gain_db=3.0, q=_SHELF_Q),
    EqBand("peak", 350.0, gain_db=-2.0, q=1.0),
    EqBand("highshelf", 9000.0, gain_db=3.0, q=_SHELF_Q),
)
#: Gentle bus compression, 3:1 above -20 dBFS, with 5 dB of makeup gain: loud enough that the limiter works.
MASTER_COMPRESSOR = CompressorSettings(threshold_db=-20.0, ratio=3.0, knee_db=6.0, attack_ms=10.0,
                                       release_ms=120.0, makeup_db=5.0)
#: The limiter's ceiling (dBTP), look-ahead and release (ms).
CEILING_DBTP = -1.0
LIMITER_LOOKAHEAD_MS = 2.0
LIMITER_RELEASE_MS = 60.0


def master_eq(x: np.ndarray, samplerate: int) -> np.ndarray:
    """:data:`MASTER_EQ` on ``(frames, channels)`` floats; bands above 0.45*fs move down to it (low rates)."""
    top = 0.45 * samplerate
    bands = [b if b.freq_hz < top else EqBand(b.kind, top, b.gain_db, b.q) for b in MASTER_EQ]
    return Equalizer(bands, samplerate, x.shape[1]).process(x)


def master(x: np.ndarray, samplerate: int) -> np.ndarray:
    """The mastering chain on a float ``(frames, channels)`` mix: EQ -> compressor -> limiter.

    The limiter streams with a delay; flushing it and taking all its output gives the whole mix
    back aligned with the input, with every sample at or below the ceiling.
    """
    x = np.asarray(x, dtype=np.float64)
    y = master_eq(x, samplerate)
    y = Compressor(MASTER_COMPRESSOR, samplerate).process(y)
    limiter = TruePeakLimiter(samplerate, x.shape[1], ceiling_dbtp=CEILING_DBTP,
                              lookahead_ms=LIMITER_LOOKAHEAD_MS, release_ms=LIMITER_RELEASE_MS)
    return np.concatenate([limiter.process(y), limiter.flush()])


_U16 = 2.0 ** -16


@njit(cache=True)
def quantize_kernel(x, raw, scale):
    """``floor(x*scale + d + 0.5)`` clipped to ``[-scale, scale-1]``, as int32.

    ``d`` is TPDF dither of +-1 LSB peak: the difference of two 16-bit uniform
    variables; one raw 64-bit draw ``raw[i // 2]`` feeds two samples (its high
    32 bits sample ``2k``, its low 32 bits sample ``2k + 1``).
    """
    n = x.shape[0]
    q = np.empty(n, np.int32)
    lo = -scale
    hi = scale - 1.0
    for i in range(n):
        r = raw[i >> 1]
        if (i & 1) == 0:
            r = r >> np.uint64(32)
        d = ((r >> np.uint64(16)) & np.uint64(0xFFFF)) * _U16 - (r & np.uint64(0xFFFF)) * _U16
        v = math.floor(x[i] * scale + d + 0.5)
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        q[i] = np.int32(v)
    return q


def quantize(x: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Float in [-1, 1) -> signed ``bits``-bit integers (int32 array of ``x``'s shape).

    Rounds to nearest after adding seeded +-1 LSB TPDF dither, which decorrelates the
    requantisation error from the signal.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).reshape(-1)
    raw = rng.bit_generator.random_raw((flat.shape[0] + 1) // 2)
    return quantize_kernel(flat, raw, float(2 ** (bits - 1))).reshape(x.shape)
