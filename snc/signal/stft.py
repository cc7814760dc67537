"""A short-time Fourier transform with perfect reconstruction, shared by the separator and the renderer.

Frame ``j`` is centred on sample ``j * hop`` (``hop = nfft / overlap``); the signal is zero-padded
by ``nfft / 2`` at the start and far enough at the end that the last frame is centred at or after
the last sample, so every sample lies in the full overlap of frames.  Analysis and synthesis
window ``sin(pi (n + 1/2) / nfft) ** (4 / overlap)``: the periodic Hann window at 50 % overlap,
its square root at 75 %; the inverse divides by the overlap-added squared windows (weighted
overlap-add; that sum lies in [1/2, 1] at 50 % overlap and is 2 at 75 %), so
``istft(stft(x)) == x`` to rounding.

A frame grid that starts at a multiple of ``hop`` from the file's first sample is the same grid
as the whole file's: that is what lets chunked processing match whole-file processing.
"""

from __future__ import annotations

import numpy as _np


def window(nfft: int, overlap: int = 2) -> _np.ndarray:
    return _np.sin(_np.pi * (_np.arange(nfft) + 0.5) / nfft) ** (4.0 / overlap)


def n_frames(length: int, nfft: int, overlap: int = 2) -> int:
    return -(-length // (nfft // overlap)) + 1


def stft(x: _np.ndarray, nfft: int, overlap: int = 2, dtype=_np.float64) -> _np.ndarray:
    """Complex spectra ``(channels, frames, nfft/2 + 1)`` of ``x`` ``(frames, channels)``, framed and
    transformed in ``dtype``: float32 halves the memory where single precision is enough (masks)."""
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    hop = nfft // overlap
    n = x.shape[0]
    frames = n_frames(n, nfft, overlap)
    padded = _np.zeros((x.shape[1], (frames + overlap - 1) * hop), dtype=dtype)
    padded[:, nfft // 2: nfft // 2 + n] = x.T
    # frame j = hop-blocks j .. j + overlap - 1: a strided view, no index array
    view = _np.lib.stride_tricks.sliding_window_view(padded, nfft, axis=-1)[:, ::hop]
    return _fft.rfft(view * window(nfft, overlap).astype(dtype), axis=-1)


def istft(spectra: _np.ndarray, nfft: int, length: int, overlap: int = 2) -> _np.ndarray:
    """Inverse of :func:`stft`: ``(length, channels)``, float32 from single-precision spectra, else float64."""
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    hop = nfft // overlap
    channels, frames, _ = spectra.shape
    blocks = _fft.irfft(spectra, n=nfft, axis=-1)
    win = window(nfft, overlap).astype(blocks.dtype)
    blocks *= win
    blocks = blocks.reshape(channels, frames, overlap, hop)
    out = _np.zeros((channels, frames + overlap - 1, hop), dtype=blocks.dtype)
    norm = _np.zeros((frames + overlap - 1, hop), dtype=blocks.dtype)
    for q in range(overlap):  # overlap-add: part q of frame j lands on hop-block j + q
        out[:, q: q + frames] += blocks[:, :, q]
        norm[q: q + frames] += (win * win).reshape(overlap, hop)[q]
    out = out.reshape(channels, -1)[:, nfft // 2: nfft // 2 + length]
    norm = norm.reshape(-1)[nfft // 2: nfft // 2 + length]
    out /= _np.maximum(norm, 1e-12)
    return out.T
