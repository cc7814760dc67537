"""What a batch encodes: one :class:`EncodeJob` per song, from input paths (files or folders walked) or from a
manifest (CSV or JSON lines, one song per row with its stems, tags, lead and positions).

Output names mirror the input tree under the output folder: ``--name TEMPLATE`` with the fields ``{relpath}``
(the input's path under the folder it was found in, without its suffix; a file given directly: its name),
``{name}`` (the file name without suffix) and ``{parent}`` (the folder it sits in, under that root); default
``{relpath}.snc``.  Two songs that would write the same output are refused before anything is encoded.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

DEFAULT_TEMPLATE = "{relpath}.snc"
#: file suffixes a walk of a folder takes as audio (what libsndfile reads; other files in a library, such as
#: cover art, cue sheets or .snc outputs, are passed over)
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".oga", ".opus", ".mp3", ".w64", ".caf",
                  ".au", ".snd", ".rf64", ".wv")


@dataclass(frozen=True)
class EncodeJob:
    """One song of a batch: ``snc.encode(mix, output, stems=stems, **options)``; ``name``: how it is shown and
    keyed in the journal (its output path under the output folder)."""

    mix: str
    output: str
    name: str
    stems: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return [self.mix, *self.stems.values()]


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def find_audio(inputs) -> list[tuple[Path, Path]]:
    """``(root, file)`` of every input: a file as given, a folder walked recursively (sorted, hidden files and
    folders skipped, symbolic links to folders not followed)."""
    found = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [(path, Path(folder) / f) for f in sorted(files) if _is_audio(Path(f))]
        elif path.is_file():
            found.append((path.parent, path))
        else:
            raise InputError(f"{given}: no such file or folder")
    return found


def output_for(root: Path, path: Path, outdir: Path, template: str) -> Path:
    rel = path.relative_to(root)
    fields = {"relpath": str(rel.with_suffix("")), "name": path.stem, "parent": str(rel.parent)}
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"--name {template!r}: {exc} (fields: {{relpath}}, {{name}}, {{parent}})") from None
    out = (outdir / name).resolve()
    if outdir.resolve() not in out.parents:
        raise InputError(f"--name {template!r} puts {path} outside the output folder")
    return out


def jobs_from_paths(inputs, outdir, *, template: str = DEFAULT_TEMPLATE, options: dict | None = None
                    ) -> list[EncodeJob]:
    """A job per audio file of ``inputs`` (files and folders), each the mix of its song (no stems: the
    encode's ``separator`` option decides)."""
    outdir = Path(outdir)
    jobs = [_job(path, output_for(root, path, outdir, template), {}, options or {}, outdir)
            for root, path in find_audio(inputs)]
    return _checked(jobs)


def jobs_from_manifest(manifest, outdir, *, template: str = DEFAULT_TEMPLATE, options: dict | None = None
                       ) -> list[EncodeJob]:
    """A job per row of a CSV (columns ``mix``, ``output`` (optional), ``stem:NAME`` per stem, ``tag:KEY`` per
    tag, ``lead``) or JSON-lines manifest (objects ``{"mix", "output", "stems": {name: path}, "tags": {},
    "lead", "positions": {name: [az, el]}, "colours": {name: "#rrggbb"}, "music": {...}}``, ``music`` as
    :func:`snc.encode` takes it, cues in frames).  Relative paths are relative to the manifest's folder."""
    manifest = Path(manifest)
    outdir = Path(outdir)
    base = manifest.parent
    rows = _read_manifest(manifest)
    jobs = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("mix"), str) or not row["mix"]:
            raise InputError(f"{manifest}: row {n} has no mix")
        mix = base / row["mix"]
        stems = {str(k): str((base / v).resolve()) for k, v in (row.get("stems") or {}).items()}
        song = dict(options or {})
        for key in ("tags", "lead", "positions", "colours"):
            if row.get(key):
                song[key] = row[key]
        music = row.get("music")
        if music:  # the song's own members over the batch's (tempo and key); the encoder checks them
            song["music"] = {**song.get("music", {}), **music} if isinstance(music, dict) else music
        out = (outdir / row["output"]).resolve() if row.get("output") else output_for(base, mix, outdir, template)
        jobs.append(_job(mix, out, stems, song, outdir))
    return _checked(jobs)


def _read_manifest(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--manifest {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix.lower() == ".csv":
        rows = []
        for record in csv.DictReader(text.splitlines()):
            row = {"mix": record.get("mix"), "output": record.get("output") or None, "lead": record.get("lead")}
            row["stems"] = {k[5:]: v for k, v in record.items() if k and k.startswith("stem:") and v}
            row["tags"] = {k[4:]: v for k, v in record.items() if k and k.startswith("tag:") and v}
            rows.append(row)
        return rows
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise InputError(f"--manifest {path}: line {n}: {exc}") from None
            if not isinstance(row, dict):
                raise InputError(f"--manifest {path}: line {n} is not a JSON object")
            rows.append(row)
    return rows


def _job(mix: Path, output: Path, stems: dict, options: dict, outdir: Path) -> EncodeJob:
    return EncodeJob(mix=str(mix.resolve()), output=str(output), name=str(output.relative_to(outdir.resolve())),
                     stems=stems, options=options)


def _checked(jobs: list[EncodeJob]) -> list[EncodeJob]:
    seen: dict[str, str] = {}
    for job in jobs:
        if job.output in seen:
            raise InputError(f"{seen[job.output]} and {job.mix} would both write {job.name} (see --name)")
        seen[job.output] = job.mix
    return jobs
