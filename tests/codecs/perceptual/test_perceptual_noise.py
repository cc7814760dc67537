"""Perceptual noise substitution (:mod:`snc.codecs.perceptual.noise`, spec codec-perceptual.md 4.1): which bands
become noise bands, noise fill, and what the decoder makes of them."""

from __future__ import annotations

import numpy as np
from perceptual_helpers import band_energy, drum_hit, make_codec, roundtrip, snr_db
from scipy import signal

from snc.codecs.perceptual import NOISE_SUBSTITUTION, tables
from snc.kernels import mdct
from snc.kernels import perceptual_packet as pk


def test_white_noise():
    x = np.random.default_rng(8).integers(-32768, 32768, (16384, 1)).astype(np.int32)
    data, y = roundtrip(make_codec(noise_substitution=None), x)
    assert 3.0 < snr_db(x, y) < 20.0  # noise masks noise: a few dB of SNR is transparent
    assert len(data) < x.size * 2
    # with noise substitution the bands from 8 kHz up become noise of the same power: far fewer bytes, the
    # spectrum kept within 1 dB, the waveform below 8 kHz kept as before (above 16 kHz the absolute threshold
    # at the default 96 dB SPL drops the bands whole, with or without substitution)
    data2, y2 = roundtrip(make_codec(), x)
    assert data2[0] == pk.VERSION_NOISE and len(data2) < 0.6 * len(data)
    sr = 44100
    for lo, hi in ((8000, 12000), (12000, 16000)):
        assert abs(10 * np.log10(band_energy(y2, sr, lo, hi) / band_energy(x, sr, lo, hi))) < 1.0
    low = signal.sosfiltfilt(signal.butter(8, 7000, fs=sr, output="sos"), np.concatenate([x, y2], axis=1), axis=0)
    assert snr_db(low[:, :1], low[:, 1:]) > 3.0


def test_noise_substitution_rules(monkeypatch):
    """Noise bands only from NOISE_SUBSTITUTION[0] Hz up, only in LONG frames, only where the budget would
    code the band at a low SNR; the decoder's noise is the same on every run (spec 4.1)."""
    sent = []
    real = pk.encode_packet

    def spy(kinds, ms, sf, nf, q, buf):  # what the codec hands the packet writer
        sent.append((kinds.copy(), nf.copy(), q.copy()))
        return real(kinds, ms, sf, nf, q, buf)

    x = np.concatenate([np.random.default_rng(9).normal(0, 3000, (8192, 2)),
                        drum_hit(8192, 4000, 30000.0).repeat(2, 1)])
    x = x.astype(np.int32)
    codec = make_codec(channels=2, quality_db=6.0)
    F = mdct.n_frames(len(x))
    kinds, spectra = codec.analyse(x)
    assert (kinds == mdct.SHORT).any()
    monkeypatch.setattr(pk, "encode_packet", spy)
    data = codec.encode(x)
    # a budget 20 dB under every band: everything coded, nothing substituted
    quiet = codec.encode(x, noise=np.full((F, 2, 1024), 1e-2) * (spectra ** 2).mean())
    monkeypatch.undo()
    (kinds, nf, q), (_, nf_quiet, _) = sent
    first = int(np.searchsorted(tables.EDGES_LONG * 44100 / 2048, NOISE_SUBSTITUTION[0]))
    assert nf[:, :, first:].any() and not nf[:, :, :first].any()
    assert not nf[kinds == mdct.SHORT].any()
    widths = np.diff(tables.EDGES_LONG)
    assert not (np.repeat(nf, widths, axis=-1) * q).any()  # noise bands carry no values
    assert not nf_quiet.any() and quiet[0] == pk.VERSION
    assert np.array_equal(codec.decode(data, len(x)), make_codec(channels=2).decode(bytes(data), len(x)))


def test_noise_fill_turns_bands_below_their_budget_into_noise_bands():
    """noise_fill: a steady high band whose energy is under its budget becomes a noise band (its level kept)
    instead of a hole; without it the band is dropped (all zero).  The decoded high band keeps its power."""
    x = np.random.default_rng(12).normal(0, 2000, (16384, 1))
    b, a = signal.butter(8, 9000, btype="high", fs=44100)
    x = np.round(signal.lfilter(b, a, x, axis=0)).astype(np.int32)
    codec = make_codec()
    F = mdct.n_frames(len(x))
    _, spectra = codec.analyse(x)
    loud = np.full((F, 1, 1024), 4.0) * (spectra ** 2).mean()  # every band under its budget
    dropped = codec.decode(codec.encode(x, noise=loud), len(x))
    filling = make_codec(noise_fill=True)
    filled = filling.decode(filling.encode(x, noise=loud), len(x))
    core = slice(4096, -4096)
    assert np.abs(dropped[core]).max() == 0
    ratio = (filled[core].astype(np.float64) ** 2).mean() / (x[core].astype(np.float64) ** 2).mean()
    assert 0.5 < ratio < 2.0
