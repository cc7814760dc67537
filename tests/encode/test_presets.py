"""The presets built on the ``perceptual`` codec (``snc.encode``): ``lossless`` keeps the mix exact,
``transparent`` and ``compact`` decode and verify, the lead stem, remix headroom, which codec settings each
stream gets (rounding, noise bands, dropped bands), and ``bitrate=``."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from conftest import random_multitrack

import snc
from snc.codecs.perceptual import NOISE_SUBSTITUTION, ROUNDING, STEM_ROUNDING, PerceptualCodec


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    err = float(((y.astype(np.float64) - x) ** 2).sum())
    return 10.0 * np.log10(max(float((x * x).sum()), 1e-30) / max(err, 1e-30))


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


@pytest.fixture
def codecs_made(monkeypatch):
    """The perceptual codecs :func:`snc.encode` codes with, in the order of their first packet (the stems'
    codec, or the codec of a mix coded alone, then the residual's)."""
    made = []
    real = PerceptualCodec.encode

    def spy(self, block, *args, **kwargs):
        if not any(c is self for c in made):
            made.append(self)
        return real(self, block, *args, **kwargs)

    monkeypatch.setattr(PerceptualCodec, "encode", spy)
    return made


def test_lossless_preset_mix_is_bit_exact(song):
    report, buf = _encode(song.mix, song.stems, "lossless")
    codecs = {s["name"]: s["codec"] for s in report.streams}
    assert codecs == {"drums": "perceptual", "bass": "perceptual", "other": "perceptual", "vocals": "perceptual",
                      "residual": "lossless", "master": "gain"}  # the demo mix is mastered
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
        assert {s["codec"] for s in report.streams if s["role"] != "master"} == {"perceptual"}
        with snc.open(buf) as f:
            assert f.info.preset == preset
            v = f.verify()
            assert v["mix"] and all(v["streams"].values())
            mix = f.read(dtype="native")
            assert mix.shape == song.mix.shape and snr_db(song.mix, mix) > 8.0
            for name in song.stems:
                assert f.read(stem=name, dtype="native").shape == song.mix.shape
            assert f.read(mute=["vocals"]).shape == song.mix.shape


# the warning-free path is test_mix_coded_alone_with_an_empty_residual_is_clean
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
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


def test_mix_coded_alone_with_an_empty_residual_is_clean(song):
    """The residual of a mix coded alone gets an infinite budget: no float warning on the way."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report, buf = _encode(song.mix, None, "compact")
        with snc.open(buf) as f:
            assert all(f.verify()["streams"].values())


def test_stems_get_the_wider_dead_zone(song, codecs_made):
    """Stems are quantised with STEM_ROUNDING (their noise cancels in the mix), the residual and a mix coded
    alone with ROUNDING: the stem packets change with it, the residual's rounding does not."""
    made = codecs_made
    _encode(song.mix, song.stems, "transparent")
    assert [c.settings.rounding for c in made] == [STEM_ROUNDING, ROUNDING]  # stems' codec, the residual's
    made.clear()
    _encode(song.mix, None, "transparent")
    assert [c.settings.rounding for c in made] == [ROUNDING, ROUNDING]


def test_stems_drop_bands_near_their_budget_and_keep_their_snr(song, codecs_made, monkeypatch):
    """The perceptual presets give the stems' codec ``stem_drop_db`` (fewer bytes); the residual and a
    mix coded alone keep 0; every decoded stem still meets the preset's SNR floor."""
    from snc.encode import tuning as enc

    made = codecs_made
    tuning = enc.PERCEPTUAL_TUNING["transparent"]
    assert tuning.stem_drop_db > 0
    report, buf = _encode(song.mix, song.stems, "transparent")
    assert [c.settings.drop_db for c in made] == [tuning.stem_drop_db, 0.0]  # the stems' codec, the residual's
    made.clear()
    _encode(song.mix, None, "transparent")
    assert [c.settings.drop_db for c in made] == [0.0, 0.0]
    monkeypatch.setitem(enc.PERCEPTUAL_TUNING, "transparent", dataclasses.replace(tuning, stem_drop_db=0.0))
    assert _encode(song.mix, song.stems, "transparent")[0].file_bytes > report.file_bytes
    with snc.open(buf) as f:
        for name, stem in song.stems.items():
            got = f.read(stem=name, dtype="native").astype(float)
            snr = 10 * np.log10((stem.astype(float) ** 2).sum() / ((got - stem) ** 2).sum())
            assert snr >= tuning.stem_snr_db - 0.5, (name, snr)


def test_presets_choose_where_noise_bands_go(song, monkeypatch):
    """Noise bands (spec 8 step 6, 9): never in stems; in the residual only with compact; in a mix coded alone
    with every perceptual preset."""
    seen = []
    real = PerceptualCodec.encode

    def spy(self, block, *args, **kwargs):
        seen.append(self.settings.noise_substitution)
        return real(self, block, *args, **kwargs)

    monkeypatch.setattr(PerceptualCodec, "encode", spy)
    expected = {"transparent": None, "compact": NOISE_SUBSTITUTION}
    for preset, residual in expected.items():
        seen.clear()
        _encode(song.mix[:8192], {k: v[:8192] for k, v in song.stems.items()}, preset)
        assert seen == [None] * len(song.stems) + [residual], preset
        seen.clear()
        _encode(song.mix[:8192], None, preset)  # the residual of a mix coded alone is empty (infinite budget)
        assert seen == [NOISE_SUBSTITUTION, residual], preset


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


def test_bitrate_mode_lowers_only_the_speech_floor(song, monkeypatch):
    """``bitrate=`` shifts the preset's tuning with the speech floor capped at BITRATE_SPEECH_SNR_DB; without it
    every encode uses the preset's own tuning (offset 0 is not the same as no --bitrate)."""
    from snc.encode import allocation
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


def test_finer_bitrate_offsets_narrow_noise_substitution():
    from snc.encode.tuning import PERCEPTUAL_TUNING

    t = PERCEPTUAL_TUNING["compact"]
    assert t.shifted(3.0).noise_residual == t.noise_residual  # coarser: unchanged
    hz, snr = t.noise_residual
    assert t.shifted(-4.0).noise_residual == (hz, snr - 4.0)
    assert t.shifted(-snr).noise_residual is None and t.shifted(-snr - 5).noise_alone is None
    assert PERCEPTUAL_TUNING["transparent"].shifted(-2.0).noise_residual is None


@pytest.mark.parametrize("preset,long_cascade", [("archival", True), ("lossless", False)])
def test_only_archival_tries_the_long_cascade(song, monkeypatch, preset, long_cascade):
    """Preset.long_cascade: the archival preset's lossless streams (stems and residual) also try LONG_FILTERS
    on every packet; the lossless preset's residual keeps the default cascade, which decodes faster."""
    from snc.codecs.lossless import LONG_FILTERS, LosslessCodec

    tried = []
    real = LosslessCodec.encode

    def spy(self, block, *args, **kwargs):
        if self.residual_coding == "adaptive":  # not the master's knots, nor its first pass (snc.encode.master)
            tried.append(self.alternative_filters)
        return real(self, block, *args, **kwargs)

    monkeypatch.setattr(LosslessCodec, "encode", spy)
    report, buf = _encode(song.mix, song.stems, preset)
    assert tried and set(tried) == {(LONG_FILTERS,) if long_cascade else ()}
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), song.mix)
