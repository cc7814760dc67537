"""NI Stems export (issue 20): the file as a Mixxx-style reader and ffprobe see it, stems that add up to the
master, slots, residual folding, formats that need converting, the command line."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import numpy as np
import pytest

import snc
from snc.cli import export as export_cli
from snc.errors import InputError
from snc.interop import mp4atoms
from snc.interop.slots import default_slots, fold, parse_map, spill

av = pytest.importorskip("av", reason="PyAV (the export extra) is not installed")
from snc.interop.stems_mp4 import export_stem_mp4  # noqa: E402
from snc.interop.stems_mp4_read import read_stem_mp4  # noqa: E402

RATE = 44100
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)


def _song(tmp_path, names=("vocals", "drums", "bass", "other"), rate=RATE, bits=16, channels=2, seconds=1.0,
          preset="archival", loud=False, pictures=None, music=None):
    """A .snc of smooth random stems and a mix that is their sum, slightly 'mastered' (a residual)."""
    rng = np.random.default_rng(len(names) + rate + bits)
    n = int(rate * seconds)
    full = 1 << (bits - 1)
    amp = full // (2 if loud else 8)
    stems = {}
    for k, name in enumerate(names):
        x = np.cumsum(rng.integers(-amp // 16, amp // 16 + 1, (n, channels)), axis=0) // (k + 4)
        stems[name] = np.clip(x, -amp, amp).astype(np.int32)
    total = sum(s.astype(np.int64) for s in stems.values())
    mix = np.clip(total * 15 // 16 + rng.integers(-3, 4, total.shape), -full, full - 1).astype(np.int32)
    path = tmp_path / f"song-{len(names)}-{rate}-{bits}-{channels}-{preset}.snc"
    snc.encode(mix, path, stems=stems, samplerate=rate, bits=bits, preset=preset, pictures=pictures, overwrite=True,
               tags={"title": "T", "artist": "A", "bpm": "127.6"}, music=music)
    return path, mix


def mixxx_stem_manifest(path) -> dict | None:
    """A port of Mixxx's StemInfoImporter: walk the boxes from the top to moov/udta/stem, reading headers
    and skipping payloads, and parse the JSON there."""
    wanted = [b"moov", b"udta", b"stem"]
    with open(path, "rb") as fh:
        end = fh.seek(0, 2)
        fh.seek(0)
        limit, depth = end, 0
        while fh.tell() + 8 <= limit:
            start = fh.tell()
            size, kind = struct.unpack(">I4s", fh.read(8))
            header = 8
            if size == 1:
                size, header = struct.unpack(">Q", fh.read(8))[0], 16
            if kind == wanted[depth]:
                if depth == len(wanted) - 1:
                    return json.loads(fh.read(size - header))
                depth, limit = depth + 1, start + size
                continue
            fh.seek(start + size)
    return None


def test_export_is_an_ni_stems_file_whose_stems_sum_to_the_master(tmp_path):
    src, mix = _song(tmp_path, pictures=[{"picture_type": 3, "mime": "image/png", "data": PNG}])
    out = tmp_path / "song.stem.mp4"
    report = export_stem_mp4(src, out)
    assert report.max_sum_error == 0 and report.codec == "alac" and report.bits == 16
    manifest = mixxx_stem_manifest(out)
    assert manifest["version"] == 1 and [s["name"] for s in manifest["stems"]] == ["drums", "bass", "other", "vocals"]
    assert [s["color"] for s in manifest["stems"]] == ["#f58231", "#4363d8", "#3cb44b", "#e6194b"]
    dsp = manifest["mastering_dsp"]
    assert not dsp["compressor"]["enabled"] and not dsp["limiter"]["enabled"]
    data = out.read_bytes()
    flags = mp4atoms.track_flags(data)
    enabled = [bool(f & mp4atoms.TKHD_ENABLED) for f in flags]
    assert enabled == [True, False, False, False, False]
    back = read_stem_mp4(out)
    assert np.array_equal(back.master, mix)  # ALAC: the master is the exact mix
    assert np.array_equal(sum(s.astype(np.int64) for s in back.stems.values()), mix)
    assert back.tags["title"] == "T" and back.tags["artist"] == "A" and back.cover == (PNG, "image/png")
    assert back.bpm == 128  # iTunes' tmpo is an integer
    assert list(back.stems) == ["drums", "bass", "other", "vocals"] and back.colours["vocals"] == "#e6194b"


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (ffmpeg) is not installed")
def test_ffprobe_sees_five_audio_tracks_only_the_master_default(tmp_path):
    src, _ = _song(tmp_path)
    out = tmp_path / "song.stem.mp4"
    export_stem_mp4(src, out, codec="aac", check=False)
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)
    streams = probe["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"] * 5 and {s["codec_name"] for s in streams} == {"aac"}
    assert [s["disposition"]["default"] for s in streams] == [1, 0, 0, 0, 0]
    assert {int(s["sample_rate"]) for s in streams} == {RATE} and {s["channels"] for s in streams} == {2}


def test_aac_export_says_how_far_the_sum_is(tmp_path):
    src, _ = _song(tmp_path)
    report = export_stem_mp4(src, tmp_path / "song.stem.mp4", codec="aac")
    assert report.max_sum_error > 0 and 10 < report.sum_snr_db < 80


def test_many_stems_fold_into_four_slots(tmp_path):
    src, mix = _song(tmp_path, names=("lead", "choir", "kick", "snare", "synth", "bass"), preset="transparent")
    with snc.open(src) as f:
        roles = [(s.name, s.role) for s in f.streams if s.name in f.stems]
    assert default_slots(roles) == {"drums": ["choir"], "bass": ["bass"], "other": ["lead", "kick", "snare", "synth"],
                                    "vocals": []}  # six stems named freely: their role is "other"
    assert default_slots([("backing", "other"), ("guitar", "guitar")]) == {
        "drums": ["guitar"], "bass": [], "other": ["backing"], "vocals": []}
    slots = parse_map(["drums=kick+snare", "bass=bass", "keys=synth", "vocals=lead+choir"], [n for n, _ in roles])
    out = tmp_path / "six.stem.mp4"
    report = export_stem_mp4(src, out, slots=slots)
    assert report.max_sum_error == 0 and [s["name"] for s in report.slots] == ["Drums", "bass", "synth", "Vocals"]
    with snc.open(src) as f:
        exact = f.read(dtype="native")
    assert np.array_equal(read_stem_mp4(out).master, exact)  # a lossy file's exported master is its decoded mix


def test_map_errors_are_one_line():
    names = ["a", "b", "c"]
    for specs, message in ((["x=a+b"], "'c' is in no slot"), (["x=a+b", "y=b+c"], "'b' is in two slots"),
                           (["x=a+q"], "no stem 'q'"), (["x"], "SLOT=STEM"), (["x=a", "x=b+c"], "given twice"),
                           (["p=a", "q=b", "r=c", "s=a", "t=b"], "5 slots")):
        with pytest.raises(InputError, match=message):
            parse_map(specs, names)


def test_fold_is_exact_for_any_residual():
    rng = np.random.default_rng(1)
    stems = {k: rng.integers(-3000, 3000, (5000, 2)) for k in "abcd"}
    mix = sum(stems.values()) + rng.integers(-500, 500, (5000, 2))
    slots = {"one": ["a"], "two": ["b", "c"], "other": ["d"], "four": []}
    for residual in ("attribution", "two"):
        parts = fold(mix, stems, slots, residual, RATE)
        assert np.array_equal(sum(parts), mix)
    parts = fold(mix, stems, slots, "two", RATE)
    assert np.array_equal(parts[0], stems["a"]) and not parts[3].any()


@pytest.mark.parametrize("rate, bits, channels", [(96000, 24, 2), (RATE, 16, 1)])
def test_other_formats_are_converted_and_still_add_up(tmp_path, rate, bits, channels):
    src, _ = _song(tmp_path, rate=rate, bits=bits, channels=channels, seconds=0.5)
    out = tmp_path / "conv.stem.mp4"
    report = export_stem_mp4(src, out)
    assert report.sample_rate == (48000 if rate == 96000 else RATE) and report.max_sum_error == 0
    back = read_stem_mp4(out)
    assert back.master.shape[1] == 2 and abs(len(back.master) - int(0.5 * report.sample_rate)) < 64


def test_converted_rounding_goes_to_the_catch_all_slot_not_a_silent_one(tmp_path):
    src, _ = _song(tmp_path, rate=96000, bits=24, seconds=0.5)
    out = tmp_path / "mapped.stem.mp4"
    report = export_stem_mp4(src, out, slots={"rhythm": ["drums", "bass"], "rest": ["vocals", "other"]})
    back = read_stem_mp4(out)
    assert report.max_sum_error == 0 and [s["name"] for s in report.slots][2:] == ["slot3", "slot4"]
    assert not back.stems["slot3"].any() and not back.stems["slot4"].any()


def test_a_slot_beyond_full_scale_spills_into_another(tmp_path):
    """Two loud stems in one slot pass full scale where a third, in antiphase, pulls the mix back: the excess
    goes to the slot with room at those samples, the file stays 16-bit and the sum exact."""
    n = RATE // 2
    tone = (np.sin(np.arange(n) * 0.01) * 30000).astype(np.int32)[:, None].repeat(2, axis=1)
    stems = {"drums": tone, "bass": tone, "vocals": -tone}
    mix = np.clip(tone + tone - tone, -32768, 32767).astype(np.int32)
    src = tmp_path / "loud.snc"
    snc.encode(mix, src, stems=stems, samplerate=RATE, bits=16, preset="archival")
    report = export_stem_mp4(src, tmp_path / "loud.stem.mp4", slots={"a": ["drums", "bass"], "b": ["vocals"]})
    assert report.bits == 16 and report.headroom_bits == 0 and report.spilled_samples > 0
    back = read_stem_mp4(tmp_path / "loud.stem.mp4")
    assert report.max_sum_error == 0 and np.array_equal(back.master, mix)
    a = back.stems["Other"] if "Other" in back.stems else back.stems["a"]
    assert a.max() == 32767 and a.min() >= -32768  # held at full scale, not wrapped


def test_spill_moves_only_the_excess_and_keeps_the_sum():
    rng = np.random.default_rng(3)
    parts = [rng.integers(-40000, 40000, (1000, 2)) for _ in range(4)]
    mix = np.clip(sum(parts), -32768, 32767)
    parts[3] += mix - sum(parts)  # a mix within full scale
    out, moved = spill(parts, 16)
    assert np.array_equal(sum(out), mix) and all(o.min() >= -32768 and o.max() <= 32767 for o in out)
    inside = np.all([(p >= -32768) & (p <= 32767) for p in parts], axis=0)
    assert moved > 0 and all(np.array_equal(o[inside], p[inside]) for o, p in zip(out, parts))


def test_faststart_moov_before_mdat_keeps_the_audio(tmp_path):
    """Growing a moov that precedes the media data moves the chunk offsets with it."""
    path = tmp_path / "fast.mp4"
    x = (np.random.default_rng(0).standard_normal((2, 20000)) * 3000).astype(np.int16)
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("alac", rate=RATE, layout="stereo")
        stream.codec_context.format = "s16p"
        frame = av.AudioFrame.from_ndarray(x, format="s16p", layout="stereo")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data = path.read_bytes()
    kinds = [b.kind for b in mp4atoms.boxes(data)]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    path.write_bytes(mp4atoms.add_stems_boxes(data, b'{"version": 1, "stems": []}', cover=(PNG, "image/png")))
    assert mixxx_stem_manifest(path) == {"version": 1, "stems": []}
    with av.open(str(path)) as f:
        y = np.concatenate([fr.to_ndarray() for fr in f.decode(audio=0)], axis=1)
    assert np.array_equal(y[:, :20000], x)


def test_broken_mp4_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="overruns"):
        list(mp4atoms.boxes(struct.pack(">I4s", 100, b"moov") + bytes(10)))
    bad = tmp_path / "bad.stem.mp4"
    bad.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
    with pytest.raises(InputError, match="no NI Stems manifest"):
        read_stem_mp4(bad)


def test_the_command_line(tmp_path, capsys):
    src, _ = _song(tmp_path)
    out = tmp_path / "cli.stem.mp4"
    assert export_cli.main([str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "stems sum to the master exactly" in err and "stem 4: vocals #e6194b <- vocals" in err
    assert export_cli.main([str(src), "-o", str(out)]) == 1  # no overwrite without -f
    assert "already exists, use -f" in capsys.readouterr().err
    assert export_cli.main([str(src), "-o", str(out), "-f", "-q", "--map", "all=vocals+drums+bass+other",
                            "--residual", "all"]) == 0
    assert [s["name"] for s in mixxx_stem_manifest(out)["stems"]] == ["all", "slot2", "slot3", "slot4"]
    assert export_cli.main([str(src), "-o", str(tmp_path / "x.wav")]) == 1
    assert "give a .stem.mp4 (NI Stems) or .mka" in capsys.readouterr().err
    assert export_cli.main([str(src), "-o", str(tmp_path / "x.stem.mp4"), "--codec", "opus"]) == 1
    assert "NI Stems takes alac or aac" in capsys.readouterr().err
    assert export_cli.main([str(src), "-o", str(tmp_path / "x.mka"), "--codec", "opus", "-q"]) == 0
    assert export_cli.main([str(src), "--stems-dir", str(tmp_path / "dir"), "--format", "wav"]) == 0
    assert "mix.wav" in capsys.readouterr().err and (tmp_path / "dir" / "stems.json").exists()
    assert export_cli.main([str(src), "--stems-dir", str(tmp_path / "dir2"), "--map", "a=vocals"]) == 1
    assert "--map and --residual shape NI Stems" in capsys.readouterr().err
    assert export_cli.main([str(src), "-o", str(tmp_path / "y.stem.mp4"), "--residual", "nowhere"]) == 1
    assert "no such slot" in capsys.readouterr().err and not (tmp_path / "y.stem.mp4").exists()
    assert not list(tmp_path.rglob(".*"))  # no temporary left behind


def test_round_trips_through_ni_stems_keep_audio_names_and_metadata(tmp_path, capsys):
    """snc -> stem.mp4 -> snc (archival: the mix exact) -> stem.mp4 (the same tracks, sample for sample)."""
    from snc.cli import encode as encode_cli

    src, mix = _song(tmp_path, pictures=[{"picture_type": 3, "mime": "image/png", "data": PNG}],
                     music={"bpm": 126, "lyrics": "one\ntwo"})
    first = tmp_path / "first.stem.mp4"
    export_stem_mp4(src, first)
    again = tmp_path / "again.snc"
    assert encode_cli.main([str(first), "-o", str(again), "--preset", "archival", "-q"]) == 0
    with snc.open(again) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        assert f.stems == ["drums", "bass", "other", "vocals"]
        assert {s.name: s.colour for s in f.streams}["vocals"] == "#e6194b"
        assert f.tags["title"] == "T" and f.pictures[0]["data"] == PNG
        assert f.music == {"bpm": 126, "lyrics": "one\ntwo"}
    second = tmp_path / "second.stem.mp4"
    export_stem_mp4(again, second)
    a, b = read_stem_mp4(first), read_stem_mp4(second)
    assert np.array_equal(a.master, b.master) and list(a.stems) == list(b.stems)
    assert all(np.array_equal(a.stems[k], b.stems[k]) for k in a.stems)
    assert a.colours == b.colours and a.tags == b.tags and a.bpm == b.bpm == 126 and a.cover == b.cover
    assert a.lyrics == b.lyrics == "one\ntwo"
    assert encode_cli.main([str(first), "-o", str(tmp_path / "x.snc"), "--stems", f"v={first}"]) == 1
    assert "brings its own stems" in capsys.readouterr().err


def test_an_aac_stems_file_imports_as_16_bit(tmp_path):
    from snc.interop.stems_mp4_read import encode_stems_file

    src, mix = _song(tmp_path)
    export_stem_mp4(src, tmp_path / "a.stem.mp4", codec="aac", check=False)
    f = read_stem_mp4(tmp_path / "a.stem.mp4")
    assert f.bits == 16 and f.sample_rate == RATE and len(f.stems) == 4
    report = encode_stems_file(f, tmp_path / "a.snc", preset="archival")
    with snc.open(tmp_path / "a.snc") as g:
        assert np.array_equal(g.read(dtype="native"), f.master)  # the decoded AAC master, exactly
    assert report.frames == len(f.master)
