"""snc-encode's musical metadata and colours (--bpm, --key, --cue, --lyrics, --isrc, --colour) as snc-info
shows them, in text and JSON; bad values are one line and write nothing; batches take tempo, key and colours
for every song and the rest from the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from test_cli_safety import RATE, enc_args, one_line_error, snapshot, song  # noqa: F401 -- song is a fixture

import snc
from snc.cli import encode, info

LRC = "[ar:Someone]\n[offset:-100]\n[00:00.10][00:00.30]chorus\n[00:00.20]verse\n"


def test_flags_reach_the_file_and_snc_info(song, capsys):
    tmp_path, _ = song
    (tmp_path / "song.lrc").write_text(LRC)
    cues = [f"--cue=0:00.{k}0=cue {k}" for k in range(1, 6)]
    assert encode.main(enc_args(tmp_path, "--bpm", "128", "--key", "F# minor", *cues, "--lyrics",
                                str(tmp_path / "song.lrc"), "--isrc", "us-rc1-76-07839", "--colour",
                                "drums=#FF8800", "-q")) == 0
    assert info.main([str(tmp_path / "out.snc")]) == 0
    out = capsys.readouterr().out
    assert "  music: 128 bpm, key F#m, ISRC USRC17607839\n" in out
    assert "  cues (5): 0:00.10 cue 1, 0:00.20 cue 2, 0:00.30 cue 3, 0:00.40 cue 4, ... (1 more)\n" in out
    assert "  lyrics: 3 lines, 3 synced\n" in out
    assert info.main([str(tmp_path / "out.snc"), "-v"]) == 0
    assert "0:00.50 cue 5\n" in capsys.readouterr().out
    assert info.main([str(tmp_path / "out.snc"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["music"]["cues"][0] == {"frame": RATE // 10, "label": "cue 1"}
    assert d["music"]["synced_lyrics"] == [{"frame": 1600, "text": "chorus"}, {"frame": 2400, "text": "verse"},
                                           {"frame": 3200, "text": "chorus"}]
    assert d["music"]["lyrics"] == "chorus\nverse\nchorus" and d["music"]["bpm"] == 128
    assert {s["name"]: s["colour"] for s in d["streams"]}["drums"] == "#ff8800"


def test_a_plain_lyrics_file_and_a_file_without_music(song, capsys):
    tmp_path, _ = song
    (tmp_path / "words.txt").write_text("one\ntwo\n\nthree\n")
    assert encode.main(enc_args(tmp_path, "--lyrics", str(tmp_path / "words.txt"), "-q")) == 0
    with snc.open(tmp_path / "out.snc") as f:
        assert f.music == {"lyrics": "one\ntwo\n\nthree"}
    assert info.main([str(tmp_path / "out.snc")]) == 0
    assert "  lyrics: 4 lines\n" in capsys.readouterr().out
    assert info.main([str(tmp_path / "song.snc")]) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith(("  music:", "  cues", "  lyrics:"))]
    assert info.main([str(tmp_path / "song.snc"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["music"] == {}


def test_cues_from_stdin_use_its_rate(song, monkeypatch, capsys):
    import io
    import sys

    tmp_path, _ = song
    data = (tmp_path / "mix.wav").read_bytes()
    stdin = type("In", (io.BytesIO,), {"isatty": lambda self: False, "buffer": property(lambda self: self)})
    monkeypatch.setattr(sys, "stdin", stdin(data))
    assert encode.main(["-", "-o", str(tmp_path / "in.snc"), "--preset", "archival", "--separator", "none",
                        "--cue", "0.25=x", "-q"]) == 0
    with snc.open(tmp_path / "in.snc") as f:
        assert f.music == {"cues": [{"frame": RATE // 4, "label": "x"}]}


@pytest.mark.parametrize("argv,needle", [
    (["--bpm", "0"], "music bpm: must be a number in (0, 999]"),
    (["--key", "H"], "music key: must be a tonic A-G"),
    (["--isrc", "US-123"], "music isrc: must be 12 characters"),
    (["--cue", "1:75=x"], "--cue '1:75=x': invalid time"),
    (["--cue", "chorus"], "--cue must look like TIME=LABEL"),
    (["--lyrics", "missing.lrc"], "--lyrics: cannot read missing.lrc"),
    (["--colour", "drums=orange"], "colour of 'drums' must be '#rrggbb'"),
    (["--colour", "vocals=#ff0000"], "colours name no stem: 'vocals' (stems: bass, drums)"),
    (["--colour", "drums=#ff0000", "--colour", "drums=#00ff00"], "--colour gives 'drums' twice"),
])
def test_bad_values_are_one_line_and_write_nothing(song, capsys, monkeypatch, argv, needle):
    tmp_path, _ = song
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert encode.main(enc_args(tmp_path, *argv)) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", needle)
    assert snapshot(tmp_path) == before


def test_bad_lyrics_encoding_is_one_line(song, capsys):
    tmp_path, _ = song
    (tmp_path / "bad.lrc").write_bytes(b"[00:01]\xff\xfe")
    assert encode.main(enc_args(tmp_path, "--lyrics", str(tmp_path / "bad.lrc"))) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "--lyrics: cannot read")


def _mix(path, seed):
    sf.write(path, (np.random.default_rng(seed).standard_normal((2000, 2)) * 1000).astype(np.int16), RATE)


def test_a_batch_gives_tempo_key_and_colours_to_every_song(tmp_path, capsys):
    for name, seed in (("a.wav", 1), ("b.wav", 2)):
        _mix(tmp_path / name, seed)
    out = tmp_path / "out"
    common = ["-O", str(out), "--separator", "none", "--preset", "archival", "-q"]
    assert encode.main([str(tmp_path / "a.wav"), str(tmp_path / "b.wav"), *common, "--bpm", "90", "--key", "Eb",
                        "--colour", "mix=#010203"]) == 0
    for name in ("a.snc", "b.snc"):
        with snc.open(out / name) as f:
            assert f.music == {"bpm": 90, "key": "Eb"} and f.streams[0].colour == "#010203"
    for flag in (["--cue", "1=x"], ["--isrc", "USRC17607839"], ["--lyrics", "x.lrc"]):
        assert encode.main([str(tmp_path / "a.wav"), *common, *flag]) == 1
        one_line_error(capsys.readouterr().err, "snc-encode", f"{flag[0]} describes one song", "--manifest")
    (tmp_path / "songs.jsonl").write_text(json.dumps({"mix": "a.wav", "output": "m.snc", "music": {
        "isrc": "USRC17607839", "cues": [{"frame": 100, "label": "x"}], "key": "C"}}) + "\n")
    assert encode.main(["--manifest", str(tmp_path / "songs.jsonl"), *common, "--bpm", "90", "--key", "Eb"]) == 0
    with snc.open(out / "m.snc") as f:
        assert f.music == {"bpm": 90, "key": "C", "cues": [{"frame": 100, "label": "x"}], "isrc": "USRC17607839"}
