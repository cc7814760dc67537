"""The analysis the psychoacoustic model rests on (:mod:`.psy`, step 1): frames of the MDCT's span and centre,
periodic-Hann FFT spectra, and the signal power per MDCT coefficient.

float32 FFTs: the model needs ~60 dB of dynamic range within a frame (the spreading stops at -60 dB) and float32
gives ~140 dB at twice the speed; powers are accumulated in float64.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

HOP = 1024                   # MDCT hop M; frames are 2M samples
NBINS = 1024                 # long-frame bins
SHORT = 256                  # pre-echo sub-block (8 per frame, = the codec's short block span)
CHUNK = 256                  # frames per analysis chunk: bounds the temporary complex spectra


@lru_cache(maxsize=16)
def windows():
    """(long FFT window, short sub-block window, the synthesis window's mean square in each sub-block)."""
    long_w = np.hanning(2 * HOP + 1)[:-1]          # periodic Hann
    short_w = np.hanning(SHORT + 1)[:-1]
    sine2 = np.sin(np.pi * (np.arange(2 * HOP) + 0.5) / (2 * HOP)) ** 2
    w2 = sine2.reshape(-1, SHORT).mean(axis=1)        # noise power of the frame in each sub-block
    # amplitude scale: sum w^2 = 1, so |FFT|^2 of white noise has mean s^2 per bin (MDCT coefficient variance)
    return long_w / np.sqrt(long_w @ long_w), short_w / np.sqrt(short_w @ short_w), w2


def bin_frequencies(samplerate: int, n: int = NBINS) -> np.ndarray:
    """Centre frequency (Hz) of each of the ``n`` MDCT bins: bin k at (k + 1/2) samplerate / 2n."""
    return (np.arange(n) + 0.5) * samplerate / (2.0 * n)


def as_2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"x must be (samples, channels), got shape {x.shape}")
    return x


def frame_blocks(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Hop blocks (F + 3, C, HOP): frame t (t >= -2) is blocks t + 2 and t + 3 (3 blocks of zeros lead).

    float32: the model needs ~60 dB of dynamic range within a frame (the spreading stops at -60 dB) and
    float32 FFTs give ~140 dB at twice the speed; powers are accumulated in float64.
    """
    length, chans = x.shape
    nframes = -(-length // HOP) + 1
    xp = np.zeros(((nframes + 3) * HOP, chans), dtype=np.float32)
    xp[3 * HOP:3 * HOP + length] = x
    return np.ascontiguousarray(xp.reshape(nframes + 3, HOP, chans).transpose(0, 2, 1)), nframes


def fft_frames(blocks: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """Complex 2048-point Hann spectra (t1 - t0 + 2, C, 1025) of frames t0 - 2 .. t1 - 1."""
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    long_w = windows()[0]
    b = blocks[t0:t1 + 3]
    frames = np.concatenate([b[:-1], b[1:]], axis=-1)
    frames *= long_w.astype(np.float32)
    return _fft.rfft(frames, axis=-1, workers=1, overwrite_x=True)


def to_mdct_bins(p: np.ndarray) -> np.ndarray:
    """FFT bins j = 0..N/2 -> MDCT bins k, centred at (k + 1/2): mean of FFT bins k and k + 1."""
    return 0.5 * (p[..., :-1] + p[..., 1:])


def power_spectrum(x) -> np.ndarray:
    """Signal power per MDCT coefficient, float64 (F, C, 1024), in MDCT coefficient-variance units.

    The analysis of step 1 above: for white noise of variance s^2 every bin averages s^2, and the total over
    the bins of a stationary tone matches the orthonormal sine-window MDCT of the same frame on average.
    """
    blocks, nframes = frame_blocks(as_2d(x))
    out = np.empty((nframes, blocks.shape[1], NBINS))
    for t0 in range(0, nframes, CHUNK):
        t1 = min(t0 + CHUNK, nframes)
        spec = fft_frames(blocks, t0, t1)[2:].astype(np.complex128)
        out[t0:t1] = to_mdct_bins(spec.real ** 2 + spec.imag ** 2)
    return out
