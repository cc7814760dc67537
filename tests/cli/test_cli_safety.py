"""The command line never loses a file: no output onto an input, no silent overwrite, nothing half-written
left after an error or a signal, outputs with the umask's permissions; errors are one line."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import snc
from snc.cli import common, decode, encode
from snc.fileutil import TEMP_SUFFIX, OutputExistsError, temp_beside

RATE = 8000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def song(tmp_path):
    """0.5 s at 8 kHz: a mix, two stem files and its archival .snc."""
    rng = np.random.default_rng(7)
    bass = (rng.standard_normal((4000, 2)) * 2000).astype(np.int16)
    drums = (rng.standard_normal((4000, 2)) * 2000).astype(np.int16)
    mix = bass.astype(np.int32) + drums
    sf.write(tmp_path / "mix.wav", mix.astype(np.int16), RATE, subtype="PCM_16")
    sf.write(tmp_path / "bass.wav", bass, RATE, subtype="PCM_16")
    sf.write(tmp_path / "drums.flac", drums, RATE)
    snc.encode(str(tmp_path / "mix.wav"), str(tmp_path / "song.snc"), preset="archival",
               stems={"bass": str(tmp_path / "bass.wav"), "drums": str(tmp_path / "drums.flac")})
    return tmp_path, mix.astype(np.int16)


def snapshot(directory: Path) -> dict:
    """Every file below ``directory`` (hidden ones too) with its bytes, mtime and mode."""
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def one_line_error(err: str, prog: str, *needles: str) -> None:
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def enc_args(tmp_path, *extra, output="out.snc"):
    return [str(tmp_path / "mix.wav"), "-o", str(tmp_path / output), "--preset", "archival",
            "--stems", f"bass={tmp_path / 'bass.wav'}", f"drums={tmp_path / 'drums.flac'}", *extra]


# --------------------------------------------------------------------------------------------------
# never onto an input

@pytest.mark.parametrize("target", ["mix.wav", "bass.wav", "drums.flac"])
@pytest.mark.parametrize("force", [[], ["-f"]])
def test_encode_refuses_to_write_onto_an_input(song, capsys, target, force):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    assert encode.main(enc_args(tmp_path, *force, output=target)) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "is the input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("link", [os.link, os.symlink])
def test_encode_refuses_a_link_to_an_input(song, capsys, link):
    tmp_path, _ = song
    link(tmp_path / "mix.wav", tmp_path / "alias.wav")
    before = snapshot(tmp_path)
    assert encode.main(enc_args(tmp_path, "-f", output="alias.wav")) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "is the input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv", [[], ["--stem", "bass"], ["--gain", "bass=-3"]])
def test_decode_refuses_to_write_onto_its_input(song, capsys, argv):
    tmp_path, _ = song
    os.link(tmp_path / "song.snc", tmp_path / "hard.snc")
    before = snapshot(tmp_path)
    for target in ("song.snc", "hard.snc"):
        assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / target), "-f", *argv]) == 1
        one_line_error(capsys.readouterr().err, "snc-decode", "is the input")
    assert snapshot(tmp_path) == before


def test_api_refuses_output_onto_input_even_with_overwrite(song):
    tmp_path, mix = song
    before = snapshot(tmp_path)
    with pytest.raises(snc.InputError, match="is the input"):
        snc.encode(str(tmp_path / "mix.wav"), str(tmp_path / "mix.wav"), preset="archival", overwrite=True)
    with pytest.raises(snc.InputError, match="is the input"):
        snc.encode(mix, tmp_path / "bass.wav", samplerate=RATE, preset="archival", overwrite=True,
                   stems={"bass": tmp_path / "bass.wav", "drums": mix - sf.read(tmp_path / "bass.wav",
                                                                                 dtype="int16")[0]})
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# existing outputs

def test_existing_output_is_refused_unless_force(song, capsys):
    tmp_path, mix = song
    (tmp_path / "out.snc").write_bytes(b"precious")
    (tmp_path / "out.wav").write_bytes(b"precious too")
    before = snapshot(tmp_path)
    assert encode.main(enc_args(tmp_path)) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "out.snc already exists, use -f to override")
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "out.wav")]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "out.wav already exists, use -f to override")
    assert snapshot(tmp_path) == before

    assert encode.main(enc_args(tmp_path, "-q", "--force")) == 0
    assert decode.main([str(tmp_path / "out.snc"), "-o", str(tmp_path / "out.wav"), "-f", "-q"]) == 0
    assert np.array_equal(sf.read(tmp_path / "out.wav", dtype="int16")[0], mix)


def test_stems_dir_checks_every_file_before_writing_any(song, capsys):
    tmp_path, _ = song
    stems_dir = tmp_path / "stems"
    stems_dir.mkdir()
    (stems_dir / "residual.wav").write_bytes(b"keep me")
    before = snapshot(tmp_path)
    assert decode.main([str(tmp_path / "song.snc"), "--stems-dir", str(stems_dir)]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "residual.wav already exists")
    assert snapshot(tmp_path) == before  # bass.wav and drums.wav were not written either
    assert decode.main([str(tmp_path / "song.snc"), "--stems-dir", str(stems_dir), "-f", "-q"]) == 0
    assert sorted(p.name for p in stems_dir.iterdir()) == ["bass.wav", "drums.wav", "residual.wav"]


def test_api_default_refuses_an_existing_output(song):
    tmp_path, mix = song
    before = snapshot(tmp_path)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        snc.encode(mix, tmp_path / "song.snc", samplerate=RATE, preset="archival")
    assert snapshot(tmp_path) == before
    snc.encode(mix, tmp_path / "song.snc", samplerate=RATE, preset="archival", overwrite=True)
    with snc.open(tmp_path / "song.snc") as f:
        assert f.stems == ["mix"] and np.array_equal(f.read(dtype="native"), mix)


# --------------------------------------------------------------------------------------------------
# permissions and temporary names

@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_honour_the_umask(song, umask):
    tmp_path, _ = song
    old = os.umask(umask)
    try:
        assert encode.main(enc_args(tmp_path, "-q")) == 0
        assert decode.main([str(tmp_path / "out.snc"), "-o", str(tmp_path / "out.flac"), "-q"]) == 0
        assert decode.main([str(tmp_path / "out.snc"), "--stems-dir", str(tmp_path / "d"), "-q"]) == 0
    finally:
        os.umask(old)
    for path in (tmp_path / "out.snc", tmp_path / "out.flac", tmp_path / "d" / "bass.wav"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_temporary_file_is_hidden_and_not_named_like_an_output(song):
    tmp_path, mix = song
    seen = []

    def progress(event):
        seen.append(sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")))

    snc.encode(mix, tmp_path / "new.snc", samplerate=RATE, preset="archival", progress=progress)
    during = {name for names in seen for name in names}
    assert len(during) == 1
    (name,) = during
    assert name.startswith(".new.snc.") and name.endswith(TEMP_SUFFIX) and TEMP_SUFFIX == ".snc-part"
    assert not any(name.endswith(ext) for ext in (".snc", ".wav", ".flac", ".part"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # gone after the rename


def test_temp_name_fits_a_long_output_name(tmp_path):
    fd, path = temp_beside(tmp_path / ("x" * 250 + ".wav"))
    os.close(fd)
    assert len(Path(path).name) <= 255 and Path(path).name.endswith(TEMP_SUFFIX)


# --------------------------------------------------------------------------------------------------
# outputs that cannot be written

def test_output_naming_a_directory(song, capsys):
    tmp_path, _ = song
    (tmp_path / "adir").mkdir()
    before = snapshot(tmp_path)
    assert encode.main(enc_args(tmp_path, "-f", output="adir")) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "is a directory")
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "adir"), "-f"]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "is a directory")
    assert snapshot(tmp_path) == before


def _refuse_temp_files(monkeypatch, code):
    """The directory refuses new files, as a read-only directory or file system does (root ignores modes)."""
    def mkstemp(*args, dir=None, **kwargs):
        raise OSError(code, os.strerror(code), os.path.join(dir or ".", ".x" + TEMP_SUFFIX))

    monkeypatch.setattr("snc.fileutil.tempfile.mkstemp", mkstemp)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_read_only_output_directory(song, capsys, monkeypatch, code):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    _refuse_temp_files(monkeypatch, code)
    assert encode.main(enc_args(tmp_path)) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", f"cannot write {tmp_path / 'out.snc'}: {os.strerror(code)}")
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "x.wav")]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", f"cannot write {tmp_path / 'x.wav'}: {os.strerror(code)}")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_for_real(song, capsys):
    tmp_path, _ = song
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert encode.main(enc_args(tmp_path, output="ro/out.snc")) == 1
        one_line_error(capsys.readouterr().err, "snc-encode", "Permission denied")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


class FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, fh, room: int):
        self._fh, self._room = fh, room

    def write(self, data) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def close(self):
        self._fh.close()


@pytest.mark.parametrize("room", [10, 3000])  # in the header, or in the audio
def test_full_disk_on_encode(song, capsys, monkeypatch, room):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    real_fdopen = os.fdopen
    monkeypatch.setattr("snc.container.writer.os.fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode), room))
    assert encode.main(enc_args(tmp_path)) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", f"cannot write {tmp_path / 'out.snc'}: No space left")
    assert snapshot(tmp_path) == before


def test_full_disk_on_decode(song, capsys, monkeypatch):
    tmp_path, _ = song
    before = snapshot(tmp_path)

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sf.SoundFile, "write", write)
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "x.flac")]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", f"cannot write {tmp_path / 'x.flac'}: No space left")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# signals

def _terminate_on_first_progress(monkeypatch, signum):
    real_call = common.Progress.__call__

    def call(self, event):
        real_call(self, event)
        os.kill(os.getpid(), signum)
        time.sleep(1)  # the handler raises at once; never reached

    monkeypatch.setattr(common.Progress, "__call__", call)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signals_clean_up_like_ctrl_c(song, capsys, monkeypatch, signum):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    _terminate_on_first_progress(monkeypatch, signum)
    assert encode.main(enc_args(tmp_path)) == 128 + signum
    assert capsys.readouterr().err.endswith("snc-encode: interrupted\n")
    assert decode.main([str(tmp_path / "song.snc"), "-o", str(tmp_path / "x.wav")]) == 128 + signum
    assert snapshot(tmp_path) == before
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # restored


def _write_long_input(path: Path, seconds: float) -> None:
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.standard_normal((int(44100 * seconds), 2)), axis=0)
    sf.write(path, (walk % 20000 - 10000).astype(np.int16), 44100, subtype="PCM_16")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_killed_encode_leaves_nothing(tmp_path, signum):
    """A real process, as a batch system stops it: the signal arrives while the output is being written."""
    _write_long_input(tmp_path / "long.wav", 8.0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "snc.cli.encode", str(tmp_path / "long.wav"), "-o",
                             str(out_dir / "long.snc"), "--separator", "none"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out_dir.glob(f".*{TEMP_SUFFIX}")):  # the encode stage has begun writing
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.decode().endswith("snc-encode: interrupted\n")
    assert list(out_dir.iterdir()) == []


@pytest.mark.slow
def test_leftover_of_a_killed_run_is_never_taken_for_an_output(tmp_path):
    """SIGKILL cannot be caught: the hidden ``.snc-part`` stays, but no output name or glob matches it, and
    the next run writes its output without -f."""
    _write_long_input(tmp_path / "long.wav", 8.0)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = [sys.executable, "-m", "snc.cli.encode", str(tmp_path / "long.wav"), "-o", str(out_dir / "long.snc"),
            "--separator", "none", "-q"]
    proc = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=str(REPO)))
    deadline = time.monotonic() + 120
    while not list(out_dir.glob(f".*{TEMP_SUFFIX}")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    (leftover,) = out_dir.iterdir()
    assert leftover.name.startswith(".long.snc.") and leftover.name.endswith(TEMP_SUFFIX)
    assert not list(out_dir.glob("*.snc")) and not list(out_dir.glob("*.wav"))
    assert subprocess.run(argv, env=dict(os.environ, PYTHONPATH=str(REPO))).returncode == 0
    with snc.open(out_dir / "long.snc") as f:
        assert f.frames == 8 * 44100


# --------------------------------------------------------------------------------------------------
# stdin and stdout

def _run(args, *, tmpdir=None, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(REPO), **({"TMPDIR": str(tmpdir)} if tmpdir else {}))
    return subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True, **kwargs)


@pytest.mark.slow
def test_decode_to_stdout_and_encode_from_stdin(song):
    tmp_path, mix = song
    done = _run(["snc.cli.decode", str(tmp_path / "song.snc"), "-o", "-"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(io.BytesIO(done.stdout), dtype="int16")
    assert rate == RATE and np.array_equal(audio, mix)
    assert b"decoded" in done.stderr and not (tmp_path / "-").exists()

    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    flac = io.BytesIO()
    sf.write(flac, mix, RATE, format="FLAC", subtype="PCM_16")
    done = _run(["snc.cli.encode", "-", "-o", str(tmp_path / "piped.snc"), "--preset", "archival",
                 "--separator", "none"], input=flac.getvalue(), tmpdir=tmp_dir)
    assert done.returncode == 0, done.stderr
    with snc.open(tmp_path / "piped.snc") as f:
        assert np.array_equal(f.read(dtype="native"), mix)
    assert list(tmp_dir.iterdir()) == []  # the spooled copy of stdin is gone


@pytest.mark.slow
def test_encode_to_stdout(song):
    tmp_path, mix = song
    done = _run(["snc.cli.encode", str(tmp_path / "mix.wav"), "-o", "-", "--preset", "archival",
                 "--separator", "none"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with snc.open(io.BytesIO(done.stdout)) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
    assert b"preset archival" in done.stderr  # the summary moved to stderr: stdout carries the file


def test_stdout_read_by_a_closed_pipe_is_quiet(song):
    tmp_path, _ = song
    _write_long_input(tmp_path / "long.wav", 4.0)
    snc.encode(str(tmp_path / "long.wav"), str(tmp_path / "long.snc"), preset="archival")
    shell = (f"{sys.executable} -m snc.cli.decode {tmp_path / 'long.snc'} -o - -q | head -c 100 | cat > /dev/null; "
             "echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", shell], env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True)
    assert done.stdout.strip() == b"1" and done.stderr == b""


def test_stdin_from_a_terminal_is_refused(song, capsys, monkeypatch):
    tmp_path, _ = song
    monkeypatch.setattr(sys, "stdin", type("Tty", (io.BytesIO,), {"isatty": lambda self: True})())
    assert encode.main(["-", "-o", str(tmp_path / "x.snc")]) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "refusing to read audio from a terminal")
    assert not (tmp_path / "x.snc").exists()


def test_only_the_mix_can_come_from_stdin(song, capsys):
    tmp_path, _ = song
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "x.snc"), "--stems", "bass=-"]) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "only the mix can be read from stdin")


def test_decode_and_info_read_the_snc_from_stdin(song):
    tmp_path, mix = song
    data = (tmp_path / "song.snc").read_bytes()
    done = _run(["snc.cli.info", "-", "--json"], input=data)
    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in json.loads(done.stdout)["streams"]] == ["bass", "drums", "residual"]
    done = _run(["snc.cli.decode", "-", "-o", str(tmp_path / "from-stdin.flac"), "--stem", "bass"], input=data)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(sf.read(tmp_path / "from-stdin.flac", dtype="int16")[0],
                          sf.read(tmp_path / "bass.wav", dtype="int16")[0])


def test_devices_are_written_in_place_without_force(song, capsys):
    """``-o /dev/null`` (a benchmark's sink) needs no -f and stays a device: it is not replaced by a file."""
    tmp_path, _ = song
    assert decode.main([str(tmp_path / "song.snc"), "-o", os.devnull, "-q"]) == 0
    assert encode.main([str(tmp_path / "mix.wav"), "-o", os.devnull, "--preset", "archival", "--separator", "none",
                        "-q"]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert capsys.readouterr() == ("", "")


def test_audio_to_a_terminal_is_refused(song, capsys, monkeypatch):
    tmp_path, _ = song
    before = snapshot(tmp_path)
    monkeypatch.setattr(sys, "stdout", type("Tty", (io.StringIO,), {"isatty": lambda self: True})())
    assert decode.main([str(tmp_path / "song.snc"), "-o", "-"]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "refusing to write audio to a terminal")
    assert encode.main([str(tmp_path / "mix.wav"), "-o", "-", "--separator", "none"]) == 1
    one_line_error(capsys.readouterr().err, "snc-encode", "refusing to write audio to a terminal")
    assert decode.main([str(tmp_path / "song.snc"), "-o", "-", "--stems-dir", str(tmp_path / "d")]) == 1
    one_line_error(capsys.readouterr().err, "snc-decode", "does not combine")
    assert snapshot(tmp_path) == before
