"""The batch journal: one JSON line per finished song in the output folder, so that a rerun skips what is done.

A line records the song's inputs (path, size, modification time, SHA-256), its options, the SNC version, the
output's bytes per stream, the verify result, the time taken and, for a failure, the error.  A song is done
when its last line says so, its inputs hash the same (a file whose size and modification time are unchanged is
not read again: the check costs a ``stat`` per file, as ``make`` and ``rsync`` trust them), its options and the
SNC version are the same, and its output is intact (the size recorded, and it opens).  The journal is written
by one process, a line at a time, flushed and synced: a run killed at any point leaves every finished song
recorded, and at worst one torn last line, which a reader ignores.  A song gets a ``started`` line before it is
handed to a worker, so an output a killed run completed without recording it is known as this batch's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from ..version import __version__

JOURNAL_NAME = ".snc-journal.jsonl"
_CHUNK = 1 << 20


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def options_key(job) -> str:
    """A digest of everything besides the inputs that decides a song's output."""
    text = json.dumps({"options": job.options, "stems": sorted(job.stems)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Journal:
    """The journal of one output folder."""

    def __init__(self, outdir):
        self.path = Path(outdir) / JOURNAL_NAME
        self.records: dict[str, dict] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash: that song is simply not recorded
                    if isinstance(record, dict) and isinstance(record.get("name"), str):
                        self.records[record["name"]] = record

    def fingerprint(self, job) -> list[dict]:
        """Every input of ``job`` as ``{path, size, mtime_ns, sha256}``; a file unchanged in size and time since
        the last record keeps that record's hash."""
        known = {e["path"]: e for e in self.records.get(job.name, {}).get("inputs", [])}
        out = []
        for path in job.inputs:
            st = os.stat(path)
            old = known.get(str(path))
            same = old is not None and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns
            out.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                        "sha256": old["sha256"] if same else sha256_file(path)})
        return out

    def is_done(self, job, inputs: list[dict]) -> bool:
        """Whether ``job`` finished before with these inputs, options and SNC version, and its output is intact."""
        record = self.records.get(job.name)
        if not record or record.get("status") != "done" or record.get("version") != __version__:
            return False
        if record.get("options") != options_key(job) or record.get("output") != job.output:
            return False
        if [e["sha256"] for e in record.get("inputs", [])] != [e["sha256"] for e in inputs]:
            return False
        return _intact(job.output, record.get("bytes"))

    def owns(self, job) -> bool:
        """Whether the file at ``job.output`` is one a run with this journal set out to write (a rerun may
        replace it): also one started and never recorded finished, which a killed run may have completed."""
        record = self.records.get(job.name)
        return bool(record) and record.get("output") == job.output

    def record(self, job, inputs: list[dict], **entry) -> dict:
        """Append the line of a finished (or failed) song."""
        record = {"name": job.name, "output": job.output, "inputs": inputs, "options": options_key(job),
                  "version": __version__, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[job.name] = record
        return record


def _intact(path: str, size) -> bool:
    """The output exists with the size recorded and opens as a complete ``.snc`` file."""
    try:
        if os.path.getsize(path) != size:
            return False
        from ..decode import Decoder

        with Decoder(path) as f:
            return f.container.mix_hash is not None
    except Exception:  # noqa: BLE001 -- any failure to open means: not intact, encode it again
        return False
