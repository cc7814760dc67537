"""Library scale (issue 19): jobs from folders and manifests, the journal's resume, failures in the middle,
the command line's batch mode, interruption."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import snc
from snc.batch import Journal, encode_many, jobs_from_manifest, jobs_from_paths, plan
from snc.batch.runner import executor_slots
from snc.cli import encode as encode_cli
from snc.errors import InputError

RATE = 8000
OPTIONS = {"separator": "none", "preset": "archival"}


def _song(path: Path, seed: int, seconds: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (np.random.default_rng(seed).standard_normal((int(RATE * seconds), 2)) * 2000).astype(np.int16)
    sf.write(path, x, RATE)
    return path


@pytest.fixture
def library(tmp_path):
    lib = tmp_path / "lib"
    _song(lib / "a" / "one.wav", 1)
    _song(lib / "a" / "two.flac", 2)
    _song(lib / "b" / "three.wav", 3)
    (lib / "b" / "cover.jpg").write_bytes(b"not audio")
    (lib / ".hidden").mkdir()
    _song(lib / ".hidden" / "skip.wav", 4)
    return lib


def _threads():
    return ThreadPoolExecutor(2)


def test_jobs_mirror_the_input_tree(library, tmp_path):
    jobs = jobs_from_paths([library], tmp_path / "out", options=OPTIONS)
    assert [j.name for j in jobs] == ["a/one.snc", "a/two.snc", "b/three.snc"]
    assert all(Path(j.output).parent.parent == (tmp_path / "out").resolve() for j in jobs)
    flat = jobs_from_paths([library], tmp_path / "out", template="{name}.snc")
    assert [j.name for j in flat] == ["one.snc", "two.snc", "three.snc"]
    with pytest.raises(InputError, match="would both write"):
        jobs_from_paths([library], tmp_path / "out", template="{parent}.snc")
    with pytest.raises(InputError, match="fields"):
        jobs_from_paths([library], tmp_path / "out", template="{title}.snc")
    with pytest.raises(InputError, match="outside the output folder"):
        jobs_from_paths([library], tmp_path / "out", template="../{name}.snc")
    with pytest.raises(InputError, match="no such file"):
        jobs_from_paths([tmp_path / "nope"], tmp_path / "out")


def test_manifests_give_stems_tags_and_names(tmp_path):
    mix, voc = _song(tmp_path / "s" / "mix.wav", 1), _song(tmp_path / "s" / "voc.wav", 2)
    (tmp_path / "songs.csv").write_text("mix,stem:vocals,tag:TITLE,lead,output\n"
                                        "s/mix.wav,s/voc.wav,First,vocals,first.snc\n")
    (tmp_path / "songs.jsonl").write_text(json.dumps({"mix": "s/mix.wav", "stems": {"vocals": "s/voc.wav"},
                                                      "tags": {"TITLE": "First"}, "lead": "vocals"}) + "\n\n")
    for manifest, name in (("songs.csv", "first.snc"), ("songs.jsonl", "s/mix.snc")):
        (job,) = jobs_from_manifest(tmp_path / manifest, tmp_path / "out", options={"preset": "archival"})
        assert job.name == name and job.mix == str(mix) and job.stems == {"vocals": str(voc)}
        assert job.options == {"preset": "archival", "tags": {"TITLE": "First"}, "lead": "vocals"}
    (tmp_path / "bad.jsonl").write_text("[1]\n")
    with pytest.raises(InputError, match="not a JSON object"):
        jobs_from_manifest(tmp_path / "bad.jsonl", tmp_path / "out")


def test_a_rerun_skips_what_is_done_and_redoes_what_changed(library, tmp_path):
    out = tmp_path / "out"
    jobs = jobs_from_paths([library], out, options=OPTIONS)
    first = list(encode_many(jobs, executor=_threads(), journal=Journal(out)))
    assert sorted(r.status for r in first) == ["done"] * 3
    with snc.open(jobs[0].output) as f:
        assert np.array_equal(f.read(dtype="native"), sf.read(jobs[0].mix, dtype="int16")[0])
    assert {r.status for r in encode_many(jobs, executor=_threads(), journal=Journal(out))} == {"skipped"}

    _song(library / "a" / "one.wav", 9)  # changed input
    Path(jobs[1].output).unlink()  # lost output
    with open(jobs[2].output, "r+b") as fh:  # damaged output: cut short
        fh.truncate(100)
    again = {r.job.name: r.status for r in encode_many(jobs, executor=_threads(), journal=Journal(out))}
    assert again == {"a/one.snc": "done", "a/two.snc": "done", "b/three.snc": "done"}
    with snc.open(jobs[0].output) as f:
        assert np.array_equal(f.read(dtype="native"), sf.read(jobs[0].mix, dtype="int16")[0])
    changed = jobs_from_paths([library], out, options={**OPTIONS, "preset": "lossless"})
    assert {r.status for r in encode_many(changed, executor=_threads(), journal=Journal(out))} == {"done"}
    forced = {r.status for r in encode_many(changed, executor=_threads(), journal=Journal(out), force=True)}
    assert forced == {"done"}


def test_a_foreign_output_is_refused_without_force(library, tmp_path):
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "one.snc").write_bytes(b"someone else's file")
    jobs = jobs_from_paths([library], out, options=OPTIONS)
    assert [a for _, _, a in plan(jobs, Journal(out))] == ["refuse", "encode", "encode"]
    results = {r.job.name: r for r in encode_many(jobs, executor=_threads(), journal=Journal(out))}
    assert results["a/one.snc"].status == "failed" and "-f" in results["a/one.snc"].error
    assert (out / "a" / "one.snc").read_bytes() == b"someone else's file"
    assert results["a/two.snc"].status == "done"
    assert [r.status for r in encode_many(jobs[:1], executor=_threads(), journal=Journal(out), force=True)] == ["done"]


@pytest.mark.slow
def test_a_bad_song_in_the_middle_fails_alone(library, tmp_path, capsys):
    (library / "a" / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    out = tmp_path / "out"
    assert encode_cli.main([str(library), "-O", str(out), "-j", "2", "--separator", "none", "-q"]) == 1
    err = capsys.readouterr().err
    assert "a/bad.snc: FAILED: InputError: mix: not a readable audio file" in err
    assert "3 encoded, 0 skipped (done before), 1 failed" in err
    assert sorted(p.name for p in out.rglob("*.snc")) == ["one.snc", "three.snc", "two.snc"]
    assert not list(out.rglob("*.snc-part"))
    records = [json.loads(line) for line in (out / ".snc-journal.jsonl").read_text().splitlines()]
    assert {r["name"]: r["status"] for r in records if r["status"] != "started"}["a/bad.snc"] == "failed"


def test_the_command_line_batch(library, tmp_path, capsys):
    out = tmp_path / "out"
    args = [str(library), "-O", str(out), "--separator", "none", "--preset", "archival", "--tag", "ALBUM=x"]
    assert encode_cli.main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.split("\n")[0].split() == ["encode", "a/one.snc", "<-", str(library / "a/one.wav")]
    assert not out.exists()
    assert encode_cli.main([*args, "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert "[3/3]" in err and "3 encoded, 0 skipped" in err
    with snc.open(out / "b" / "three.snc") as f:
        assert f.tags["ALBUM"] == "x"
    assert encode_cli.main(args) == 0
    assert "0 encoded, 3 skipped (done before), 0 failed" in capsys.readouterr().err
    assert encode_cli.main([*args, "--dry-run"]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()} == {"skip"}
    assert encode_cli.main([*args, "--stems", "v=x.wav"]) == 1 and "--stems names one" in capsys.readouterr().err
    assert encode_cli.main(["-", "-O", str(out)]) == 1 and "not stdin" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a usage error, from the parser
        encode_cli.main([*args, "-o", "x.snc"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err
    assert encode_cli.main([str(library / "a/one.wav"), "-o", str(tmp_path / "x.snc"), "-j", "2"]) == 1
    assert "batch options" in capsys.readouterr().err


def test_each_song_starts_when_a_worker_is_free(library, tmp_path):
    """on_start names the songs in work: the first two at once on two workers, then one per finished song."""
    jobs = jobs_from_paths([library], tmp_path / "out", options=OPTIONS)
    events = []
    with _threads() as pool:
        assert executor_slots(pool) == 2
        for r in encode_many(jobs, executor=pool, on_start=lambda job: events.append(("start", job.name))):
            events.append(("end", r.job.name))
    starts = [name for kind, name in events if kind == "start"]
    assert starts == [job.name for job in jobs] and events[:2] == [("start", n) for n in starts[:2]]
    in_work = 0
    for kind, _ in events:
        in_work += 1 if kind == "start" else -1
        assert 0 <= in_work <= 2


def test_a_terminal_shows_a_bar_with_the_songs_in_work(library, tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert encode_cli.main([str(library), "-O", str(tmp_path / "out"), "-j", "2", "--separator", "none"]) == 0
    shown = screen.getvalue()
    assert "now: a/one.snc, a/two.snc" in shown and "3/3" in shown and "3 encoded" in shown
    assert "[1/3]" not in shown  # the bar, not the lines for a log


@pytest.mark.slow
def test_the_default_executor_is_a_process_pool(library, tmp_path):
    out = tmp_path / "out"
    jobs = jobs_from_paths([library], out, options=OPTIONS)
    results = list(snc.encode_many(jobs, journal=Journal(out), workers=2))
    assert sorted(r.status for r in results) == ["done"] * 3 and all(r.audio_seconds == 1.0 for r in results)


@pytest.mark.slow
def test_a_killed_batch_resumes_without_redoing_or_leaving_partial_files(tmp_path):
    """kill -9 of the whole batch (parent and workers) while it encodes: a rerun finishes the rest, skips
    what was recorded done, replaces what it had started, and leaves no temporary file."""
    lib = tmp_path / "lib"
    for k in range(6):
        _song(lib / f"s{k}.wav", k, seconds=20.0)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "snc.cli.encode", str(lib), "-O", str(out), "-j", "1", "--preset", "transparent",
           "--separator", "none", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    journal = out / ".snc-journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and '"status": "done"' in journal.read_text():
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {json.loads(line)["name"] for line in journal.read_text().splitlines()
                   if '"status": "done"' in line}
    assert done_before and len(done_before) < 6
    result = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{6 - len(done_before)} encoded, {len(done_before)} skipped" in result.stderr
    assert sorted(p.name for p in out.glob("*.snc")) == [f"s{k}.snc" for k in range(6)]
    assert not list(out.glob("*.snc-part"))
    for k in range(6):
        with snc.open(out / f"s{k}.snc") as f:
            assert f.frames == 20 * RATE and f.verify()["mix"]


@pytest.mark.slow
def test_a_dask_local_cluster_writes_the_same_bytes(library, tmp_path, capsys):
    """--dask-local: the songs run on a real LocalCluster (worker processes on 127.0.0.1) and the outputs are
    byte-identical to the local pool's."""
    pytest.importorskip("distributed", reason="the cluster extra (dask.distributed) is not installed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    args = [str(library), "--separator", "none", "--preset", "transparent", "-q"]
    assert encode_cli.main([*args, "-O", str(local), "-j", "1"]) == 0
    assert encode_cli.main([*args, "-O", str(dask), "--dask-local", "2"]) == 0
    names = sorted(p.relative_to(local) for p in local.rglob("*.snc"))
    assert len(names) == 3 and names == sorted(p.relative_to(dask) for p in dask.rglob("*.snc"))
    assert all((local / n).read_bytes() == (dask / n).read_bytes() for n in names)
    assert encode_cli.main([*args, "-O", str(dask), "--dask-local", "1"]) == 0  # a rerun: all skipped
    from snc.batch.cluster import dask_executor

    with dask_executor(local_workers=1) as executor:
        assert executor_slots(executor) == 1
    assert encode_cli.main([*args, "-O", str(dask), "--dask-local", "2", "-j", "2"]) == 1
    assert "-j sets the local workers" in capsys.readouterr().err
