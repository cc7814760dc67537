"""The ``perceptual`` codec's driver (spec/codec-perceptual.md): config and encoder settings, round trips (length,
range, SNR against quality), transients (window switching, pre-echo), edge signals (silence, DC, full scale,
band-limited noise), channel layouts, rates, lengths and depths, determinism, and encoder regressions with
fine or infinite budgets.  Each says exactly what is wrong."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perceptual_helpers import RATES, band_energy, drum_hit, full_scale, make_codec, music, roundtrip, snr_db
from scipy import signal

from snc.codecs.perceptual import EncoderSettings, PerceptualCodec
from snc.codecs.registry import get_codec
from snc.errors import CodecError
from snc.kernels import mdct


def test_config_registry_and_encoder_settings():
    codec = PerceptualCodec(format="int", bits=24, channels=6)
    cfg = codec.get_config()
    assert cfg == {"format": "int", "channels": 6, "bits": 24}
    assert json.loads(json.dumps(cfg)) == cfg
    again = get_codec("perceptual", cfg)
    assert isinstance(again, PerceptualCodec) and again.get_config() == cfg
    assert PerceptualCodec.codec_id == "perceptual" and PerceptualCodec.lossless is False
    # encoder settings: defaults, given at construction only, and not part of the (decoder) config
    assert codec.settings == EncoderSettings() and again.settings == EncoderSettings()
    assert codec.settings.samplerate == 48000 and codec.settings.quality_db == 0.0
    tuned = PerceptualCodec(format="int", bits=24, channels=6,
                            settings=EncoderSettings(samplerate=96000, quality_db=-12.0, drop_db=3.0))
    assert tuned.get_config() == cfg and tuned.settings.samplerate == 96000
    for name, value in (("settings", EncoderSettings()), ("rounding", (0.3, 0.4)), ("channels", 2), ("bits", 16)):
        with pytest.raises(AttributeError):
            setattr(tuned, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tuned.settings.quality_db = 0.0
    with pytest.raises(CodecError, match="settings"):  # never read from a stored config
        get_codec("perceptual", {**cfg, "settings": {"quality_db": 6.0}})
    with pytest.raises(CodecError):
        get_codec("perceptual", {**cfg, "quality_db": 6.0})


@pytest.mark.parametrize("kw", [{"samplerate": 0}, {"samplerate": 44100.5}, {"quality_db": float("nan")},
                                {"rounding": (0.4,)}, {"rounding": (0.4, 1.0)}, {"noise_substitution": (8000.0,)},
                                {"noise_substitution": "on"}, {"drop_db": None}])
def test_encoder_settings_reject(kw):
    with pytest.raises(CodecError):
        EncoderSettings(**kw)


def test_encoder_settings_take_lists_and_numpy_numbers():
    s = EncoderSettings(samplerate=np.int64(44100), rounding=[0.3, 0.42], noise_substitution=[8000, 10.0],
                        noise_fill=np.bool_(True))
    assert s.samplerate == 44100 and type(s.samplerate) is int
    assert s.rounding == (0.3, 0.42) and s.noise_substitution == (8000, 10.0) and s.noise_fill is True


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
    assert make_codec(channels=2, quality_db=20.0).encode(x, noise=noise) == make_codec(channels=2).encode(x)


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


def _full_scale_tone_burst(n=8192, samplerate=44100):
    x = np.zeros((n, 1), np.int64)
    k = np.arange(3000)
    x[3000:6000, 0] = np.round(32767 * np.sin(2 * np.pi * 1000 * k / samplerate))
    return x.clip(-32768, 32767).astype(np.int32)


@pytest.mark.parametrize("how", ["zero_budget", "tiny_budget", "quality_-60"])
def test_short_frames_with_fine_budget(how):
    x = _full_scale_tone_burst()
    codec = make_codec(quality_db=-60.0 if how == "quality_-60" else 0.0)
    assert (codec.analyse(x)[0] == mdct.SHORT).any()
    F = mdct.n_frames(len(x))
    if how == "quality_-60":
        data, y = roundtrip(codec, x)
        # the self-mask keeps the absolute threshold: what it leaves out (> 16 kHz) is inaudible, not zero
        err = y.astype(np.float64) - x
        assert 10 * np.log10((x.astype(np.float64) ** 2).sum() / (err ** 2).sum()) > 40
    else:
        data, y = roundtrip(codec, x, noise=np.full((F, 1, 1024), 0.0 if how == "zero_budget" else 1e-6))
        assert np.abs(y.astype(np.int64) - x).max() <= 1


def test_infinite_budget_is_clean():
    """An infinite budget (a residual with nothing left to code) codes silence without a float warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = music(4096, 2)
        data, y = roundtrip(make_codec(channels=2), x, noise=np.full((mdct.n_frames(4096), 2, 1024), np.inf))
        assert not y.any()


def test_fine_budget_on_long_frames_is_near_lossless():
    """The control for test_short_frames_with_fine_budget: LONG frames honour |q| <= 2^24 and code a zero
    budget (almost) exactly."""
    x = music(8192, 1, seed=60)
    F = mdct.n_frames(len(x))
    data, y = roundtrip(make_codec(), x, noise=np.zeros((F, 1, 1024)))
    assert np.abs(y.astype(np.int64) - x).max() <= 1
