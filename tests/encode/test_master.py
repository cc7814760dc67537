"""The master stream (spec snc-format.md section 3.7): a mastered mix's gain on the sum of the stems, chosen
per segment by bytes, exact through every preset, the stems as they play in every remix."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest

import snc
from snc.codecs.gain import UNITY
from snc.container.model import MASTER_ROLE
from snc.encode.master import fit_knots
from snc.signal.mixing import mastered

RATE = 44100


def _stems(frames: int = 3 * RATE, seed: int = 0) -> dict[str, np.ndarray]:
    """Three stems with envelopes of their own: a compressor on their sum has something to do."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / RATE
    out = {}
    for k, name in enumerate(("drums", "bass", "vocals")):
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (0.7 + k) * t) ** 2
        tone = np.sin(2 * np.pi * (110 * (k + 1)) * t)[:, None] * [1.0, 0.8]
        noise = np.convolve(rng.standard_normal(frames), np.ones(8) / 8, "same")[:, None] * [0.3, 0.4]
        out[name] = np.round(5000 * env[:, None] * (tone + noise)).astype(np.int32)
    return out


def _compressed(stems: dict, seed: int = 0) -> np.ndarray:
    """A mix through a slow gain (a compressor's), plus its own dither: mostly a gain, not only one."""
    total = sum(s.astype(np.float64) for s in stems.values())
    t = np.arange(len(total)) / RATE
    gain = 1.4 - 0.5 * np.abs(np.sin(2 * np.pi * 0.9 * t))
    dither = np.random.default_rng(seed + 1).integers(-1, 2, total.shape)
    return np.clip(np.round(gain[:, None] * total) + dither, -32768, 32767).astype(np.int32)


def _encode(mix, stems, preset, **kw):
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset=preset, **kw)
    buf.seek(0)
    return report, buf


@pytest.fixture(scope="module")
def song():
    stems = _stems()
    return _compressed(stems), stems


def test_knots_fit_a_known_gain():
    rng = np.random.default_rng(3)
    total = rng.integers(-9000, 9000, (1000, 2))
    knots = np.stack([np.linspace(0.5, 1.5, 9), np.linspace(1.2, 0.9, 9)], axis=1) * UNITY
    from snc.codecs.gain import interpolate

    mix = mastered(interpolate(np.round(knots), 1000, 7), total)
    assert np.abs(fit_knots(mix, total, 7) - np.round(knots)).max() <= 2


def test_a_perceptual_file_with_a_master_stays_version_1_1(song):
    """Range-coded packets (1.2) are only in lossless streams: the gain's knots keep methods 1-2."""
    mix, stems = song
    report, buf = _encode(mix, stems, "transparent")
    assert [s["role"] for s in report.streams][-1] == MASTER_ROLE
    with snc.open(buf) as f:
        assert f.describe()["format_version"] == "1.1"


@pytest.mark.parametrize("preset", ["archival", "lossless"])
def test_mastered_mix_is_exact_and_the_stems_as_given(song, preset):
    mix, stems = song
    report, buf = _encode(mix, stems, preset)
    roles = [s["role"] for s in report.streams]
    assert roles[-2:] == ["residual", MASTER_ROLE]
    with snc.open(buf) as f:
        assert f.describe()["format_version"] == "1.2"  # 1.1: the master stream; 1.2: range-coded residuals
        assert f.stems == list(stems) and f.master is not None and f.master.bytes > 0
        assert f.describe()["master"]["codec"] == "gain"
        assert np.array_equal(f.read(dtype="native"), mix)
        if preset == "archival":
            for name, stem in stems.items():
                assert np.array_equal(f.read(stem=name, dtype="native"), stem)
        result = f.verify()
        assert result["mix"] and all(result["streams"].values()) and MASTER_ROLE in result["streams"]


def test_the_master_makes_the_residual_small(song, monkeypatch):
    """What the master stream is for: against the same file without it the residual costs far less, and
    the whole file too; an unmastered mix of the same stems gets none."""
    mix, stems = song
    with_master = _encode(mix, stems, "archival")[0]
    by_role = {s["role"]: s["bytes"] for s in with_master.streams}
    monkeypatch.setattr(sys.modules["snc.encode"], "fit_master", lambda *a, **k: None)
    without = _encode(mix, stems, "archival")[0]
    assert without.streams[-1]["role"] == "residual"
    assert by_role["residual"] + by_role[MASTER_ROLE] < 0.6 * without.streams[-1]["bytes"]
    assert with_master.file_bytes < without.file_bytes


def test_an_unmastered_file_has_no_master_and_stays_version_1_0(song):
    _, stems = song
    mix = sum(stems.values()).astype(np.int32)
    report, buf = _encode(mix, stems, "transparent")
    assert [s["role"] for s in report.streams][-1] == "residual"
    with snc.open(buf) as f:
        assert f.describe()["format_version"] == "1.0" and f.master is None


def _played(f, name: str) -> np.ndarray:
    """A stem as it plays in the mix (through the master's gain), the whole file."""
    i = f.stream_index(name)
    return np.concatenate([f.decode_packet(seg, i) for seg in f.segments]).astype(np.float64)


def test_a_remix_plays_the_stems_through_the_master(song):
    """Muting a stem takes its mastered part with it: what karaoke leaves of the vocals is the residual's
    share, far below the vocals."""
    mix, stems = song
    _, buf = _encode(mix, stems, "archival")
    with snc.open(buf) as f:
        karaoke = f.read(mute=["vocals"], attribution="global") * f.scale
        others = _played(f, "drums") + _played(f, "bass")
        vocals = _played(f, "vocals")
        assert not np.array_equal(vocals, stems["vocals"])  # played through the gain, not as given
        assert np.array_equal(f.read(stem="vocals", dtype="native"), stems["vocals"])
    leak_db = 10 * np.log10(((karaoke - others) ** 2).mean() / (vocals ** 2).mean())
    assert leak_db < -30.0


def test_a_damaged_master_packet_is_concealed_as_unity(song):
    mix, stems = song
    _, buf = _encode(mix, stems, "archival", segment_frames=RATE)
    data = bytearray(buf.getvalue())
    with snc.open(io.BytesIO(bytes(data))) as f:
        seg = f.segments[1]
        master = len(f.streams)
        data[seg.packet_offsets[master] + 2] ^= 0x10
    span = slice(seg.start_frame, seg.start_frame + seg.frames)
    with snc.open(io.BytesIO(bytes(data))) as f, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = f.read(dtype="native")
        assert [d["stream"] for d in f.damaged] == [MASTER_ROLE]
    assert any("master" in str(w.message) for w in caught)
    assert np.array_equal(out[:seg.start_frame], mix[:seg.start_frame])  # the other segments are exact
    # the concealed segment: the stems as they are (unity gain) plus the residual
    with snc.open(io.BytesIO(bytes(data))) as f:
        residual = f.read(stem="residual", dtype="native")[span]
    unity = sum(s[span].astype(np.int64) for s in stems.values()) + residual
    assert np.array_equal(out[span], np.clip(unity, -32768, 32767))
    with snc.open(io.BytesIO(bytes(data)), strict=True) as f, pytest.raises(snc.SncError):
        f.read()


def test_a_reader_without_the_gain_codec_gives_stems_but_no_exact_mix(song, monkeypatch):
    """What a version 1.0 reader does (spec section 3.7): the gain codec is unknown to it."""
    from snc.codecs import registry

    mix, stems = song
    _, buf = _encode(mix, stems, "archival")
    monkeypatch.delitem(registry._LAZY, "gain")
    monkeypatch.delitem(registry._REGISTRY, "gain", raising=False)
    with snc.open(buf) as f:
        assert np.array_equal(f.read(stem="bass", dtype="native"), stems["bass"])
        with pytest.raises(snc.UnsupportedError, match="gain"):
            f.read()


def test_the_command_line_shows_the_master_and_writes_stems_as_played(song, tmp_path, capsys):
    """snc-info lists the master stream; snc-decode --stems-dir --as-played writes stems that, with the
    residual, sum to the mix exactly (as delivered they do not, in a mastered file)."""
    import soundfile as sf

    from snc.cli import decode, info

    mix, stems = song
    path = tmp_path / "song.snc"
    snc.encode(mix, path, stems=stems, samplerate=RATE, bits=16, preset="archival")
    assert info.main([str(path)]) == 0
    assert any(line.split()[1:4] == ["master", "master", "gain"] for line in capsys.readouterr().out.splitlines()
               if line.strip()[:1].isdigit())
    for flag, exact in (([], False), (["--as-played"], True)):
        out = tmp_path / f"stems{len(flag)}"
        assert decode.main([str(path), "--stems-dir", str(out), *flag]) == 0
        total = sum(sf.read(p, dtype="int32")[0].astype(np.int64) >> 16 if sf.info(p).subtype == "PCM_16"
                    else np.round(sf.read(p, dtype="float64")[0] * 32768).astype(np.int64)
                    for p in sorted(out.iterdir()))
        assert np.array_equal(total, mix) == exact
    assert decode.main([str(path), "-o", str(tmp_path / "x.wav"), "--as-played"]) == 1
    assert "--as-played" in capsys.readouterr().err


def test_frame_gain_power_is_the_mean_square_gain_over_each_transform_frame():
    """The stems' noise budgets are divided by it (snc.encode.residual): frame f spans samples
    (f - 1) * 1024 .. (f + 1) * 1024, the gain held at its edge values outside the packet."""
    from snc.encode.residual import frame_gain_power

    rng = np.random.default_rng(5)
    gain = rng.integers(8000, 30000, (3000, 2)).astype(np.int32)
    got = frame_gain_power(gain)
    g2 = (gain / UNITY) ** 2
    assert got.shape == (4, 2, 1)
    for f in range(4):
        idx = np.clip(np.arange((f - 1) * 1024, (f + 1) * 1024), 0, len(gain) - 1)
        assert np.allclose(got[f, :, 0], g2[idx].mean(axis=0))


def _knot_shift(buf) -> int:
    with snc.open(buf) as f:
        return f.master.codec_config["knot_shift"]


def test_the_knot_spacing_is_chosen_by_bytes():
    """A gain that moves within a limiter's attack time gets the finer knots; a slow one keeps 3 ms."""
    stems = _stems(2 * RATE, seed=4)
    total = sum(s.astype(np.float64) for s in stems.values())
    t = np.arange(len(total))
    slow = 1.2 - 0.3 * np.abs(np.sin(2 * np.pi * 0.5 * t / RATE))
    fast = slow * (1.0 - 0.1 * (1 + np.sin(2 * np.pi * t / 256.0)))  # a period of 256 frames (5.8 ms)
    for gain, shift in ((slow, 7), (fast, 6)):
        mix = np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)
        _, buf = _encode(mix, stems, "archival")
        assert _knot_shift(buf) == shift
        with snc.open(buf) as f:
            assert np.array_equal(f.read(dtype="native"), mix)


def _assert_exact_and_seekable(f, mix, stems, name):
    """The mix and every stem decode exactly and verify, and a span of stem ``name`` read mid-segment plays it
    from its segment's first frame, as a whole-segment decode does (a master's EQ and compressor restart
    there)."""
    assert np.array_equal(f.read(dtype="native"), mix)
    for stem_name, stem in stems.items():
        assert np.array_equal(f.read(stem=stem_name, dtype="native"), stem)
    assert f.verify()["mix"]
    i = f.stream_index(name)
    whole = np.concatenate([f.decode_packet(seg, i) for seg in f.segments]).astype(np.float64)
    assert np.array_equal(f.stream_span(i, 40000, 90000), whole[40000:90000])


def _eq_mastered(stems: dict) -> np.ndarray:
    """A mix whose chain has an EQ before its gain: a +4 dB peak at 100 Hz (RBJ cookbook, floating point),
    then a compressor's slow gain, rounded: no gain alone explains it."""
    from scipy.signal import lfilter

    a_lin, w = 10 ** (4 / 40), 2 * np.pi * 100 / RATE
    alpha = np.sin(w) / (2 * 0.7)
    b = np.array([1 + alpha * a_lin, -2 * np.cos(w), 1 - alpha * a_lin])
    a = np.array([1 + alpha / a_lin, -2 * np.cos(w), 1 - alpha / a_lin])
    total = lfilter(b / a[0], a / a[0], sum(s.astype(np.float64) for s in stems.values()), axis=0)
    t = np.arange(len(total)) / RATE
    gain = 1.2 - 0.4 * np.abs(np.sin(2 * np.pi * 0.9 * t))
    return np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)


@pytest.fixture(scope="module")
def eq_song():
    stems = _stems(frames=4 * RATE, seed=4)
    return _eq_mastered(stems), stems


def test_an_eq_in_the_chain_is_fitted_exact_and_smaller(eq_song):
    """The master stream carries the chain's EQ (format 1.3): the mix and every stem stay exact, and the file
    is smaller than the same encode limited to 1.2, where only the gain is known."""
    mix, stems = eq_song
    report, buf = _encode(mix, stems, "archival")
    old, old_buf = _encode(mix, stems, "archival", format_version="1.2")
    with snc.open(buf) as f, snc.open(old_buf) as g:
        assert f.describe()["format_version"] == "1.3" and g.describe()["format_version"] == "1.2"
        assert "eq" in f.codec(len(f.stems) + 1).get_config()
        assert g.master is None or "eq" not in g.codec(len(g.stems) + 1).get_config()
        _assert_exact_and_seekable(f, mix, stems, "bass")
    by_role = {s["role"]: s["bytes"] for s in report.streams}
    old_by_role = {s["role"]: s["bytes"] for s in old.streams}
    assert by_role["residual"] + by_role[MASTER_ROLE] < 0.8 * old_by_role["residual"]
    assert report.file_bytes < old.file_bytes


def _rms_compressed(stems: dict) -> np.ndarray:
    """A mix through a feed-forward RMS compressor (4:1 above its threshold, 5 ms attack, 100 ms release, in
    floating point; not the codec's own integers), then a slow gain: its gain ripples at audio rate."""
    total = sum(s.astype(np.float64) for s in stems.values())
    a = np.abs(total).sum(axis=1) ** 2
    ka, kr = 1 / (0.005 * RATE), 1 / (0.1 * RATE)
    level, smooth = np.empty(len(a)), 0.0
    for t, p in enumerate(a):
        smooth += (p - smooth) * (ka if p > smooth else kr)
        level[t] = smooth
    over = np.maximum(0.5 * np.log2(np.maximum(level, 1.0)) - np.log2(6000.0), 0.0)
    t = np.arange(len(total)) / RATE
    gain = 2.0 ** (-0.75 * over) * (1.3 - 0.2 * np.sin(2 * np.pi * 0.5 * t))
    return np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)


@pytest.fixture(scope="module")
def compressor_song():
    stems = _stems(frames=4 * RATE, seed=6)
    return _rms_compressed(stems), stems


def test_a_compressor_in_the_chain_is_fitted_exact_and_smaller(compressor_song):
    """Archival fits the chain's compressor (format 1.4): the mix and every stem stay exact, a span read
    mid-segment plays as the whole segment does, and the file is smaller than the same encode limited to 1.3."""
    mix, stems = compressor_song
    report, buf = _encode(mix, stems, "archival")
    old, old_buf = _encode(mix, stems, "archival", format_version="1.3")
    with snc.open(buf) as f, snc.open(old_buf) as g:
        assert f.describe()["format_version"] == "1.4" and g.describe()["format_version"] != "1.4"
        assert "compressor" in f.codec(len(f.stems) + 1).get_config()
        assert "compressor" not in g.codec(len(g.stems) + 1).get_config()
        _assert_exact_and_seekable(f, mix, stems, "vocals")
    by_role = {s["role"]: s["bytes"] for s in report.streams}
    old_by_role = {s["role"]: s["bytes"] for s in old.streams}
    assert by_role["residual"] + by_role[MASTER_ROLE] < 0.9 * (old_by_role["residual"] + old_by_role[MASTER_ROLE])
    assert report.file_bytes < old.file_bytes


def test_the_perceptual_presets_fit_no_compressor(compressor_song):
    """The compressor follows the stems as decoded: only where they are exact (archival) is it fitted."""
    mix, stems = compressor_song
    _, buf = _encode(mix, stems, "lossless")
    with snc.open(buf) as f:
        assert f.master is not None and "compressor" not in f.codec(len(f.stems) + 1).get_config()
        assert np.array_equal(f.read(dtype="native"), mix)
