"""snc-encode's batch mode: ``snc-encode IN... -O OUTDIR`` (files and folders) or ``--manifest FILE -O OUTDIR``.

Every single-song option applies to each song.  The journal in OUTDIR (:mod:`snc.batch.journal`) makes a rerun
skip songs that are done and unchanged; ``-f`` redoes them.  One bad song does not stop the batch: it gets one
line, the summary counts it and the exit status is 1.  Progress: a bar over the songs (count, audio hours, ETA)
with the songs in work on a terminal, else one line per song.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import InputError
from .common import STDIO, human_bytes


def run_batch(args, options: dict) -> int:
    from ..batch import Journal, encode_many, jobs_from_manifest, jobs_from_paths, plan

    if args.stems:
        raise InputError("--stems names one song's stems; in a batch give each song's stems in --manifest")
    if args.output is not None:
        raise InputError("give -o FILE for one song or -O DIR for a batch, not both")
    if STDIO in args.inputs:
        raise InputError("a batch reads files and folders, not stdin (-)")
    if args.manifest and args.inputs:
        raise InputError("give inputs or --manifest, not both")
    outdir = Path(args.output_dir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"-O {outdir}: exists and is not a folder")
    if args.manifest:
        jobs = jobs_from_manifest(args.manifest, outdir, template=args.name, options=options)
    else:
        jobs = jobs_from_paths(args.inputs, outdir, template=args.name, options=options)
    if not jobs:
        raise InputError("no audio files found in " + (args.manifest or ", ".join(args.inputs)))
    journal = Journal(outdir)
    if args.dry_run:
        for job, _, action in plan(jobs, journal, args.force):
            print(f"{action:<8} {job.name}  <-  {job.mix}" + (f" + {len(job.stems)} stems" if job.stems else ""))
        return 0
    outdir.mkdir(parents=True, exist_ok=True)
    if args.dask_scheduler or args.dask_local:
        if args.jobs:
            raise InputError("-j sets the local workers; a Dask cluster has its own")
        from ..batch.cluster import dask_executor

        with dask_executor(args.dask_scheduler, args.dask_local) as executor:
            progress = _Progress(len(jobs), args)
            return progress.report(encode_many(jobs, executor=executor, journal=journal, force=args.force,
                                               on_start=progress.started))
    progress = _Progress(len(jobs), args)
    return progress.report(encode_many(jobs, journal=journal, force=args.force, workers=args.jobs,
                                       on_start=progress.started))


class _Progress:
    """What the user sees while a batch runs: on a terminal a bar over the songs (count, hours of audio, ETA)
    with the songs in work; else one line per song.  :meth:`report` consumes the results and gives the exit
    status."""

    def __init__(self, total: int, args):
        self.total, self.args = total, args
        self.working: list[str] = []  # the songs in work, in the order they started
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.audio = self.written = 0.0
        self.bar = None
        if not args.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="song", file=sys.stderr, dynamic_ncols=True)

    def started(self, job) -> None:
        self.working.append(job.name)
        self._show_state()

    def _show_state(self) -> None:
        if self.bar is None:
            return
        state = f"{self.audio / 3600:.2f} h of audio, {self.counts['failed']} failed"
        if self.working:
            state += "; now: " + ", ".join(n if len(n) <= 32 else "..." + n[-29:] for n in self.working)
        self.bar.set_postfix_str(state)

    def report(self, results) -> int:
        t0 = time.perf_counter()
        for n, r in enumerate(results, 1):
            self.counts[r.status] += 1
            self.audio += r.audio_seconds
            self.written += r.file_bytes
            if r.job.name in self.working:
                self.working.remove(r.job.name)
            line = _line(r)
            if self.bar is not None:
                if r.status == "failed" or self.args.verbose:
                    self.bar.write(line, file=sys.stderr)
                self._show_state()
                self.bar.update(1)
            elif not self.args.quiet or r.status == "failed":
                print(f"[{n}/{self.total}] {line}", file=sys.stderr, flush=True)
        if self.bar is not None:
            self.bar.close()
        wall = time.perf_counter() - t0
        counts, audio = self.counts, self.audio
        speed = f", {audio / wall:.1f}x realtime" if audio and wall > 0 else ""
        summary = (f"{counts['done']} encoded, {counts['skipped']} skipped (done before), {counts['failed']} "
                   f"failed; {human_bytes(int(self.written))} bytes written, {audio / 60:.1f} min of audio in "
                   f"{wall:.1f} s{speed}")
        if not self.args.quiet or counts["failed"]:
            print(summary, file=sys.stderr)
        return 1 if counts["failed"] else 0


def _line(r) -> str:
    if r.status == "failed":
        return f"{r.job.name}: FAILED: {r.error}"
    if r.status == "skipped":
        return f"{r.job.name}: skipped (done, inputs and options unchanged)"
    speed = r.audio_seconds / r.seconds if r.seconds else 0.0
    return f"{r.job.name}: {human_bytes(r.file_bytes)} bytes, {r.audio_seconds:.1f} s of audio, {speed:.1f}x realtime"
