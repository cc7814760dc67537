"""The built-in separator: harmonic/percussive split, a low band for bass, the centre for vocals.

No model and no download: it always works, and fast (one STFT, two running medians, four
masks).  Soft masks that sum to one in every time-frequency bin, so the four stems add up to the
mix (to float rounding; the encoder makes the integer sum exact).  For a mix of (per bin) power
``X``:

- percussive / harmonic (Fitzgerald 2010, "Harmonic/percussive separation using median filtering"):
  ``H`` = median of ``X`` along time (sustained partials are smooth in time), ``P`` = median along
  frequency (hits are smooth in frequency); Wiener-like masks ``m_P = P^2 / (H^2 + P^2)``,
  ``m_H = 1 - m_P``;
- ``P`` is held after each hit, falling with time constant :data:`PERCUSSIVE_DECAY_SECONDS`: the
  ringing tail of a tuned kick is steady enough for the time median to call it harmonic (and bass);
- ``drums = m_P``;
- ``bass = m_H * low(f)``: the harmonic part below :data:`BASS_CUTOFF_HZ`, falling by
  :data:`BASS_ROLLOFF` powers of two per octave above it;
- ``vocals = m_H * (1 - low(f)) * voice(f) * centre``: the harmonic, centre-panned part in the
  voice's range, where ``centre = (2 |L R*| / (|L|^2 + |R|^2))^CENTRE_POWER`` is the inter-channel
  similarity of Avendano & Jot (2002, "Frequency domain techniques for stereo to multichannel
  upmix") -- 1 for a source panned to the centre (mono input: everything is centred);
- ``other``: the rest of the harmonic part.

Masks are applied to each channel's complex STFT (:mod:`snc.signal.stft`, :data:`OVERLAP`, overlap-add with
the window-square normalisation: sum of stems = the mix exactly in real arithmetic).
"""

from __future__ import annotations

import numpy as _np

from ..signal import stft as _stft
from .base import STEM_NAMES, Separator

VERSION = 1
#: STFT frame (seconds); rounded to a power of two in samples: 4096 at 44.1 kHz
FRAME_SECONDS = 0.09
#: frames per frame length (hop = frame / OVERLAP)
OVERLAP = 2
#: median lengths: 0.3 s in time for the harmonic part, 100 Hz in frequency for the percussive part
HARMONIC_SECONDS = 0.3
PERCUSSIVE_HZ = 100.0
#: exponent of the percussive/harmonic Wiener masks
MASK_POWER = 2.0
#: a hit's energy keeps being the drums' for this time constant (seconds) after it: the ringing tail
#: of a tuned kick is sustained enough for the time median to call it harmonic
PERCUSSIVE_DECAY_SECONDS = 0.6
BASS_CUTOFF_HZ = 120.0
#: above the cutoff the bass mask falls by this factor of two per octave: a bass's harmonics reach
#: well above its fundamental, and a hard edge makes a "bass" an octave too high vanish entirely
BASS_ROLLOFF = 1.0
#: the voice's range (Hz) and how sharply the vocal mask prefers the centre
VOICE_LOW_HZ, VOICE_HIGH_HZ = 150.0, 8000.0
CENTRE_POWER = 8  # an integer: numpy raises to it by repeated squaring


def _decaying_hold(power: _np.ndarray, decay: float) -> _np.ndarray:
    """``out[t] = max(power[t], decay * out[t - 1])`` per bin: a peak hold falling by ``decay`` per frame."""
    out = power.copy()
    for t in range(1, out.shape[0]):
        _np.maximum(out[t], decay * out[t - 1], out=out[t])
    return out


def _frame_size(samplerate: int) -> int:
    return int(2 ** round(_np.log2(FRAME_SECONDS * samplerate)))


def _odd(n: float) -> int:
    n = max(int(round(n)), 1)
    return n if n % 2 else n + 1


class DspSeparator(Separator):
    """The ``dsp`` separator (see the module docstring); stems vocals, drums, bass, other."""

    name = "dsp"
    #: a chunk's transforms and masks are most of an encode's memory, and they grow with its samples, not
    #: its seconds: a fixed count of frames (23.8 s at 44.1 kHz, 10.9 s at 96 kHz) bounds it at any rate
    chunk_samples = 1 << 20
    #: the percussive hold decays by e^-5 in 3 s (it looks back only); the time median and the STFT
    #: frame reach 0.2 s ahead
    context_seconds = 3.0
    context_after_seconds = 0.5
    stem_names = STEM_NAMES

    def frame_alignment(self, samplerate: int) -> int:
        return _frame_size(samplerate) // OVERLAP

    def chunk_frames(self, samplerate: int) -> int:
        return self.chunk_samples

    def provenance(self) -> dict:
        from ..version import __version__

        return {"separator": "dsp", "separator_version": f"snc {__version__} dsp {VERSION}"}

    def masks(self, spectra: _np.ndarray, samplerate: int, nfft: int) -> dict[str, _np.ndarray]:
        """The four masks (frames x bins, summing to one) of complex spectra (channels, frames, bins)."""
        from ..kernels.median import median_rows

        power = (spectra.real ** 2 + spectra.imag ** 2)
        mono = power.mean(axis=0)  # (frames, bins)
        hop = nfft // OVERLAP
        bin_hz = samplerate / nfft
        harmonic = median_rows(mono.T, _odd(HARMONIC_SECONDS * samplerate / hop)).T
        percussive = _decaying_hold(median_rows(mono, _odd(PERCUSSIVE_HZ / bin_hz)),
                                    _np.exp(-hop / (PERCUSSIVE_DECAY_SECONDS * samplerate)))
        hp, pp = harmonic ** MASK_POWER, percussive ** MASK_POWER
        total = hp + pp
        m_perc = _np.divide(pp, total, out=_np.full_like(total, 0.5), where=total > 0)
        m_harm = 1.0 - m_perc

        freqs = _np.arange(power.shape[-1]) * bin_hz
        octaves_above = _np.log2(_np.maximum(freqs, 1e-9) / BASS_CUTOFF_HZ)
        # per-bin weights in the masks' precision: a float64 one would double every mask it touches
        low = _np.exp2(-BASS_ROLLOFF * _np.maximum(octaves_above, 0.0)).astype(mono.dtype)
        voice = ((freqs >= VOICE_LOW_HZ) & (freqs <= VOICE_HIGH_HZ)).astype(mono.dtype)
        if spectra.shape[0] == 2:
            cross = _np.abs(spectra[0] * _np.conj(spectra[1]))
            both = power[0] + power[1]
            similarity = _np.divide(2.0 * cross, both, out=_np.zeros_like(both), where=both > 0)
            centre = similarity ** CENTRE_POWER
        else:
            centre = _np.ones_like(mono)
        bass = m_harm * low
        upper = m_harm - bass
        vocals = upper * voice * centre
        return {"vocals": vocals, "drums": m_perc, "bass": bass, "other": upper - vocals}

    def separate(self, block: _np.ndarray, samplerate: int) -> dict[str, _np.ndarray]:
        block = _np.asarray(block, dtype=_np.float64)
        nfft = _frame_size(samplerate)
        spectra = stft(block, nfft)
        masks = self.masks(spectra, samplerate, nfft)
        last = self.stem_names[-1]
        stems = {name: istft(spectra * masks[name], nfft, block.shape[0])
                 for name in self.stem_names if name != last}
        # the last stem is what the others leave: one inverse transform fewer, and an exact sum
        stems[last] = block - sum(stems.values())
        return stems


def stft(x: _np.ndarray, nfft: int) -> _np.ndarray:
    """The separator's spectra (single precision: masks need no more, and it is faster)."""
    return _stft.stft(x, nfft, OVERLAP, dtype=_np.float32)


def istft(spectra: _np.ndarray, nfft: int, length: int) -> _np.ndarray:
    return _stft.istft(spectra, nfft, length, OVERLAP)
