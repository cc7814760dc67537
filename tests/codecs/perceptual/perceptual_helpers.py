"""Shared helpers of the ``perceptual`` codec's tests: a codec with given settings, test signals, SNR."""

from __future__ import annotations

import numpy as np
from scipy import signal

from snc.codecs.perceptual import NOISE_SUBSTITUTION, EncoderSettings, PerceptualCodec
from snc.kernels import perceptual_packet as pk

RATES = [8000, 11025, 22050, 44100, 48000, 96000, 192000]


def make_codec(channels: int = 1, bits: int = 16, samplerate: int = 44100, quality_db: float = 0.0,
               noise_substitution=NOISE_SUBSTITUTION, **settings) -> PerceptualCodec:
    return PerceptualCodec(format="int", bits=bits, channels=channels,
                           settings=EncoderSettings(samplerate=samplerate, quality_db=quality_db,
                                                    noise_substitution=noise_substitution, **settings))


def full_scale(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    err = float(((y.astype(np.float64) - x) ** 2).sum())
    return 10.0 * np.log10(max(float((x * x).sum()), 1e-30) / max(err, 1e-30))


def music(n: int, channels: int, bits: int = 16, samplerate: int = 44100, seed: int = 0) -> np.ndarray:
    """Two partials per channel (200..3000 Hz) plus a little noise, about -9 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / samplerate
    f = rng.uniform(200.0, 3000.0, (1, channels))
    x = 0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 2.7 * f * t + 1.0)
    x += rng.normal(0.0, 0.01, (n, channels))
    lo, hi = full_scale(bits)
    return np.clip(np.round(x * 2.0 ** (bits - 1)), lo, hi).astype(np.int32)


def drum_hit(n: int, start: int, peak: float, samplerate: int = 44100, seed: int = 2) -> np.ndarray:
    """Silence, then a kick/snare-like hit (180 Hz body + noise low-passed at 6 kHz, 7 ms decay), mono."""
    rng = np.random.default_rng(seed)
    k = np.arange(n - start)
    sos = signal.butter(4, 6000.0, fs=samplerate, output="sos")
    body = 0.5 * np.sin(2 * np.pi * 180.0 * k / samplerate) + 0.3 * signal.sosfilt(sos, rng.normal(0, 1, k.size))
    x = np.zeros((n, 1))
    x[start:, 0] = body * np.exp(-k / 300.0) * peak
    return np.round(x).astype(np.int32)


def roundtrip(codec: PerceptualCodec, x: np.ndarray, noise=None) -> tuple[bytes, np.ndarray]:
    data = codec.encode(x) if noise is None else codec.encode(x, noise=noise)
    assert isinstance(data, bytes) and len(data) >= 1 and data[0] in (pk.VERSION, pk.VERSION_NOISE)
    y = codec.decode(data, len(x))
    assert y.dtype == np.int32 and y.shape == x.shape
    lo, hi = full_scale(codec.bits)
    if y.size:
        assert lo <= int(y.min()) and int(y.max()) <= hi
    return data, y


def band_energy(x: np.ndarray, samplerate: int, f_lo: float, f_hi: float) -> float:
    spec = np.fft.rfft(x.astype(np.float64), axis=0)
    f = np.fft.rfftfreq(len(x), 1.0 / samplerate)
    sel = (f >= f_lo) & (f < f_hi)
    return float((np.abs(spec[sel]) ** 2).sum())
