"""Command-line options and messages: time formats, value ranges, repeated names, -q/-v, progress, exit
codes, and terminal-safe snc-info output.  Every refusal is one line and writes nothing."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_cli_safety import RATE, enc_args, one_line_error, snapshot, song  # noqa: F401 -- song is a fixture

import snc
from snc.cli import decode, encode, info, values


def _decode(tmp_path, *argv):
    return decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "x.wav"), *argv])


# --------------------------------------------------------------------------------------------------
# --start and --duration

@pytest.mark.parametrize("text,seconds", [("90", 90.0), ("2.5", 2.5), (".25", 0.25), ("1:30", 90.0),
                                          ("0:00.25", 0.25), ("1:02:03.5", 3723.5), ("10:00:00", 36000.0)])
def test_time_formats(text, seconds):
    assert values.parse_time(text) == seconds


@pytest.mark.parametrize("text", ["inf", "nan", "-1", "1e3", "1:60", "1:60:00", "1:2:3:4", "", "a:30", "1:-5"])
def test_bad_times_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        values.parse_time(text)


def test_start_in_minutes_decodes_the_same_as_seconds(song):
    tmp_path, mix = song
    assert _decode(tmp_path, "--start", "0:00.25", "--duration", "0:0.125", "-q") == 0
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "y.wav"), "--start", "0.25",
                        "--duration", "0.125", "-q"]) == 0
    x = sf.read(tmp_path / "x.wav", dtype="int16")[0]
    assert np.array_equal(x, sf.read(tmp_path / "y.wav", dtype="int16")[0])
    assert np.array_equal(x, mix[2000:3000])


@pytest.mark.parametrize("argv,code,needle", [
    (["--start", "inf"], 2, "invalid time 'inf'"),
    (["--start", "nan"], 2, "invalid time 'nan'"),
    (["--start=-1"], 2, "invalid time '-1'"),
    (["--duration", "inf"], 2, "invalid time 'inf'"),
    (["--start", "1:00"], 1, "past the end"),
    (["--head-yaw", "nan"], 2, "not a finite number"),
    (["--target-lufs", "inf"], 2, "not a finite number"),
])
def test_bad_start_and_values_are_one_line(song, capsys, argv, code, needle):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    if code == 2:
        with pytest.raises(SystemExit) as exc:
            _decode(tmp_path, *argv)
        assert exc.value.code == 2
    else:
        assert _decode(tmp_path, *argv) == code
    one_line_error(capsys.readouterr().err, "snc-decode", needle)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# gains, names, repeated assignments

@pytest.mark.parametrize("gain", ["1e10", "inf", "-inf", "nan", "41", "-121"])
def test_gain_out_of_range_is_one_line(song, capsys, gain):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    assert _decode(tmp_path, "--gain", f"drums={gain}") == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "-120..+40 dB")
    assert snapshot(tmp_path) == before


def test_gain_at_the_edges_is_accepted(song):
    tmp_path, _ = song
    assert _decode(tmp_path, "--gain", "drums=-120", "--gain", "bass=40", "-q") == 0


def test_unknown_stem_lists_the_stems(song, capsys):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    assert _decode(tmp_path, "--stem", "vocals") == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "'vocals'", "bass, drums, residual")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("tool,argv,needle", [
    ("encode", ["--stems", "bass={b}", "bass={d}"], "--stems gives 'bass' twice"),
    ("encode", ["--stems", "bass={b}", "drums={d}", "--tag", "title=a", "--tag", "title=b"],
     "--tag gives 'title' twice"),
    ("encode", ["--stems", "bass={b}", "drums={d}", "--position", "bass=10", "--position", "bass=20"],
     "--position gives 'bass' twice"),
    ("encode", ["--stems", "bass={b}", "drums={d}", "--position", "bass=nan,0"], "not a valid value"),
    ("decode", ["--gain", "bass=-3", "--gain", "bass=3"], "--gain gives 'bass' twice"),
    ("decode", ["--layout", "5.1", "--position", "bass=10", "--position", "bass=20"], "--position gives 'bass' twice"),
])
def test_repeated_names_are_refused(song, capsys, tool, argv, needle):
    tmp_path, _ = song
    argv = [a.format(b=tmp_path / "bass.wav", d=tmp_path / "drums.flac") for a in argv]
    before = snapshot(tmp_path)
    if tool == "encode":
        code = encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "o.snc"), "--preset", "archival", *argv])
    else:
        code = _decode(tmp_path, *argv)
    assert code == 1
    one_line_error(capsys.readouterr().err, f"snc-{tool}", needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv,needle", [
    (["--bitrate", "inf"], "not a finite number"),
    (["--bitrate", "0"], "must be positive"),
    (["--remix-headroom", "nan"], "not a finite number"),
    (["--threads", "0"], "must be positive"),
])
def test_encode_number_options_are_checked(song, capsys, argv, needle):
    tmp_path, _ = song
    with pytest.raises(SystemExit) as exc:
        encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "o.snc"), *argv])
    assert exc.value.code == 2
    one_line_error(capsys.readouterr().err, "snc-encode", needle)
    assert not (tmp_path / "o.snc").exists()


@pytest.mark.parametrize("text,needle", [('{"x": {"gains": {"bass": NaN}}}', "NaN is not a JSON number"),
                                         ('{"x": {"gains": {"bass": -Infinity}}}', "-Infinity is not a JSON number"),
                                         ('{"x": {"gains": {"bass": 1e999}}}', "1e999 is out of range"),
                                         ('{"x": ', "Expecting value")])
def test_profiles_file_must_be_strict_json(song, capsys, text, needle):
    tmp_path, _ = song
    (tmp_path / "p.json").write_text(text)
    before = snapshot(tmp_path)
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "o.snc"), "--preset", "archival",
                        "--stems", f"bass={tmp_path / 'bass.wav'}", f"drums={tmp_path / 'drums.flac'}",
                        "--profiles", str(tmp_path / "p.json")]) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_context_ambient_level_must_be_finite(song, capsys, value):
    tmp_path, _ = song
    assert _decode(tmp_path, "--context", f"ambient_db={value}") == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "not a finite number")
    assert not (tmp_path / "x.wav").exists()


# --------------------------------------------------------------------------------------------------
# -q, -v, progress

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_quiet_prints_nothing(song, capsys):
    tmp_path, _ = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "q.snc"), "--preset", "archival",
                        "--separator", "none", "--verify", "-q"]) == 0
    assert _decode(tmp_path, "-q") == 0
    assert info.main([str(tmp_path / "song.snc"), "--verify", "-q"]) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.slow
def test_quiet_decode_with_a_cold_kernel_cache_prints_nothing(song):
    """-q also silences the first-run compile announcement (a fresh numba cache forces it)."""
    import os
    import subprocess

    tmp_path, _ = song
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cold-cache"))
    loud = subprocess.run([sys.executable, "-m", "snc.cli.decode", str(tmp_path / "song.snc"), "-o",
                           str(tmp_path / "loud.wav")], capture_output=True, text=True, env=env)
    assert loud.returncode == 0 and "compiling codec kernels" in loud.stderr
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cold-cache-2")
    quiet = subprocess.run([sys.executable, "-m", "snc.cli.decode", str(tmp_path / "song.snc"), "-o",
                            str(tmp_path / "quiet.wav"), "-q"], capture_output=True, text=True, env=env)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_quiet_info_verify_still_fails_by_exit_status(song, capsys):
    tmp_path, _ = song
    data = bytearray((tmp_path / "song.snc").read_bytes())
    data[len(data) // 2] ^= 0x40
    (tmp_path / "bad.snc").write_bytes(bytes(data))
    assert info.main([str(tmp_path / "bad.snc"), "--verify", "-q"]) == 1
    assert capsys.readouterr().out == ""


def test_quiet_and_verbose_exclude_each_other(song, capsys):
    tmp_path, _ = song
    with pytest.raises(SystemExit) as exc:
        info.main([str(tmp_path / "song.snc"), "-q", "-v"])
    assert exc.value.code == 2


def test_progress_in_a_log_is_one_line_per_file(song, capsys):
    tmp_path, _ = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "p.snc"), "--preset", "archival",
                        "--separator", "none"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("\n") == 1
    assert err.startswith(f"{tmp_path / 'p.snc'}: 0.5 s encoded in ") and err.endswith("x realtime)\n")
    assert decode.main([str(tmp_path / "song.snc"), "--stems-dir", str(tmp_path / "d")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "d" / f"{n}.wav")
                                                      for n in ("bass", "drums", "residual")]
    assert all(" s decoded in " in line for line in lines)


def test_progress_on_a_terminal_has_bars_with_eta(song, monkeypatch):
    tmp_path, _ = song
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "t.snc"), "--separator", "none"]) == 0
    text = terminal.getvalue()
    assert ": measure:" in text and ": encode:" in text and "<" in text  # tqdm's elapsed<remaining
    assert text.rstrip("\n").rsplit("\n", 1)[-1].split("\r")[-1].endswith("x realtime)")  # bars cleared


def test_verbose_shows_stage_times(song, capsys):
    tmp_path, _ = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "v.snc"), "--separator", "none",
                        "-v"]) == 0
    err = capsys.readouterr().err
    assert "measure took" in err and "encode took" in err


def test_progress_callback_contract(song):
    """What snc.encode promises its progress callback (the CLI's Progress relies on it)."""
    tmp_path, mix = song
    events = []
    snc.encode(mix, tmp_path / "c.snc", samplerate=RATE, bitrate=64, progress=events.append)
    stages = [e["stage"] for e in events]
    assert {"measure", "bitrate search", "encode"} <= set(stages)
    for e in events:
        assert 0 <= e["frames_done"] <= e["frames_total"]
    assert events[-1]["stage"] == "encode" and events[-1]["frames_done"] == events[-1]["frames_total"]


# --------------------------------------------------------------------------------------------------
# unexpected failures and exit codes

def test_unexpected_error_is_one_line_with_a_bug_hint(song, capsys, monkeypatch):
    tmp_path, _ = song

    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(decode, "SncFile", broken)
    assert _decode(tmp_path) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "unexpected ZeroDivisionError", "bug", "-v")
    assert _decode(tmp_path, "-v") == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("snc-decode: error: unexpected")


def test_os_error_names_the_file(song, capsys, monkeypatch):
    tmp_path, _ = song

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "song.snc"))

    monkeypatch.setattr(decode, "SncFile", denied)
    assert _decode(tmp_path) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", f"{tmp_path / 'song.snc'}: Permission denied")


def test_error_text_from_a_file_cannot_reach_the_terminal(song, capsys, monkeypatch):
    tmp_path, _ = song

    def hostile(*args, **kwargs):
        raise snc.FormatError("bad name '\x1b]0;owned\x07'\nsecond line")

    monkeypatch.setattr(decode, "SncFile", hostile)
    assert _decode(tmp_path) == 1
    err = capsys.readouterr().err
    one_line_error(err, "snc-decode", "bad name")
    assert "\x1b" not in err and "\x07" not in err


# --------------------------------------------------------------------------------------------------
# snc-info on hostile names

HOSTILE = "\x1b[2J\x1b]0;title\x07v\u202eocals\x9b31m"


@pytest.fixture
def hostile_file(tmp_path):
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((2000, 1)) * 1000).astype(np.int16)
    path = tmp_path / "hostile.snc"
    snc.encode(a * 2, path, stems={HOSTILE: a, "b": a}, samplerate=RATE, preset="archival",
               tags={"ti\x1btle": "x\x1b[31mred\u2028y"}, lead=HOSTILE,
               profiles={"p\x1b[5m": {"gains": {"b": -3}}})
    return path


def test_info_text_has_no_control_characters(hostile_file, capsys):
    assert info.main([str(hostile_file)]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if not c.isprintable() and c != "\n"], repr(out)
    assert "v?ocals" in out and "ti?tle=x?[31mred?y" in out and "p?[5m (authored)" in out
    assert "lead stem: ?[2J?]0;title?v?ocals?31m" in out


def test_info_json_is_faithful_and_terminal_safe(hostile_file, capsys):
    assert info.main([str(hostile_file), "--json"]) == 0
    out = capsys.readouterr().out
    assert not [c for c in out if not c.isprintable() and c != "\n"], repr(out)
    d = json.loads(out)
    assert d["streams"][0]["name"] == HOSTILE and d["lead"] == HOSTILE
    assert d["tags"] == {"ti\x1btle": "x\x1b[31mred\u2028y"}


def test_info_json_keeps_printable_unicode_readable(tmp_path, capsys):
    path = tmp_path / "u.snc"
    snc.encode(np.zeros((100, 1), np.int16), path, samplerate=RATE, preset="archival", tags={"title": "Café 𝄞"})
    assert info.main([str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"title": "Café 𝄞"' in out


def test_info_json_escapes_astral_unprintables_as_surrogate_pairs():
    from snc.cli.info import to_json

    text = to_json({"k": "a\U000e0001b"})  # LANGUAGE TAG: a format character outside the BMP
    assert "\\udb40\\udc01" in text and json.loads(text) == {"k": "a\U000e0001b"}


# --------------------------------------------------------------------------------------------------
# --format-version

def test_format_version_1_1_writes_a_file_1_1_readers_decode(song, capsys):
    tmp_path, mix = song
    assert encode.main(enc_args(tmp_path, "-q")) == 0
    assert encode.main(enc_args(tmp_path, "-q", "--format-version", "1.1", output="old.snc")) == 0
    with snc.open(tmp_path / "out.snc") as new, snc.open(tmp_path / "old.snc") as old:
        assert new.describe()["format_version"] == "1.2"
        assert old.describe()["format_version"] == "1.0"  # no master stream: nothing of 1.1 is needed either
        assert np.array_equal(old.read(dtype="native"), new.read(dtype="native"))
    capsys.readouterr()
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exc:
        encode.main(enc_args(tmp_path, "--format-version", "1.0", output="x.snc"))
    assert exc.value.code == 2
    one_line_error(capsys.readouterr().err, "snc-encode", "--format-version")
    assert snapshot(tmp_path) == before


def test_info_says_when_the_stems_play_through_a_master_eq(capsys):
    from snc.cli import info

    vector = Path(__file__).resolve().parents[2] / "spec" / "vectors" / "valid" / "master-eq-stereo16-3stems.snc"
    assert info.main([str(vector)]) == 0
    out = capsys.readouterr().out
    assert "SNC 1.3" in out and "EQ of 3 biquads per channel" in out


def test_info_says_when_a_compressor_multiplies_the_gain(capsys):
    from snc.cli import info

    valid = Path(__file__).resolve().parents[2] / "spec" / "vectors" / "valid"
    vector = valid / "master-compressor-stereo16-3stems.snc"
    assert info.main([str(vector)]) == 0
    out = capsys.readouterr().out
    assert "SNC 1.4" in out and "a compressor on the stems' sum (ratio" in out
