"""Encode -> decode round trips through the Python API: exact for integer input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import random_multitrack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snc

CODECS = ["pcm", "lossless"]


@pytest.mark.parametrize("codec", CODECS)
def test_mix_and_stems_exact(tmp_path, multitrack, codec):
    mix, stems = multitrack
    report = snc.encode(mix, tmp_path / "a.snc", stems=stems, samplerate=44100, codec=codec,
                        segment_frames=1024, verify=True, preset="archival")
    assert report.verified
    with snc.open(tmp_path / "a.snc") as f:
        assert f.stems == list(stems)
        assert np.array_equal(f.read(dtype="native"), mix)
        for name, data in stems.items():
            assert np.array_equal(f.read(stem=name, dtype="native"), data)
        assert all(f.verify()["streams"].values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.integers(1, 3000), channels=st.integers(1, 8), bits=st.sampled_from([8, 16, 24, 32]),
       rate=st.sampled_from([8000, 11025, 44100, 48000, 96000, 192000]), nstems=st.integers(0, 4),
       codec=st.sampled_from(CODECS), seed=st.integers(0, 2**32 - 1))
def test_random_roundtrip_property(tmp_path_factory, frames, channels, bits, rate, nstems, codec, seed):
    if bits == 32 and nstems:
        bits = 24  # the residual of a 32-bit mix with stems may need > 32 bits (see spec "Limits")
    mix, stems = random_multitrack(seed, frames, channels, bits, max(nstems, 1))
    stems = stems if nstems else None
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, codec=codec, segment_frames=512, preset="archival")
    buf.seek(0)
    with snc.open(buf) as f:
        assert (f.samplerate, f.channels, f.frames) == (rate, channels, frames)
        assert np.array_equal(f.read(dtype="native"), mix)
        for name, data in (stems or {}).items():
            assert np.array_equal(f.read(stem=name, dtype="native"), data)


def test_float64_mix_with_stems_is_refused_up_front(tmp_path):
    x = np.zeros((100, 1))
    with pytest.raises(snc.NotAvailableError, match="float64"):
        snc.encode(x, tmp_path / "o.snc", stems={"a": x}, samplerate=8000, preset="archival")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dtype", ["float32"])
def test_float_input_exact(tmp_path, dtype):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((3000, 2)) * 0.2).astype(dtype)
    b = (rng.standard_normal((3000, 2)) * 0.2).astype(dtype)
    mix = np.tanh(a.astype(np.float64) + b).astype(dtype)  # "mastered": not the plain sum
    report = snc.encode(mix, tmp_path / "f.snc", stems={"a": a, "b": b}, samplerate=48000, verify=True,
                        preset="archival")
    assert report.verified
    with snc.open(tmp_path / "f.snc") as f:
        out = f.read(dtype="native")
        assert out.dtype == np.dtype(dtype) and np.array_equal(out, mix)


def test_random_access_equals_slices(small_snc):
    path, mix, stems = small_snc
    with snc.open(path) as f:
        for start, n in [(0, 1), (1023, 2), (1024, 1024), (4999, 10), (777, 3333), (5000, 5)]:
            assert np.array_equal(f.read(n, start=start, dtype="native"), mix[start:start + n])
            assert np.array_equal(f.read(n, start=start, stem="s1", dtype="native"), stems["s1"][start:start + n])
        blocks = list(f.blocks(700, dtype="native"))
        assert [len(b) for b in blocks[:-1]] == [700] * (len(blocks) - 1)
        assert np.array_equal(np.concatenate(blocks), mix)


class CountingFile(io.FileIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_reads_only_needed_streams_and_segments(tmp_path):
    mix, stems = random_multitrack(5, frames=40000, stems=4)
    path = tmp_path / "big.snc"
    snc.encode(mix, path, stems=stems, samplerate=44100, bits=16, codec="pcm", segment_frames=4096, preset="archival")
    size = path.stat().st_size
    with CountingFile(path) as fh:
        f = snc.SncFile(fh)
        opened = fh.bytes_read
        assert opened < 2000  # header chunks + tail + index + hashes only
        f.read(10, start=20000, stem="s2")
        # one packet of one stream in one segment: 4096 frames x 2 ch x 2 bytes plus headers
        assert fh.bytes_read - opened < 4096 * 2 * 2 + 500
        fh.bytes_read = 0
        f.read(stem="s0")
        assert fh.bytes_read < size / 4


def test_path_pathlike_and_file_object(small_snc):
    path, mix, _ = small_snc
    for source in (str(path), path, open(path, "rb"), io.BytesIO(path.read_bytes())):
        with snc.open(source) as f:
            assert np.array_equal(f.read(dtype="native"), mix)


def test_float_read_scaling(small_snc):
    path, mix, _ = small_snc
    with snc.open(path) as f:
        x = f.read()
        assert x.dtype == np.float64
        assert np.array_equal(x * 32768.0, mix.astype(np.float64))
        assert f.read(dtype="float32").dtype == np.float32


def test_remix_rules(small_snc):
    path, mix, stems = small_snc
    with snc.open(path) as f:
        exact = f.read()
        assert np.allclose(f.read(gains={"s0": 0.0}), exact, atol=1e-12)
        silent = f.read(mute=list(stems))
        assert np.all(silent == 0.0)
        solo = f.read(solo=["s1"], attribution="global")  # spec 19; the tile rule: test_tile_attribution_*
        g = f.remix_gains(solo=["s1"])
        assert g[0] == 0.0 and g[1] == 1.0 and 0.0 < g[3] < 1.0
        expected = (stems["s1"] + g[3] * f.read(stem="residual", dtype="native")) / 32768.0
        assert np.allclose(solo, expected)
        minus6 = f.read(gains={"s2": -6.0})
        assert not np.allclose(minus6, exact)


def test_info_describes_streams(small_snc):
    path, _, stems = small_snc
    d = snc.info(path)
    for key in ("sample_rate", "frames", "channels", "preset", "streams"):
        assert key in d
    assert [s["name"] for s in d["streams"]] == [*stems, "residual"]
    assert sum(s["bytes"] for s in d["streams"]) < d["file_bytes"]
    for s in d["streams"]:
        assert {"name", "role", "codec", "bytes"} <= set(s)


def test_separator_none_stores_the_mix_as_one_stem(tmp_path, multitrack):
    mix, _ = multitrack
    snc.encode(mix, tmp_path / "m.snc", samplerate=44100, preset="archival")
    with snc.open(tmp_path / "m.snc") as f:
        assert f.stems == ["mix"]
        assert np.array_equal(f.read(stem="mix", dtype="native"), mix)
        assert not f.read(stem="residual", dtype="native").any()


def test_files_from_disk_24_bit(tmp_path):
    import soundfile as sf

    mix, stems = random_multitrack(9, frames=3000, bits=24, stems=2)
    sf.write(tmp_path / "mix.wav", mix << 8, 96000, subtype="PCM_24")
    paths = {}
    for name, data in stems.items():
        paths[name] = tmp_path / f"{name}.flac"
        sf.write(paths[name], data << 8, 96000, subtype="PCM_24")
    report = snc.encode(tmp_path / "mix.wav", tmp_path / "o.snc", stems=paths, verify=True, preset="archival")
    assert report.verified
    with snc.open(tmp_path / "o.snc") as f:
        assert f.info.bits == 24 and f.samplerate == 96000
        assert np.array_equal(f.read(dtype="native"), mix)


def test_mastered_synthetic_song_exact(tmp_path):
    """The demo song: EQ + compressor + limiter make the residual large; the mix must stay exact."""
    from snc.demo import synthesize_song

    song = synthesize_song(duration=1.5, samplerate=48000, seed=3)
    residual = song.mix.astype(np.int64) - sum(s.astype(np.int64) for s in song.stems.values())
    assert np.sqrt(np.mean(residual.astype(float) ** 2)) > 100  # a real mastering residual, not rounding
    paths = song.write(tmp_path)
    report = snc.encode(paths["mix"], tmp_path / "song.snc",
                        stems={n: p for n, p in paths.items() if n != "mix"}, verify=True, preset="archival")
    assert report.verified
    with snc.open(tmp_path / "song.snc") as f:
        assert np.array_equal(f.read(dtype="native"), song.mix)
        # the residual is the mix minus the stems as they play (through the master's gain): far smaller
        played = sum(np.concatenate([f.decode_packet(seg, f.stream_index(n)) for seg in f.segments]).astype(np.int64)
                     for n in song.stems)
        stored = f.read(stem="residual", dtype="native")
        assert f.master is not None and np.array_equal(stored, song.mix - played)
        assert (stored.astype(float) ** 2).mean() < 0.6 * (residual.astype(float) ** 2).mean()  # its EQ is no gain
        lufs = {s.name: s.loudness_lufs for s in f.streams}
        assert all(-60 < lufs[n] < 0 for n in song.stems) and np.isnan(lufs["residual"])


@settings(max_examples=15, deadline=None)
@given(frames=st.integers(1, 2000), channels=st.integers(1, 8), dtype=st.sampled_from(["float32", "float64"]),
       nstems=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_random_float_roundtrip_property(frames, channels, dtype, nstems, seed):
    if dtype == "float64":
        nstems = 0  # a float64 mix is exact only without stems (see test above)
    rng = np.random.default_rng(seed)
    stems = {f"s{k}": (rng.standard_normal((frames, channels)) * 0.2).astype(dtype) for k in range(nstems)}
    total = sum((v.astype(np.float64) for v in stems.values()), np.zeros((frames, channels)))
    mix = (np.tanh(total) + rng.standard_normal((frames, channels)) * 1e-3).astype(dtype)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems or None, samplerate=44100, segment_frames=256, preset="archival")
    buf.seek(0)
    with snc.open(buf) as f:
        out = f.read(dtype="native")
        assert out.dtype == np.dtype(dtype) and np.array_equal(out, mix)
        for name, data in stems.items():
            assert np.array_equal(f.read(stem=name, dtype="native"), data)


# ----------------------------------------------------------------------------- residual attribution (spec 19.1)


def _two_band_song(frames=40_000, segment_frames=4096):
    """A low stem and a high stem (disjoint in frequency) and a mix with an extra noise in both bands,
    so the residual lives in both stems' tiles."""
    import io

    t = np.arange(frames) / 44100
    low = np.round(6000 * np.sin(2 * np.pi * 200 * t))[:, None] * np.ones((1, 2))
    high = np.round(6000 * np.sin(2 * np.pi * 6000 * t))[:, None] * np.ones((1, 2))
    extra = np.round(300 * np.sin(2 * np.pi * 210 * t) + 300 * np.sin(2 * np.pi * 6100 * t))[:, None] * np.ones((1, 2))
    mix = (low + high + extra).astype(np.int16)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems={"low": low.astype(np.int16), "high": high.astype(np.int16)}, samplerate=44100,
               bits=16, preset="archival", segment_frames=segment_frames)
    buf.seek(0)
    return buf, t


def test_tile_attribution_follows_the_stems_in_frequency():
    buf, t = _two_band_song()
    with snc.open(buf) as f:
        tiles = f.read(mute=["high"], attribution="share")
        glob = f.read(mute=["high"], attribution="global")
        capped = f.read(mute=["high"])  # the default: the share, at most the global gain
        assert np.abs(f.read(gains={"low": 0.0}) - f.read()).max() < 1e-12  # all 0 dB: the mix
    probe = lambda y, hz: abs(np.exp(-2j * np.pi * hz * t) @ y[:, 0]) / len(t)  # noqa: E731
    # the extra tone near the high stem is muted with it under the tile rule, half kept by the global one
    assert probe(tiles, 6100) < 0.02 * probe(glob, 6100)
    assert probe(glob, 6100) > 0.4 * 300 / 2 / 32768
    # the extra tone near the low stem stays under the share rule (the low stem keeps its gain) ...
    assert probe(tiles, 210) > 0.9 * 300 / 2 / 32768
    # ... and the default takes the smaller of the two: muted like the share, held to the global gain elsewhere
    assert probe(capped, 6100) < 0.02 * probe(glob, 6100)
    assert abs(probe(capped, 210) - probe(glob, 210)) < 0.05 * probe(glob, 210)


def test_tile_attribution_does_not_depend_on_segments():
    from snc.render.attribution import attributed_residual

    buf, _ = _two_band_song(segment_frames=1024)  # segments shorter than the transform's frame
    with snc.open(buf) as f:
        got = f.read(gains={"high": -6.0})
        stems = [f.read(stem=s) for s in ("low", "high")]
        residual = f.read(stem="residual")
        gains = f.remix_gains(gains={"high": -6.0})
    want = gains[0] * stems[0] + gains[1] * stems[1] + attributed_residual(stems, residual, [gains[0], gains[1]],
                                                                           gains[2], 44100, ceiling=True)
    assert np.abs(got - want).max() < 1e-12


def test_unknown_attribution_is_an_input_error(small_snc):
    path, _, _ = small_snc
    with snc.open(path) as f, pytest.raises(snc.InputError, match="attribution"):
        f.read(mute=["s0"], attribution="magic")
