"""The folder ``snc-serve`` serves: its ``.snc`` files, known by ids (never by paths), and what the pages show.

An id is the first 12 hex digits of the SHA-256 of the file's path relative to the folder, so a song keeps its
id across restarts and a client can never name a file outside the folder: a request carries an id, the
library looks it up.  Files are found by walking the folder (hidden entries skipped, symbolic links followed
only when they stay inside it); a song's summary is read once per (size, mtime) of its file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import SncError


@dataclass(frozen=True)
class Entry:
    id: str
    path: str  # absolute
    relpath: str


class Library:
    """The ``.snc`` files under ``folder``, rescanned on :meth:`songs` (a walk and a stat per file)."""

    def __init__(self, folder):
        self.root = os.path.realpath(folder)
        if not os.path.isdir(self.root):
            raise SncError(f"{folder}: not a folder")
        self._entries: dict[str, Entry] = {}
        self._summaries: dict[str, tuple[tuple, dict]] = {}
        self._lock = threading.Lock()
        self.scan()

    def scan(self) -> None:
        found = {}
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or not name.lower().endswith(".snc"):
                    continue
                path = os.path.realpath(os.path.join(dirpath, name))
                if os.path.commonpath([path, self.root]) != self.root or not os.path.isfile(path):
                    continue  # a link out of the folder is not served
                rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                entry = Entry(song_id(rel), path, Path(rel).as_posix())
                found[entry.id] = entry
        with self._lock:
            self._entries = found

    def entry(self, song: str) -> Entry | None:
        with self._lock:
            return self._entries.get(song)

    def songs(self) -> list[dict]:
        """Every readable song's summary, in path order (a file that does not open is left out)."""
        self.scan()
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.relpath)
        out = []
        for entry in entries:
            try:
                out.append(self.summary(entry))
            except (SncError, OSError):
                continue
        return out

    def summary(self, entry: Entry) -> dict:
        stat = os.stat(entry.path)
        key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            cached = self._summaries.get(entry.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        summary = describe(entry)
        with self._lock:
            self._summaries[entry.id] = (key, summary)
        return summary


def song_id(relpath: str) -> str:
    return hashlib.sha256(Path(relpath).as_posix().encode("utf-8")).hexdigest()[:12]


def describe(entry: Entry, *, full: bool = False) -> dict:
    """What the library and the player show of one song (``full``: with ``snc-info --json`` as ``info``)."""
    from ..render.file import open as open_snc

    with open_snc(entry.path) as f:
        tags = f.tags
        out = {"id": entry.id, "path": entry.relpath,
               "title": tags.get("title") or Path(entry.relpath).stem, "artist": tags.get("artist", ""),
               "album": tags.get("album", ""), "duration": f.frames / f.samplerate, "sample_rate": f.samplerate,
               "channels": f.channels, "preset": f.preset,
               "stems": [{"name": s.name, "role": s.role, "colour": s.colour} for s in f.streams
                         if s.name in f.stems],
               "profiles": list(f.profiles)}
        if full:
            out["info"] = f.describe()
    return out
