"""The command-line tools end to end, through main(argv) as a user would call them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import random_multitrack

from snc.cli import decode, encode, info


@pytest.fixture
def song(tmp_path):
    mix, stems = random_multitrack(4, frames=6000, stems=3)
    sf.write(tmp_path / "mix.wav", mix.astype(np.int16), 44100, subtype="PCM_16")
    args = []
    for name, data in zip(["vocals", "drums", "bass"], stems.values()):
        sf.write(tmp_path / f"{name}.flac", data.astype(np.int16), 44100)
        args.append(f"{name}={tmp_path / f'{name}.flac'}")
    return tmp_path, mix, dict(zip(["vocals", "drums", "bass"], stems.values())), args


def _encode(tmp_path, stem_args, *extra):
    preset = () if "--preset" in extra else ("--preset", "archival")  # these tests check exactness
    return encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "s.snc"), "--stems", *stem_args,
                        *preset, *extra])


def test_default_preset_is_transparent_and_decodes(song, capsys):
    tmp_path, mix, stems, stem_args = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "t.snc"), "--stems", *stem_args,
                        "--verify"]) == 0
    assert "verify: OK" in capsys.readouterr().out
    assert info.main([str(tmp_path / "t.snc"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["preset"] == "transparent"
    assert {s["codec"] for s in d["streams"]} == {"perceptual"}
    assert decode.main([str(tmp_path / "t.snc"), "-o", str(tmp_path / "t.wav")]) == 0
    out = sf.read(tmp_path / "t.wav", dtype="int16")[0].astype(float)
    err = out - mix
    # the fixture is white noise: its part above ~16 kHz is under the absolute threshold of hearing
    # and dropped by design (about a quarter of its energy), so the SNR is modest
    assert 10 * np.log10((mix.astype(float) ** 2).sum() / (err ** 2).sum()) > 5


def test_encode_verify_info_decode(song, capsys):
    tmp_path, mix, stems, stem_args = song
    assert _encode(tmp_path, stem_args, "--verify", "--tag", "title=Demo") == 0
    out = capsys.readouterr().out
    assert "verify: OK" in out and "bit-exact" in out

    assert info.main([str(tmp_path / "s.snc"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"sample_rate", "frames", "channels", "preset", "streams"} <= set(d)
    assert [s["name"] for s in d["streams"]] == ["vocals", "drums", "bass", "residual"]
    assert d["preset"] == "archival" and d["tags"] == {"title": "Demo"}
    assert info.main([str(tmp_path / "s.snc"), "--verify"]) == 0
    assert "share" in capsys.readouterr().out

    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "out.flac")]) == 0
    assert np.array_equal(sf.read(tmp_path / "out.flac", dtype="int16")[0], mix)

    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "v.wav"), "--stem", "vocals"]) == 0
    assert np.array_equal(sf.read(tmp_path / "v.wav", dtype="int16")[0], stems["vocals"])

    assert decode.main([str(tmp_path / "s.snc"), "--stems-dir", str(tmp_path / "stems")]) == 0
    for name, data in stems.items():
        assert np.array_equal(sf.read(tmp_path / "stems" / f"{name}.wav", dtype="int16")[0], data)
    residual = sf.read(tmp_path / "stems" / "residual.wav", dtype="float64")[0]
    total = sum(d.astype(np.int64) for d in stems.values())
    assert np.array_equal(np.round(residual * 32768).astype(np.int64), mix - total)


def test_remix_start_duration(song):
    tmp_path, mix, stems, stem_args = song
    assert _encode(tmp_path, stem_args, "-q") == 0
    out = tmp_path / "k.wav"
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(out), "--mute", "vocals", "--gain", "drums=-6",
                        "--start", "0.01", "--duration", "0.05"]) == 0
    data, rate = sf.read(out, dtype="int16")
    assert rate == 44100 and len(data) == round(0.05 * 44100)
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "solo.wav"), "--solo", "bass"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["--profile", "nope"], "unknown profile 'nope'"),
    (["--target-lufs", "5"], "target loudness must be -70..0"),
    (["--context", "ambient_db=loud"], "not a number"),
    (["--layout", "binaural", "--hrtf", "/nonexistent.sofa"], "no such file"),
    (["--layout", "5.1", "--position", "nobody=10,0"], "positions name no stem"),
    (["--mute", "nobody"], "no stream named 'nobody'"),
    (["--gain", "vocals=loud"], "not a valid value"),
    (["--start", "99"], "past the end"),
])
def test_decode_errors_are_one_line(song, capsys, argv, message):
    tmp_path, _, _, stem_args = song
    assert _encode(tmp_path, stem_args, "-q") == 0
    capsys.readouterr()
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "x.wav"), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("argv,message", [
    (["--remix-headroom", "99"], "remix headroom must be 0..24"),
    (["--separator", "demucs"], "--separator dsp"),  # demucs not installed, or no weights: one line either way
    (["--preset", "archival", "--bitrate", "128"], "--bitrate applies to"),
    (["--stems", "novalue"], "NAME=VALUE"),
    (["--separator", "none", "--lead", "vocals"], "a file without stems has no lead"),
])
def test_encode_errors_are_one_line(song, capsys, argv, message):
    tmp_path, _, _, _ = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "o.snc"), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.snc").exists()


def test_not_an_snc_file(tmp_path, capsys):
    (tmp_path / "x.snc").write_bytes(b"hello world, not snc")
    assert info.main([str(tmp_path / "x.snc")]) == 1
    assert "not an SNC file" in capsys.readouterr().err


def test_corrupted_file_in_cli(song, capsys):
    tmp_path, _, _, stem_args = song
    assert _encode(tmp_path, stem_args, "-q", "--codec", "pcm") == 0
    data = bytearray((tmp_path / "s.snc").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "s.snc").write_bytes(bytes(data))
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "d.wav"), "--strict"]) == 1
    assert "CRC mismatch" in capsys.readouterr().err
    assert not (tmp_path / "d.wav").exists()
    # by default the damaged packet is concealed and reported (spec section 16.4)
    assert decode.main([str(tmp_path / "s.snc"), "-o", str(tmp_path / "d.wav")]) == 0
    assert "damaged packet concealed" in capsys.readouterr().err


@pytest.mark.parametrize("tool,argv", [(encode, ["mix.wav"]), (decode, ["x.snc", "--stem", "a", "--stems-dir", "d"]),
                                       (info, [])])
def test_usage_errors_are_one_line(tool, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        tool.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "--help" in err


def test_decode_with_profile_context_and_loudness_target(tmp_path, capsys):
    from snc.signal.loudness import integrated_loudness, true_peak

    mix, stems = random_multitrack(5, frames=44100, stems=2)  # 1 s: loudness needs 400 ms blocks
    sf.write(tmp_path / "mix.wav", mix.astype(np.int16), 44100, subtype="PCM_16")
    stem_args = []
    for name, data in zip(["vocals", "drums"], stems.values()):
        sf.write(tmp_path / f"{name}.wav", data.astype(np.int16), 44100, subtype="PCM_16")
        stem_args.append(f"{name}={tmp_path / f'{name}.wav'}")
    profiles = tmp_path / "p.json"
    profiles.write_text(json.dumps({"quiet-drums": {"gains": {"drums": -12}, "description": "drums down"}}))
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "p.snc"), "--stems", *stem_args,
                        "--preset", "archival", "--profiles", str(profiles), "-q"]) == 0
    assert info.main([str(tmp_path / "p.snc")]) == 0
    out = capsys.readouterr().out
    assert "profiles: quiet-drums (authored), karaoke" in out and "lead stem" not in out
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "l.snc"), "--stems", *stem_args,
                        "--preset", "archival", "--lead", "drums", "-q"]) == 0
    assert info.main([str(tmp_path / "l.snc")]) == 0
    assert "lead stem: drums" in capsys.readouterr().out
    for extra in (["--profile", "quiet-drums"], ["--profile", "karaoke"], ["--context", "ambient_db=72",
                  "--context", "device=phone"], ["--target-lufs", "-20"]):
        out = tmp_path / "r.wav"
        assert decode.main([str(tmp_path / "p.snc"), "-o", str(out), "-f", *extra]) == 0
        y, rate = sf.read(out)
        assert len(y) == 44100
    assert abs(integrated_loudness(y, rate) + 20) < 0.5 and true_peak(y, rate) <= -1.0 + 0.05  # 16-bit rounding
