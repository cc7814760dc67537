"""The ``perceptual`` stream codec and the presets built on it (spec/codec-perceptual.md).

Round trips (length, range, SNR against quality), transients (window switching, pre-echo), edge signals
(silence, DC, full scale, band-limited and white noise), channel layouts, rates, lengths and depths,
determinism and golden packets (the integer decoder path must never drift), the ``lossless``,
``transparent`` and ``compact`` presets, the mix-masked allocation (:mod:`snc.encode.allocation`) and corrupt
packets.  Library bugs found while writing these were fixed; their tests stay as regressions; each says
exactly what is wrong.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

import snc
from conftest import random_multitrack
from snc.encode import allocation
from snc.codecs import perceptual
from snc.codecs.perceptual import PerceptualCodec
from snc.codecs.registry import get_codec
from snc.errors import CodecError
from snc.kernels import coefcode, mdct
from snc.kernels import perceptual_packet as pk
from snc.kernels.bands import band_edges

FIXTURES = Path(__file__).parents[1] / "fixtures" / "perceptual"
RATES = [8000, 11025, 22050, 44100, 48000, 96000, 192000]


# ----------------------------------------------------------------------------- helpers
def make_codec(channels: int = 1, bits: int = 16, samplerate: int = 44100, quality_db: float = 0.0,
               noise_substitution=perceptual.NOISE_SUBSTITUTION):
    codec = PerceptualCodec(format="int", bits=bits, channels=channels)
    codec.samplerate = samplerate
    codec.quality_db = quality_db
    codec.noise_substitution = noise_substitution
    return codec


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


@pytest.fixture
def watchdog():
    """A decoder that loops forever would hang the suite: dump the stacks and exit after 120 s instead."""
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# ----------------------------------------------------------------------------- config
def test_config_registry_and_encoder_settings():
    codec = PerceptualCodec(format="int", bits=24, channels=6)
    cfg = codec.get_config()
    assert cfg == {"format": "int", "channels": 6, "bits": 24}
    assert json.loads(json.dumps(cfg)) == cfg
    again = get_codec("perceptual", cfg)
    assert isinstance(again, PerceptualCodec) and again.get_config() == cfg
    assert PerceptualCodec.codec_id == "perceptual" and PerceptualCodec.lossless is False
    # encoder settings: defaults, and not part of the (decoder) config
    assert codec.samplerate == 48000 and codec.quality_db == 0.0
    codec.samplerate, codec.quality_db = 96000, -12.0
    assert codec.get_config() == cfg


@pytest.mark.parametrize("kw", [{"format": "float64"}, {"bits": 7}, {"bits": 33},
                                {"channels": 0}, {"channels": 9}])
def test_config_rejects(kw):
    with pytest.raises(CodecError):
        PerceptualCodec(**kw)


def test_encode_rejects_bad_blocks():
    codec = make_codec(channels=2)
    with pytest.raises(CodecError):
        codec.encode(np.zeros((100, 3), np.int32))
    with pytest.raises(CodecError):
        codec.encode(np.zeros((100, 2), np.float64))
    with pytest.raises(CodecError):
        codec.encode(np.full((100, 2), 40000, np.int32))


@pytest.mark.parametrize("shape", ["frames-1", "frames+1", "channels", "bins", "2d", "scalar"])
def test_encode_rejects_noise_of_wrong_shape(shape):
    x = music(3000, 2)
    codec = make_codec(channels=2)
    F = mdct.n_frames(len(x))
    noise = {"frames-1": np.ones((F - 1, 2, 1024)), "frames+1": np.ones((F + 1, 2, 1024)),
             "channels": np.ones((F, 1, 1024)), "bins": np.ones((F, 2, 512)), "2d": np.ones((F, 1024)),
             "scalar": np.float64(1.0)}[shape]
    with pytest.raises(CodecError, match="noise budget must have shape"):
        codec.encode(x, noise=noise)
    roundtrip(codec, x, noise=np.ones((F, 2, 1024)))  # the right shape is accepted


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("seed", [0, 1])
def test_roundtrip_synthetic_song(seed):
    """Stems and mix of a synthetic song at the default self-masking: sensible SNR everywhere; the tonal
    stems much better than the broadband drums (the mask lets noise-like sounds carry more noise)."""
    from snc.demo.synth import synthesize_song

    song = synthesize_song(duration=0.3, samplerate=44100, channels=2, seed=seed)
    for name, x in [("mix", song.mix), *song.stems.items()]:
        data, y = roundtrip(make_codec(channels=2), x)
        assert len(data) < x.size * 2 / 4, name  # well below 16-bit PCM
        assert snr_db(x, y) > (8.0 if name in ("mix", "drums") else 14.0), name


@pytest.mark.parametrize("channels", [1, 2])
def test_roundtrip_tone_noise_mix(channels):
    x = music(16384, channels, seed=3)
    data, y = roundtrip(make_codec(channels=channels), x)
    assert snr_db(x, y) > 15.0
    assert len(data) < x.size * 2 / 5


def test_lower_quality_db_gives_higher_snr_and_more_bytes():
    x = music(16384, 2, seed=4)
    res = {}
    for q in (-12.0, 0.0, 6.0):
        data, y = roundtrip(make_codec(channels=2, quality_db=q), x)
        res[q] = (len(data), snr_db(x, y))
    assert res[-12.0][0] > res[0.0][0] > res[6.0][0]
    assert res[-12.0][1] > res[0.0][1] + 4.0 > res[6.0][1] + 4.0
    # an explicit budget overrides quality_db: same packet whatever quality_db says
    codec = make_codec(channels=2)
    noise = codec.self_mask(x)
    assert codec.encode(x, noise=noise) == codec.encode(x)
    codec.quality_db = 20.0
    assert codec.encode(x, noise=noise) == make_codec(channels=2).encode(x)


def test_explicit_noise_budget_is_met():
    """An explicit flat budget: the decoded signal's noise power stays under it, and a finer budget costs
    more bytes for a higher SNR (without noise substitution, which trades a band's waveform for its energy)."""
    x = music(8192, 1, seed=5)
    F = mdct.n_frames(len(x))
    sizes, snrs = [], []
    for level in (1e4, 1e2, 1.0):
        data, y = roundtrip(make_codec(noise_substitution=None), x, noise=np.full((F, 1, 1024), level))
        err = (y - x).astype(np.float64)
        assert err.var() < 1.5 * level + 0.5  # noise per sample (orthonormal: = noise per coefficient) + rounding
        sizes.append(len(data))
        snrs.append(snr_db(x, y))
    assert sizes[0] < sizes[1] < sizes[2] and snrs[0] < snrs[1] < snrs[2]
    # a budget above every band's energy drops everything: silence out
    data, y = roundtrip(make_codec(), x, noise=np.full((F, 1, 1024), 1e30))
    assert not y.any() and len(data) <= 8 + F / 8



def test_quantise_magnitude_thresholds():
    """A zero becomes a one only from 1 - rounding[0]; above one, k becomes k + 1 from k + 1 - rounding[1]."""
    from snc.codecs import perceptual as pc

    for z, r in (pc.ROUNDING, pc.STEM_ROUNDING):
        assert 0.0 < z <= r < 0.5
        a = np.array([0.0, 1 - z - 1e-9, 1 - z, 1.0, 2 - r - 1e-9, 2 - r, 7 - r - 1e-9, 7 - r])
        np.testing.assert_array_equal(pc.quantise_magnitude(a, (z, r)), [0, 0, 1, 1, 1, 2, 6, 7])


@pytest.fixture
def codecs_made(monkeypatch):
    """The perceptual codecs :func:`snc.encode` makes, in order (the stems' and the residual's)."""
    from snc.encode import stream_codecs as enc

    made = []
    original = enc.perceptual_codec

    def spy(fmt):
        made.append(original(fmt))
        return made[-1]

    monkeypatch.setattr(enc, "perceptual_codec", spy)
    return made


def test_stems_get_the_wider_dead_zone(song, codecs_made):
    """Stems are quantised with STEM_ROUNDING (their noise cancels in the mix), the residual and a mix coded
    alone with ROUNDING: the stem packets change with it, the residual's rounding does not."""
    from snc.codecs import perceptual as pc

    made = codecs_made
    _encode(song.mix, song.stems, "transparent")
    assert [c.rounding for c in made] == [pc.STEM_ROUNDING, pc.ROUNDING]  # stems' codec, the residual's
    made.clear()
    _encode(song.mix, None, "transparent")
    assert [c.rounding for c in made] == [pc.ROUNDING, pc.ROUNDING]


def test_quantiser_takes_the_coarsest_step_within_tolerance():
    """Every active band's noise is within NOISE_TOLERANCE of its budget, and one step coarser would
    not be (the noise lands on the budget instead of up to a step below it)."""
    from snc.codecs import perceptual as pc

    rng = np.random.default_rng(46)
    edges = band_edges(1024)
    widths = np.diff(edges)
    coefs = rng.laplace(size=(6, 1024)) * 10.0 ** rng.uniform(0, 4, (6, 1))
    budget = allocation.band_power(coefs * coefs, edges) * 10.0 ** rng.uniform(-4, 0.3, (6, len(widths)))
    sf, q, floor = pc._quantise(coefs, budget, edges)
    active = sf != pc.INACTIVE
    assert active.any() and (~active).any()

    def noise(sf_):
        step = np.repeat(pc.step_size(np.where(active, sf_, 0)), widths, axis=-1)
        a = np.abs(coefs) / step
        q_ref = np.where(a < 1.0, (a >= 1.0 - pc.ROUNDING[0]).astype(float), np.floor(a + pc.ROUNDING[1]))
        err = (a - q_ref) * step
        return allocation.band_power(err * err, edges)

    got, coarser = noise(sf), noise(sf + 1)
    free = active & (sf > floor)  # not held fine by the coder's range
    assert (got[active] <= budget[active] * pc.NOISE_TOLERANCE * (1 + 1e-9)).all()
    assert (coarser[free] > budget[free] * pc.NOISE_TOLERANCE).mean() > 0.95  # noise is almost monotonic in the step
    assert not q[np.repeat(~active, widths, axis=-1)].any()  # a band below its budget is not coded


def test_quantiser_drops_bands_within_drop_db_of_their_budget():
    """With ``drop_db`` a band is coded only if its energy is more than that far above its budget; the
    bands it codes are quantised exactly as without it."""
    from snc.codecs import perceptual as pc

    rng = np.random.default_rng(47)
    edges = band_edges(1024)
    widths = np.diff(edges)
    coefs = rng.laplace(size=(6, 1024)) * 10.0 ** rng.uniform(0, 4, (6, 1))
    energy = allocation.band_power(coefs * coefs, edges)
    budget = energy * 10.0 ** rng.uniform(-0.6, 0.1, (6, len(widths)))  # 0..6 dB below the energy
    sf0, q0, _ = pc._quantise(coefs, budget, edges)
    sf3, q3, _ = pc._quantise(coefs, budget, edges, drop_db=3.0)
    coded0, coded3 = sf0 != pc.INACTIVE, sf3 != pc.INACTIVE
    assert np.array_equal(coded3, energy > budget * 10.0 ** 0.3)
    assert (coded0 & ~coded3).sum() > 20 and not (coded3 & ~coded0).any()
    np.testing.assert_array_equal(sf3[coded3], sf0[coded3])
    keep = np.repeat(coded3, widths, axis=-1)
    np.testing.assert_array_equal(q3[keep], q0[keep])
    assert not q3[~keep].any()


def test_meet_snr_counts_dropped_bands_with_their_energy():
    """A stem's SNR floor holds with the bands its codec drops (energy <= drop_db above the noise)
    counted at their energy, and the water-filling is not stricter than it needs to be."""
    rng = np.random.default_rng(48)
    widths = np.diff(band_edges(1024)).astype(float)
    energy = 10.0 ** rng.uniform(2, 6, (4, len(widths)))
    noise = energy * 10.0 ** rng.uniform(-2.5, 0.0, energy.shape)  # many bands just under their energy
    for drop_db in (0.0, 3.0):
        capped = allocation._meet_snr(noise, energy, widths, 20.0, drop_db)
        effective = np.where(energy <= capped * 10.0 ** (drop_db / 10.0), energy, capped)
        snr = 10 * np.log10((energy * widths).sum() / (effective * widths).sum())
        assert 20.5 - 1e-6 <= snr <= 20.5 + 0.2
    plain = allocation._meet_snr(noise, energy, widths, 20.0, 0.0)
    assert (allocation._meet_snr(noise, energy, widths, 20.0, 3.0) <= plain).all()


def test_stems_drop_bands_near_their_budget_and_keep_their_snr(song, codecs_made, monkeypatch):
    """The perceptual presets give the stems' codec ``stem_drop_db`` (fewer bytes); the residual and a
    mix coded alone keep 0; every decoded stem still meets the preset's SNR floor."""
    from snc.encode import tuning as enc

    made = codecs_made
    tuning = enc.PERCEPTUAL_TUNING["transparent"]
    assert tuning.stem_drop_db > 0
    report, buf = _encode(song.mix, song.stems, "transparent")
    assert [c.drop_db for c in made] == [tuning.stem_drop_db, 0.0]  # the stems' codec, the residual's
    made.clear()
    _encode(song.mix, None, "transparent")
    assert [c.drop_db for c in made] == [0.0, 0.0]
    monkeypatch.setitem(enc.PERCEPTUAL_TUNING, "transparent", dataclasses.replace(tuning, stem_drop_db=0.0))
    assert _encode(song.mix, song.stems, "transparent")[0].file_bytes > report.file_bytes
    with snc.open(buf) as f:
        for name, stem in song.stems.items():
            got = f.read(stem=name, dtype="native").astype(float)
            snr = 10 * np.log10((stem.astype(float) ** 2).sum() / ((got - stem) ** 2).sum())
            assert snr >= tuning.stem_snr_db - 0.5, (name, snr)


# ----------------------------------------------------------------------------- transients
@pytest.mark.parametrize("start", [3000, 5000, 6100, 8192])
def test_transient_short_frames_and_no_pre_echo(start):
    n = 16384
    x = drum_hit(n, start, 20000.0)
    codec = make_codec()
    kinds, _ = codec.analyse(x)
    t = (start + 448) // 1024  # the frame whose short windows hold the attack (spec/perceptual-transform.md 3.3)
    assert kinds[t] == mdct.SHORT and kinds[t - 1] == mdct.START and kinds[t + 1] == mdct.STOP
    assert mdct.is_legal(kinds) and (kinds == mdct.LONG).sum() >= len(kinds) - 4
    data, y = roundtrip(codec, x)
    err = (y - x).astype(np.float64)[:, 0]
    hit = float((x[start:, 0].astype(np.float64) ** 2).sum())
    pre_echo = float((err[:start] ** 2).sum())
    assert pre_echo < hit * 1e-3, 10 * np.log10(pre_echo / hit)  # < -30 dB (measured about -64 dB)
    assert snr_db(x, y) > 15.0
    # the same packet with long windows only: the noise leaks far further ahead of the attack
    F = mdct.n_frames(n)
    longs = np.zeros(F, np.int64)
    spectra = mdct.forward(x[:, 0].astype(np.float64), longs)[:, None, :]
    y_long = codec.decode(codec.encode(x, analysis=(longs, spectra)), n)
    pre_long = float((((y_long - x).astype(np.float64)[:start, 0]) ** 2).sum())
    assert pre_long > 4.0 * max(pre_echo, 1.0)


@pytest.mark.parametrize("kind", ["sine", "white", "silence", "music"])
def test_steady_signals_use_long_frames(kind):
    n = 8192
    rng = np.random.default_rng(9)
    x = {"sine": np.round(20000 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100))[:, None],
         "white": rng.integers(-20000, 20000, (n, 2)),
         "silence": np.zeros((n, 1)),
         "music": music(n, 2)}[kind].astype(np.int32)
    kinds, spectra = make_codec(channels=x.shape[1]).analyse(x)
    assert (kinds == mdct.LONG).all()
    assert spectra.shape == (mdct.n_frames(n), x.shape[1], 1024)


def test_stereo_transient_in_one_channel():
    """Frame kinds are shared by all channels: an attack in the right channel switches both, and the
    silent left channel stays silent."""
    n = 8192
    x = np.concatenate([np.zeros((n, 1), np.int32), drum_hit(n, 4000, 15000.0)], axis=1)
    codec = make_codec(channels=2)
    kinds, _ = codec.analyse(x)
    assert (kinds == mdct.SHORT).any()
    data, y = roundtrip(codec, x)
    assert not y[:, 0].any()
    pre = float(((y[:4000, 1] - x[:4000, 1]).astype(np.float64) ** 2).sum())
    assert pre < 1e-3 * float((x[:, 1].astype(np.float64) ** 2).sum())


# ----------------------------------------------------------------------------- edge signals
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("frames", [1, 1024, 1025, 16384])
def test_silence_costs_almost_nothing(channels, frames):
    data, y = roundtrip(make_codec(channels=channels), np.zeros((frames, channels), np.int32))
    assert not y.any()
    assert len(data) <= 8 + mdct.n_frames(frames) * channels / 8  # a fraction of a byte per frame and channel


@pytest.mark.parametrize("value", [1000, -3000, 32767, -32768])
def test_dc(value):
    x = np.full((8192, 2), value, np.int32)
    data, y = roundtrip(make_codec(channels=2), x)
    assert snr_db(x, y) > 15.0
    assert np.sign(y[1024:-1024]).tolist() == np.sign(x[1024:-1024]).tolist()  # no wraparound
    assert len(data) < 4000


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
@pytest.mark.parametrize("kind", ["sine", "square"])
def test_full_scale_clamps_without_wraparound(bits, kind):
    """A full-scale square overshoots (Gibbs) and a full-scale sine touches the rails: the decoder must clamp
    to the stream's range (spec section 6), never wrap around to the opposite sign."""
    n = 8192
    lo, hi = full_scale(bits)
    if kind == "sine":
        v = np.round((hi + 0.5) * np.sin(2 * np.pi * 1000 * np.arange(n) / 44100))
    else:
        v = np.where((np.arange(n) // 37) % 2 == 0, hi, lo)
    x = np.clip(v, lo, hi).astype(np.int64).astype(np.int32)[:, None]
    data, y = roundtrip(make_codec(bits=bits), x)
    assert snr_db(x, y) > 12.0
    big = np.abs(x[:, 0].astype(np.int64)) > hi // 2
    assert (np.sign(y[big, 0]) == np.sign(x[big, 0])).all()
    assert int(y.max()) == hi and int(y.min()) == lo  # overshoot clamped to the rails


def test_band_limited_noise_keeps_high_band_silent():
    sr, n = 44100, 16384
    rng = np.random.default_rng(7)
    sos = signal.butter(10, 2000.0, fs=sr, output="sos")
    x = np.round(signal.sosfilt(sos, rng.normal(0, 6000, n))).astype(np.int32)[:, None]
    data, y = roundtrip(make_codec(samplerate=sr), x)
    total = band_energy(x, sr, 0, sr)
    assert band_energy(y, sr, 4000, sr) < total * 1e-4  # < -40 dB (measured -53 dB, input -58 dB)
    assert snr_db(x, y) > 7.0
    assert len(data) < x.size * 2 / 10


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


def test_noise_substitution_rules():
    """Noise bands only from NOISE_SUBSTITUTION[0] Hz up, only in LONG frames, only where the budget would
    code the band at a low SNR; the decoder's noise is the same on every run (spec 4.1)."""
    sent = []
    real = pk.encode_packet

    class Spy:
        def __getattr__(self, name):
            return getattr(pk, name)

        @staticmethod
        def encode_packet(kinds, ms, sf, nf, q, buf):
            sent.append((kinds.copy(), nf.copy(), q.copy()))
            return real(kinds, ms, sf, nf, q, buf)

    x = np.concatenate([np.random.default_rng(9).normal(0, 3000, (8192, 2)), drum_hit(8192, 4000, 30000.0).repeat(2, 1)])
    x = x.astype(np.int32)
    codec = make_codec(channels=2, quality_db=6.0)
    F = mdct.n_frames(len(x))
    kinds, spectra = codec.analyse(x)
    assert (kinds == mdct.SHORT).any()
    original = perceptual._kernels
    perceptual._kernels = lambda: (mdct, Spy())
    try:
        data = codec.encode(x)
        # a budget 20 dB under every band: everything coded, nothing substituted
        quiet = codec.encode(x, noise=np.full((F, 2, 1024), 1e-2) * (spectra ** 2).mean())
    finally:
        perceptual._kernels = original
    (kinds, nf, q), (_, nf_quiet, _) = sent
    first = int(np.searchsorted(perceptual.EDGES_LONG * 44100 / 2048, perceptual.NOISE_SUBSTITUTION[0]))
    assert nf[:, :, first:].any() and not nf[:, :, :first].any()
    assert not nf[kinds == mdct.SHORT].any()
    widths = np.diff(perceptual.EDGES_LONG)
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
    codec.noise_fill = True
    filled = codec.decode(codec.encode(x, noise=loud), len(x))
    core = slice(4096, -4096)
    assert np.abs(dropped[core]).max() == 0
    ratio = (filled[core].astype(np.float64) ** 2).mean() / (x[core].astype(np.float64) ** 2).mean()
    assert 0.5 < ratio < 2.0


def test_coarser_offsets_widen_noise_bands_of_streams_heard_alone():
    from snc.encode.tuning import NOISE_LOWEST_HZ, NOISE_WIDEN_DB, PERCEPTUAL_TUNING

    t = PERCEPTUAL_TUNING["compact"]
    hz, snr = t.noise_alone
    wide = t.shifted(NOISE_WIDEN_DB)
    assert wide.noise_alone == (hz / 2, snr + NOISE_WIDEN_DB) and wide.noise_fill
    assert t.shifted(40.0).noise_alone[0] == NOISE_LOWEST_HZ
    assert wide.noise_residual == t.noise_residual  # the residual is not heard alone: unchanged
    assert not t.shifted(0.0).noise_fill and not t.shifted(-2.0).noise_fill
    assert t.shifted(-2.0).noise_alone == (hz, snr - 2.0)


# ----------------------------------------------------------------------------- layouts, rates, lengths, depths
@pytest.mark.parametrize("samplerate", RATES)
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_channels_and_rates(channels, samplerate):
    x = music(8192, channels, samplerate=samplerate, seed=channels)
    data, y = roundtrip(make_codec(channels=channels, samplerate=samplerate), x)
    assert snr_db(x, y) > 12.0


def test_six_channels_are_independent():
    """5.1: silent channels stay silent and every channel keeps its own content."""
    n = 8192
    x = np.zeros((n, 6), np.int32)
    x[:, 0] = music(n, 1, seed=20)[:, 0]
    x[:, 2] = music(n, 1, seed=21)[:, 0] // 3
    x[:, 5] = np.round(8000 * np.sin(2 * np.pi * 60 * np.arange(n) / 48000))  # LFE
    data, y = roundtrip(make_codec(channels=6, samplerate=48000), x)
    assert not y[:, [1, 3, 4]].any()
    for c in (0, 2, 5):
        assert snr_db(x[:, c], y[:, c]) > 12.0


@pytest.mark.parametrize("frames", [1, 2, 1023, 1024, 1025, 32768 + 7])
def test_lengths(frames):
    x = music(frames, 2, seed=frames)
    data, y = roundtrip(make_codec(channels=2), x)
    if frames >= 1023:
        assert snr_db(x, y) > 12.0


@pytest.mark.parametrize("bits", [8, 12, 16, 20, 24, 32])
def test_bit_depths(bits):
    """The threshold scales with full scale, so the same music at any depth codes alike."""
    x = music(8192, 2, bits=bits, seed=6)
    data, y = roundtrip(make_codec(channels=2, bits=bits), x)
    assert snr_db(x, y) > 15.0


@settings(max_examples=15, deadline=None)
@given(frames=st.integers(1, 5000), channels=st.integers(1, 8), bits=st.sampled_from([8, 16, 24, 32]),
       rate=st.sampled_from(RATES), seed=st.integers(0, 2**32 - 1), quality=st.sampled_from([-12.0, 0.0, 6.0]))
def test_random_roundtrip_property(frames, channels, bits, rate, seed, quality):
    x = music(frames, channels, bits=bits, samplerate=rate, seed=seed)
    codec = make_codec(channels, bits, rate, quality)
    data, y = roundtrip(codec, x)
    assert np.array_equal(codec.decode(data, frames), y)
    if frames >= 2048:
        assert snr_db(x, y) > 6.0


# ----------------------------------------------------------------------------- determinism, golden packets
def test_decode_and_encode_are_deterministic():
    x = np.concatenate([music(12000, 2, seed=10), drum_hit(12000, 7000, 12000.0).repeat(2, 1)])
    codec = make_codec(channels=2)
    data = codec.encode(x)
    a = codec.decode(data, len(x))
    b = make_codec(channels=2).decode(bytearray(data), len(x))
    c = get_codec("perceptual", codec.get_config()).decode(memoryview(data), len(x))
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert codec.encode(x) == data


def test_frame_count_is_part_of_the_contract():
    """Packets of L and L' samples with the same frame count are different packets: the decoder must not
    accept extra frames, and the frame count is part of the contract (spec section 3)."""
    x = music(3000, 1)
    data = make_codec().encode(x)
    assert mdct.n_frames(3000) == mdct.n_frames(3072)
    y = make_codec().decode(data, 3072)  # same frame count: decodes; the first 3000 samples agree
    assert np.array_equal(y[:3000], make_codec().decode(data, 3000))
    for frames in (1024, 2048, 4097, 0):  # a different frame count: rejected
        with pytest.raises(CodecError):
            make_codec().decode(data, frames)


def golden_cases():
    return json.loads((FIXTURES / "vectors.json").read_text())["packets"]


@pytest.mark.parametrize("case", golden_cases(), ids=lambda c: c["name"])
def test_golden_packets(case):
    """The stored packets must decode to the stored hashes forever (integer-only decoder, spec 1-7).
    Decoding as 32-bit and clamping gives the same samples: the clamp is the last step (spec 6)."""
    codec = get_codec(case["codec_id"], case["config"])
    data = (FIXTURES / case["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == case["packet_sha256"]
    out = codec.decode(data, case["frames"])
    assert out.shape == (case["frames"], case["config"]["channels"]) and out.dtype == np.int32
    assert hashlib.sha256(out.astype("<i4").tobytes()).hexdigest() == case["samples_sha256"]
    wide = PerceptualCodec(bits=32, channels=case["config"]["channels"]).decode(data, case["frames"])
    lo, hi = full_scale(case["config"]["bits"])
    assert np.array_equal(np.clip(wide, lo, hi), out)
    assert ("clamp" in case["features"]) == (not np.array_equal(wide, out))


def test_golden_packets_cover_the_decoder():
    feats = set().union(*(c["features"] for c in golden_cases()))
    needed = {"long", "start", "short", "stop", "ms", "lr", "ms_short", "clamp", "empty", "escape",
              "partial_frame", "sf_negative", "shift_left", "all_mantissas", "handmade",
              "channels1", "channels2", "channels6", "bits8", "bits16", "bits20", "bits24", "bits32",
              "noise", "noise_short", "noise_ms"}
    assert needed <= feats, needed - feats


def test_golden_empty_packet_is_the_version_byte():
    (case,) = [c for c in golden_cases() if "empty" in c["features"]]
    assert (FIXTURES / case["file"]).read_bytes() == bytes([pk.VERSION])
    assert make_codec(channels=2).encode(np.zeros((0, 2), np.int32)) == bytes([pk.VERSION])


def _dequantise_reference(q, sf, short: bool, nf=None, seed: int = 0):
    """spec/codec-perceptual.md section 4 with Python integers: ``(out, next seed)``, or None where a
    decoder must reject; ``nf``: noise bands (4.1), whose values are +-1 with the generator's signs."""
    edges = coefcode.EDGES_SHORT if short else coefcode.EDGES_LONG
    width, nblk = (128, 8) if short else (1024, 1)
    out = [0] * 1024
    for b in range(len(edges) - 1):
        s = int(sf[b])
        m, e = int(pk.MANT[s & 3]), (s >> 2) - 30 + mdct.COEF_FRAC
        for j in range(nblk):
            for k in range(j * width + int(edges[b]), j * width + int(edges[b + 1])):
                if nf is not None and nf[b]:
                    seed = (seed * 1664525 + 1013904223) % (1 << 32)
                    v = -m if seed >= 1 << 31 else m
                else:
                    v = int(q[k]) * m
                if v == 0:
                    out[k] = 0
                elif e >= 0:
                    if e > 47 or abs(v) > ((1 << 47) - 1) >> e:
                        return None
                    out[k] = v << e
                elif e > -62:
                    out[k] = (v + (1 << (-e - 1))) >> -e
                else:
                    out[k] = 0
    return out, seed


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("short", [False, True])
def test_dequantise_matches_spec_formula(short, noise):
    rng = np.random.default_rng(30 + short + 2 * noise)
    nb = coefcode.NB_SHORT if short else coefcode.NB_LONG
    rejected = accepted = 0
    seed = 3
    for trial in range(40):
        sf = np.zeros(coefcode.NB_LONG, np.int64)
        # odd trials: any legal sf (large ones overflow: rejected); even: sf <= 40, always in range
        sf[:nb] = rng.integers(pk.SF_MIN, pk.SF_MAX + 1, nb) if trial % 2 else rng.integers(pk.SF_MIN, 41, nb)
        mags = rng.choice([0, 1, 2, 3, 100, 1 << 12, 1 << 20, pk.Q_LIMIT], 1024, p=[.3, .2, .1, .1, .1, .1, .05, .05])
        q = (mags * rng.choice([-1, 1], 1024)).astype(np.int64)
        nf = (rng.random(coefcode.NB_LONG) < 0.3).astype(np.int64) if noise else np.zeros(coefcode.NB_LONG, np.int64)
        for b in np.nonzero(nf[:nb])[0]:  # a noise band's values are not coded: zero
            e = (coefcode.EDGES_SHORT if short else coefcode.EDGES_LONG)[b : b + 2]
            q.reshape(-1, 128 if short else 1024)[:, e[0] : e[1]] = 0
        out = np.zeros(1024, np.int64)
        got = pk.dequantise(q, sf, nf, short, out, seed)
        ref = _dequantise_reference(q, sf, short, nf, seed)
        assert (got >= 0) == (ref is not None)
        if ref is not None:
            accepted += 1
            assert out.tolist() == ref[0] and got == ref[1]
            seed = got
        else:
            rejected += 1
    assert accepted > 5 and rejected > 5
    # spec section 1: -5 & 3 == 3 and -5 >> 2 == -2 -> step 2^(-5/4) = MANT[3] * 2^(-2 - 30)
    sf = np.full(coefcode.NB_LONG, -5, np.int64)
    q = np.zeros(1024, np.int64)
    q[0] = 1000
    out = np.zeros(1024, np.int64)
    assert pk.dequantise(q, sf, np.zeros(coefcode.NB_LONG, np.int64), short, out, 0) == 0
    assert out[0] == (1000 * int(pk.MANT[3]) + (1 << 23)) >> 24 == round(1000 * 2 ** (-5 / 4) * 256)


# ----------------------------------------------------------------------------- presets (snc.encode)
@pytest.fixture(scope="module")
def song():
    from snc.demo.synth import synthesize_song

    return synthesize_song(duration=0.4, samplerate=44100, channels=2, seed=3)


def _encode(mix, stems, preset, samplerate=44100, bits=16, **kw):
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=samplerate, bits=bits, preset=preset,
                        segment_frames=8192, **kw)
    buf.seek(0)
    return report, buf


def test_lossless_preset_mix_is_bit_exact(song):
    report, buf = _encode(song.mix, song.stems, "lossless")
    codecs = {s["name"]: s["codec"] for s in report.streams}
    assert codecs == {"drums": "perceptual", "bass": "perceptual", "other": "perceptual", "vocals": "perceptual",
                      "residual": "lossless"}
    with snc.open(buf) as f:
        assert f.info.preset == "lossless"
        assert np.array_equal(f.read(dtype="native"), song.mix)
        v = f.verify()
        assert v["mix"] and all(v["streams"].values())
        for name, stem in song.stems.items():
            assert snr_db(stem, f.read(stem=name, dtype="native")) > 12.0, name
    archival, _ = _encode(song.mix, song.stems, "archival")
    assert report.file_bytes < 0.8 * archival.file_bytes


def test_lossless_preset_exact_24bit_6ch():
    mix, stems = random_multitrack(seed=4, frames=6000, channels=6, bits=24, stems=3)
    report, buf = _encode(mix, stems, "lossless", samplerate=48000, bits=24)
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        assert all(f.verify()["streams"].values())


def test_transparent_and_compact_decode_and_verify(song):
    for preset in ("transparent", "compact"):
        report, buf = _encode(song.mix, song.stems, preset)
        assert {s["codec"] for s in report.streams} == {"perceptual"}
        with snc.open(buf) as f:
            assert f.info.preset == preset
            v = f.verify()
            assert v["mix"] and all(v["streams"].values())
            mix = f.read(dtype="native")
            assert mix.shape == song.mix.shape and snr_db(song.mix, mix) > 8.0
            for name in song.stems:
                assert f.read(stem=name, dtype="native").shape == song.mix.shape
            assert f.read(mute=["vocals"]).shape == song.mix.shape


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # test_infinite_budget_is_clean
def test_transparent_without_stems(song):
    report, buf = _encode(song.mix, None, "transparent")
    assert [s["codec"] for s in report.streams] == ["perceptual", "perceptual"]
    with snc.open(buf) as f:
        assert all(f.verify()["streams"].values())
        assert snr_db(song.mix, f.read(dtype="native")) > 8.0


def test_lead_stem_keeps_more_snr_and_is_stored(song, tmp_path):
    """The lead stem (``lead=``; by default the vocals) is coded to ``lead_snr_db`` instead of ``stem_snr_db``:
    muted by karaoke, little of it is left.  The file names it (META ``lead``) only when asked."""
    def snrs(buf):
        with snc.open(buf) as f:
            return f.lead, {n: snr_db(s, f.read(stem=n, dtype="native")) for n, s in song.stems.items()}

    from snc.encode.tuning import PERCEPTUAL_TUNING

    tuning = PERCEPTUAL_TUNING["transparent"]
    assert tuning.lead_snr_db > tuning.stem_snr_db
    lead, default = snrs(_encode(song.mix, song.stems, "transparent")[1])
    assert lead is None and default["vocals"] >= tuning.lead_snr_db - 0.5
    lead, drums = snrs(_encode(song.mix, song.stems, "transparent", lead="drums")[1])
    assert lead == "drums" and drums["drums"] >= tuning.lead_snr_db - 0.5
    assert drums["drums"] > default["drums"] + 1.0 and drums["vocals"] < default["vocals"] - 1.0
    for bad, stems in (("nobody", song.stems), ("vocals", None), ("", song.stems)):
        with pytest.raises(snc.InputError, match="lead"):
            snc.encode(song.mix, tmp_path / "x.snc", stems=stems, samplerate=44100, bits=16, lead=bad)
        assert not (tmp_path / "x.snc").exists()


def test_remix_headroom_is_validated(song):
    for bad in (-1.0, 24.5, float("nan")):
        with pytest.raises(snc.InputError):
            _encode(song.mix, song.stems, "transparent", remix_headroom=bad)


def test_compact_smaller_than_transparent_and_headroom_costs_bytes(song):
    """A coarser preset or less remix headroom must not make the file bigger.  (Regression: an intermediate
    allocation scaled each stem's whole noise vector to meet the 20 dB SNR floor, re-coding the bands
    water-filling had dropped, and compact files came out larger than transparent ones.)"""
    def stem_and_total(preset, headroom=6.0):
        report, _ = _encode(song.mix, song.stems, preset, remix_headroom=headroom)
        return sum(s["bytes"] for s in report.streams if s["name"] != "residual"), report.file_bytes

    transparent, compact = stem_and_total("transparent"), stem_and_total("compact")
    assert compact[1] < 0.9 * transparent[1] and compact[0] <= transparent[0]
    assert stem_and_total("transparent", 0.0)[0] < stem_and_total("transparent", 12.0)[0]


def _full_scale_tone_burst(n=8192, samplerate=44100):
    x = np.zeros((n, 1), np.int64)
    k = np.arange(3000)
    x[3000:6000, 0] = np.round(32767 * np.sin(2 * np.pi * 1000 * k / samplerate))
    return x.clip(-32768, 32767).astype(np.int32)


@pytest.mark.parametrize("preset", ["lossless", "transparent"])
def test_full_headroom_encodes_a_full_scale_burst(preset):
    x = _full_scale_tone_burst()
    report, buf = _encode(x, {"tone": x}, preset, remix_headroom=24.0)
    with snc.open(buf) as f:
        assert all(f.verify()["streams"].values())


# ----------------------------------------------------------------------------- allocation
def _mask_and_stems(seed=41, F=3, C=2, K=3, stem_db=(-10, 60)):
    rng = np.random.default_rng(seed)
    mask = 10.0 ** rng.uniform(0, 3, (F, C, 1024))
    stems = [10.0 ** (rng.uniform(*stem_db, (F, C, 1024)) / 10) * rng.uniform(0.1, 1) for _ in range(K)]
    stems[-1][:, :, :200] = 0.0  # a stem silent in the low bands
    return mask, stems


def _rate_bits(noise, power, edges):
    """Gaussian rate estimate of coding ``power`` at ``noise``: sum over bands of w/2 log2(E/N)."""
    e, n = allocation.band_power(power, edges), allocation.band_power(noise, edges)
    return float((np.diff(edges) * 0.5 * np.log2(np.maximum(e / n, 1.0))).sum())


def test_allocate_residual_gets_half_the_scaled_mask():
    mask, stems = _mask_and_stems()
    edges = band_edges(1024)
    for q in (0.0, -8.0, 3.0):
        _, res = allocation.allocate(mask, stems, quality_db=q)
        t = np.minimum.reduceat(mask, edges[:-1], axis=-1) * 10.0 ** (q / 10.0)
        np.testing.assert_allclose(res, allocation.expand_bands(t / 2, edges), rtol=1e-12)
        assert (res <= mask * 10.0 ** (q / 10.0) / 2 * (1 + 1e-12)).all()  # flat per band, under every bin
    out, res = allocation.allocate(mask, [])
    assert out == [] and res.shape == mask.shape


def test_allocate_residual_mask_binds_the_residual_alone():
    """A stricter threshold for the mix (speech and band floors) lowers the residual's budget and leaves
    the stems' budgets exactly as they were."""
    mask, stems = _mask_and_stems(seed=44)
    strict = mask * 10.0 ** (-12 / 10)
    noise, res = allocation.allocate(mask, stems, quality_db=3.0)
    noise_s, res_s = allocation.allocate(mask, stems, quality_db=3.0, residual_mask=strict)
    for a, b in zip(noise, noise_s):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(res_s, res * 10.0 ** (-12 / 10), rtol=1e-12)


def test_band_floor_keeps_every_band_coded():
    rng = np.random.default_rng(45)
    power = 10.0 ** rng.uniform(-3, 6, (3, 2, 1024))
    edges = band_edges(1024)
    for snr in (0.5, 1.0, 6.0):
        floor = allocation.band_floor(power, snr)
        fb = allocation.band_power(floor, edges)
        np.testing.assert_allclose(floor, allocation.expand_bands(fb, edges), rtol=1e-12)  # flat per band
        np.testing.assert_allclose(fb, allocation.band_power(power, edges) * 10 ** (-snr / 10), rtol=1e-12)


@pytest.mark.parametrize("stem_db", [(-10, 60), (-10, 20)])
@pytest.mark.parametrize("headroom", [0.0, 3.0, 6.0, 12.0, 24.0])
def test_allocate_stem_noise_bound(headroom, stem_db):
    """Every stem: (g - 1)^2 max(1, K/4) N_k <= T / 2 (spec 9), one flat level per band, never above a
    band's energy, and its segment SNR at least MIN_STEM_SNR_DB."""
    mask, stems = _mask_and_stems(stem_db=stem_db)
    edges = band_edges(1024)
    widths = np.diff(edges)
    noise, res = allocation.allocate(mask, stems, headroom_db=headroom, quality_db=-8.0)
    assert len(noise) == len(stems) and all(n.shape == mask.shape for n in noise)
    t = np.minimum.reduceat(mask, edges[:-1], axis=-1) * 10.0 ** (-8.0 / 10.0)
    nb = [allocation.band_power(n, edges) for n in noise]
    energies = [allocation.band_power(s, edges) for s in stems]
    g = 10.0 ** (headroom / 20.0)
    if headroom > 0:
        for n in nb:
            assert ((g - 1.0) ** 2 * max(1.0, len(stems) / 4) * n <= t / 2 * (1 + 1e-9) + 1e-9).all()
    for n, e in zip(noise, energies):
        nbk = allocation.band_power(n, edges)
        np.testing.assert_allclose(n, allocation.expand_bands(nbk, edges), rtol=1e-12)  # flat per band
        assert (nbk <= np.maximum(e, 1e-12) * (1 + 1e-12)).all()
        snr = 10 * np.log10((e * widths).sum() / (nbk * widths).sum())
        assert snr >= allocation.MIN_STEM_SNR_DB - 1e-6
    silent = np.zeros_like(nb[-1], bool)
    silent[..., : np.searchsorted(edges, 200, side="right") - 1] = True  # bands wholly below bin 200
    assert silent.sum() > 10 and (nb[-1][silent] <= 1e-12 * (1 + 1e-9)).all()  # silent bands of a stem: nothing to code


def test_allocate_snr_per_stem():
    """One SNR per stem: each stem keeps its own (the lead's is higher); a scalar is every stem's."""
    mask, stems = _mask_and_stems(seed=46, stem_db=(-10, 20))
    edges = band_edges(1024)
    widths = np.diff(edges)

    def snrs(noise):
        return [10 * np.log10((allocation.band_power(s, edges) * widths).sum()
                              / (allocation.band_power(n, edges) * widths).sum()) for s, n in zip(stems, noise)]

    plain, res = allocation.allocate(mask, stems, quality_db=-8.0, stem_snr_db=20.0)
    lead, res_lead = allocation.allocate(mask, stems, quality_db=-8.0, stem_snr_db=[20.0, 26.0, 20.0])
    np.testing.assert_array_equal(res, res_lead)
    for k in (0, 2):
        np.testing.assert_array_equal(plain[k], lead[k])
    got = snrs(lead)
    assert got[1] >= 26.0 - 1e-6 and got[1] > snrs(plain)[1] + 3
    with pytest.raises(ValueError):
        allocation.allocate(mask, stems, stem_snr_db=[20.0, 26.0])


@pytest.mark.parametrize("k", [1, 3, 4, 6])
def test_allocate_loud_stems_get_the_bound(k):
    """Stems far above the mask (their SNR floor already met): coded bands get exactly the per-stem bound
    B = T / (2 (g-1)^2 max(1, K/4)), whatever the other stems do; bands where a stem is quieter than B get
    its own energy (dropped, zero bits)."""
    rng = np.random.default_rng(43)
    F, C = 2, 2
    mask = 10.0 ** rng.uniform(0, 2, (F, C, 1024))
    stems = [10.0 ** rng.uniform(5, 7, (F, C, 1024)) for _ in range(k)]
    stems[0][:, :, 300:600] = 1e-3  # stem 0 very quiet there
    edges = band_edges(1024)
    for headroom in (3.0, 6.0, 12.0):
        noise, _ = allocation.allocate(mask, stems, headroom_db=headroom)
        t = np.minimum.reduceat(mask, edges[:-1], axis=-1)
        bound = t * allocation.STEM_SHARE / ((10 ** (headroom / 20) - 1) ** 2 * max(1.0, k / 4))
        np.testing.assert_allclose(allocation.stem_noise_bound(t, headroom, k), bound, rtol=1e-12)
        quiet_seen = 0
        for s, n in zip(stems, noise):
            e, nbk = allocation.band_power(s, edges), allocation.band_power(n, edges)
            quiet = e <= bound
            quiet_seen += int(quiet.sum())
            np.testing.assert_allclose(nbk[quiet], e[quiet], rtol=1e-12)
            np.testing.assert_allclose(nbk[~quiet], bound[~quiet], rtol=1e-12)
        assert quiet_seen > 0


def test_allocate_headroom_direction():
    """More remix headroom -> less total stem noise (never more); the residual's budget does not move."""
    mask, stems = _mask_and_stems(seed=42)
    prev = None
    for h in (0.0, 6.0, 12.0, 24.0):
        noise, res = allocation.allocate(mask, stems, headroom_db=h)
        total = np.array([float(n.sum()) for n in noise])
        if prev is not None:
            assert (total <= prev[0] * (1 + 1e-9)).all() and (total < prev[0]).any()
            np.testing.assert_array_equal(res, prev[1])
        prev = (total, res)


@pytest.fixture(scope="module")
def song_powers(song):
    from snc.psycho import masking_threshold, power_spectrum

    mask = masking_threshold(song.mix.astype(np.float64), song.samplerate, 32768.0)
    return mask, [power_spectrum(s.astype(np.float64)) for s in song.stems.values()]


@pytest.mark.parametrize("knob", ["quality_db", "headroom_db"])
def test_allocate_rate_is_monotonic(song_powers, knob):
    """A coarser setting (higher quality_db, lower remix headroom) must never make a stem cost more bits."""
    mask, powers = song_powers
    edges = band_edges(1024)
    settings_ = [{"quality_db": q} for q in (-8.0, 0.0, 3.0)] if knob == "quality_db" else \
        [{"headroom_db": h} for h in (24.0, 12.0, 6.0, 0.0)]
    prev = None
    for kw in settings_:  # from fine to coarse
        noise, _ = allocation.allocate(mask, powers, **kw)
        bits = np.array([_rate_bits(n, p, edges) for n, p in zip(noise, powers)])
        if prev is not None:
            assert (bits <= prev * 1.01 + 100).all(), (kw, bits, prev)
        prev = bits


# ----------------------------------------------------------------------------- corrupt packets
def _small_packet():
    """A stereo packet with LONG/START/SHORT/STOP frames and mid/side (3000 frames)."""
    n = 3000
    x = music(n, 2, seed=50) // 16
    x += drum_hit(n, 1500, 12000.0).repeat(2, axis=1)
    codec = make_codec(channels=2)
    kinds, _ = codec.analyse(x)
    assert (kinds == mdct.SHORT).any()
    return codec, codec.encode(x), n


def _decode_or_codec_error(codec, data, frames):
    try:
        y = codec.decode(data, frames)
    except CodecError:
        return False
    assert y.shape == (frames, codec.channels) and y.dtype == np.int32
    return True


def test_truncations_raise_codec_error(watchdog):
    """Every truncation is rejected, except that the range coder's last (up to 4) flush bytes only narrow
    the final interval: dropping or appending a few of them need not be detected by the packet
    (spec/perceptual-entropy.md 2.6; the container's size and CRC-32 cover it), but must decode cleanly."""
    codec, data, n = _small_packet()
    assert len(data) > 200
    for i in range(len(data) - 4):
        with pytest.raises(CodecError):
            codec.decode(data[:i], n)
    for i in range(len(data) - 4, len(data)):
        _decode_or_codec_error(codec, data[:i], n)
    for extra in (b"\x00", b"\xff\x00"):
        _decode_or_codec_error(codec, data + extra, n)
    for extra in (bytes(5), b"\x55" * 40):
        with pytest.raises(CodecError):
            codec.decode(data + extra, n)


def test_bit_flips_fail_cleanly(watchdog):
    codec, data, n = _small_packet()
    rng = np.random.default_rng(51)
    decoded = 0
    for _ in range(400):
        b = bytearray(data)
        for pos in rng.integers(0, len(b) * 8, int(rng.integers(1, 4))):
            b[pos // 8] ^= 1 << (pos % 8)
        decoded += _decode_or_codec_error(codec, bytes(b), n)
    assert decoded < 200  # most corruptions are detected


def test_random_garbage_fails_cleanly(watchdog):
    rng = np.random.default_rng(52)
    for channels in (1, 2, 6):
        codec = make_codec(channels=channels, bits=24)
        for _ in range(100):
            data = bytes([pk.VERSION]) + rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
            for frames in (1, 1024, 5000):
                _decode_or_codec_error(codec, data, frames)


@pytest.mark.parametrize("data,frames", [
    (b"", 100), (b"\x00", 100), (b"\x02" + bytes(50), 100), (b"\xff" * 10, 100),  # bad version byte
    (b"", 0), (b"\x01\x00", 0), (b"\x00", 0),  # an empty packet is exactly the version byte
    (b"\x01" + bytes(4), 10**9),  # a short packet cannot claim a huge length
])
def test_decode_rejects_malformed(data, frames):
    with pytest.raises(CodecError):
        make_codec(channels=2).decode(data, frames)


@pytest.mark.parametrize("frames", [-1, 1.5, "10", None])
def test_decode_rejects_bad_frame_counts(frames):
    with pytest.raises(CodecError):
        make_codec().decode(bytes([pk.VERSION]), frames)


def test_long_silence_packet_decodes():
    frames = 1 << 20
    F = mdct.n_frames(frames)
    buf = np.zeros(pk.bound_bytes(F, 1), np.uint8)
    n = pk.encode_packet(np.zeros(F, np.int64), np.zeros(F, np.int64), np.zeros((F, 1, pk.NB_LONG), np.int64),
                         np.zeros((F, 1, pk.NB_LONG), np.int64), np.zeros((F, 1, 1024), np.int32), buf)
    data = buf[:n].tobytes()
    assert data == make_codec().encode(np.zeros((frames, 1), np.int32))  # what the encoder writes
    assert not make_codec().decode(data, frames).any()


def test_wrong_stream_config_fails_cleanly():
    """A packet decoded with another channel count is (almost always) rejected, never crashes."""
    codec, data, n = _small_packet()
    for channels in (1, 3, 8):
        _decode_or_codec_error(make_codec(channels=channels), data, n)


# ----------------------------------------------------------------------------- encoder bugs
@pytest.mark.parametrize("how", ["zero_budget", "tiny_budget", "quality_-60"])
def test_short_frames_with_fine_budget(how):
    x = _full_scale_tone_burst()
    codec = make_codec()
    assert (codec.analyse(x)[0] == mdct.SHORT).any()
    F = mdct.n_frames(len(x))
    if how == "quality_-60":
        codec.quality_db = -60.0
        data, y = roundtrip(codec, x)
        # the self-mask keeps the absolute threshold: what it leaves out (> 16 kHz) is inaudible, not zero
        err = y.astype(np.float64) - x
        assert 10 * np.log10((x.astype(np.float64) ** 2).sum() / (err ** 2).sum()) > 40
    else:
        data, y = roundtrip(codec, x, noise=np.full((F, 1, 1024), 0.0 if how == "zero_budget" else 1e-6))
        assert np.abs(y.astype(np.int64) - x).max() <= 1


@pytest.mark.parametrize("where", ["codec", "preset"])
def test_infinite_budget_is_clean(where, song):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if where == "codec":
            x = music(4096, 2)
            data, y = roundtrip(make_codec(channels=2), x, noise=np.full((mdct.n_frames(4096), 2, 1024), np.inf))
            assert not y.any()
        else:
            report, buf = _encode(song.mix, None, "compact")
            with snc.open(buf) as f:
                assert all(f.verify()["streams"].values())


def test_fine_budget_on_long_frames_is_near_lossless():
    """The control for test_short_frames_with_fine_budget: LONG frames honour |q| <= 2^24 and code a zero
    budget (almost) exactly."""
    x = music(8192, 1, seed=60)
    F = mdct.n_frames(len(x))
    data, y = roundtrip(make_codec(), x, noise=np.zeros((F, 1, 1024)))
    assert np.abs(y.astype(np.int64) - x).max() <= 1


@pytest.mark.parametrize("kbps", [64, 160])
def test_bitrate_option_lands_at_or_below_the_target(song, kbps):
    """``bitrate=`` searches the tuning offset on whole encodes: the result is not above the target
    and not far below it (bisection resolution ~0.5 dB).  The mix alone: four stems of a 0.4 s song
    cannot go below ~300 kbps (every packet and stream has its fixed costs)."""
    report, buf = _encode(song.mix, None, "transparent", bitrate=kbps)
    got = report.file_bytes * 8 / (report.frames / report.sample_rate) / 1000
    assert 0.6 * kbps <= got <= kbps * 1.02
    with snc.open(buf) as f:
        assert all(f.verify()["streams"].values())


def test_presets_choose_where_noise_bands_go(song, monkeypatch):
    """Noise bands (spec 8 step 6, 9): never in stems; in the residual only with compact; in a mix coded alone
    with every perceptual preset."""
    seen = []
    real = PerceptualCodec.encode

    def spy(self, block, *args, **kwargs):
        seen.append(self.noise_substitution)
        return real(self, block, *args, **kwargs)

    monkeypatch.setattr(PerceptualCodec, "encode", spy)
    expected = {"transparent": None, "compact": perceptual.NOISE_SUBSTITUTION}
    for preset, residual in expected.items():
        seen.clear()
        _encode(song.mix[:8192], {k: v[:8192] for k, v in song.stems.items()}, preset)
        assert seen == [None] * len(song.stems) + [residual], preset
        seen.clear()
        _encode(song.mix[:8192], None, preset)  # the residual of a mix coded alone is empty (infinite budget)
        assert seen == [perceptual.NOISE_SUBSTITUTION, residual], preset


def test_bitrate_mode_lowers_only_the_speech_floor(song, monkeypatch):
    """``bitrate=`` shifts the preset's tuning with the speech floor capped at BITRATE_SPEECH_SNR_DB; without it
    every encode uses the preset's own tuning (offset 0 is not the same as no --bitrate)."""
    from snc.encode import tuning as encoder

    used = []
    real = allocation.noise_budgets

    def spy(*args, tuning, **kwargs):
        used.append(tuning)
        return real(*args, tuning=tuning, **kwargs)

    monkeypatch.setattr(allocation, "noise_budgets", spy)
    t = encoder.PERCEPTUAL_TUNING["transparent"]
    assert t.speech_snr_db > encoder.BITRATE_SPEECH_SNR_DB  # else this test proves nothing
    _encode(song.mix[:8192], None, "transparent")
    assert set(used) == {t}
    used.clear()
    _encode(song.mix[:8192], None, "transparent", bitrate=128)
    base = t.at_bitrate()
    assert base == dataclasses.replace(t, speech_snr_db=encoder.BITRATE_SPEECH_SNR_DB)
    # every encode of the search is the capped tuning shifted by its offset: quality_db tells the offset (the
    # bisection's offsets are dyadic, so the float arithmetic is exact)
    assert used and all(u == base.shifted(u.quality_db - base.quality_db) for u in used)
    compact = encoder.PERCEPTUAL_TUNING["compact"]  # already below the cap: unchanged
    assert compact.at_bitrate() == compact


def test_finer_bitrate_offsets_narrow_noise_substitution():
    from snc.encode.tuning import PERCEPTUAL_TUNING

    t = PERCEPTUAL_TUNING["compact"]
    assert t.shifted(3.0).noise_residual == t.noise_residual  # coarser: unchanged
    hz, snr = t.noise_residual
    assert t.shifted(-4.0).noise_residual == (hz, snr - 4.0)
    assert t.shifted(-snr).noise_residual is None and t.shifted(-snr - 5).noise_alone is None
    assert PERCEPTUAL_TUNING["transparent"].shifted(-2.0).noise_residual is None
