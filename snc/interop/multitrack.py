"""An SNC file as plain multitrack audio for DAWs: a Matroska file with one track per stem, or a folder of
FLAC/WAV files with a JSON sidecar.

Both carry the exact mix, every stem as it plays in the mix (through the master stream's gain) and the
residual, so that with a lossless codec ``sum(stems) + residual == mix`` sample for sample: a DAW that loads
every track but the mix at 0 dB plays the mix.  Matroska (``-o song.mka``): the mix first and the only
default track, then the stems, then the residual, each named (the track layout of the Matroska stems draft,
draft-swhited-mka-stems: the mix a plain player plays, named stem tracks after it); FLAC or Opus through
PyAV.  A folder (``--stems-dir DIR --format flac|wav``): one file per track through soundfile, and
``stems.json`` describing them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from fractions import Fraction

import numpy as _np

from ..errors import InputError
from . import tracks
from .headroom import Overflow, check_range, headroom_for

MKA_CODECS = ("flac", "opus")
FOLDER_FORMATS = ("flac", "wav")
SIDECAR = "stems.json"


def _blocks(f) -> Iterator[tuple[int, list[_np.ndarray]]]:
    """``(start, [mix, stem..., residual])`` integer blocks (:mod:`.tracks`)."""
    for b in tracks.blocks(f):
        yield b.start, [b.mix, *b.stems.values(), b.residual]


def _track_names(f) -> list[str]:
    return ["mix", *f.stems, "residual"]


def export_matroska(source, output, *, codec: str = "flac", overwrite: bool = False, progress=None) -> dict:
    """Write ``source`` (an SNC path) as a Matroska file of the mix, each stem and the residual."""
    from ..fileutil import atomic_output
    from ..render.file import open as open_snc
    from .mp4common import av_module

    if codec not in MKA_CODECS:
        raise InputError(f"unknown codec {codec!r} for Matroska; choose {' or '.join(MKA_CODECS)}")
    av = av_module()
    with open_snc(source) as f:
        if f.info.sample_format != "int":
            raise InputError(f"{source}: a float file; the Matroska export takes integer audio")
        if codec == "flac" and f.info.bits > 24:
            raise InputError(f"{source}: {f.info.bits}-bit audio; FLAC here holds at most 24 bits (use opus)")
        wide = f.info.bits > 16
        layout = {1: "mono", 2: "stereo"}.get(f.channels)
        if layout is None:
            raise InputError(f"{source}: {f.channels} channels; the Matroska export takes mono or stereo")
        names = _track_names(f)
        with atomic_output(output, inputs=(source,), overwrite=overwrite) as tmp:
            width = 24 if wide else 16
            headroom = 0
            while True:
                try:
                    _write_mka(av, f, tmp, names, codec, layout, width, headroom, progress)
                    break
                except Overflow as over:
                    width, headroom = 24, headroom_for(over, f.info.bits, headroom)
    return {"path": str(output), "tracks": names, "codec": codec, "bits": width, "headroom_bits": headroom,
            "file_bytes": os.path.getsize(output)}


#: Matroska's official tag names for META ``music`` members (the cues and synced lyrics have none)
MKA_MUSIC_TAGS = {"bpm": "BPM", "key": "INITIAL_KEY", "isrc": "ISRC", "lyrics": "LYRICS"}


def music_tags(music: dict) -> dict[str, str]:
    """The file's musical metadata as Matroska tags."""
    return {tag: (f"{music[key]:g}" if key == "bpm" else str(music[key]))
            for key, tag in MKA_MUSIC_TAGS.items() if music.get(key) not in (None, "")}


def _write_mka(av, f, path, names, codec, layout, width, headroom, progress) -> None:
    full = 1 << (f.info.bits - 1)
    with av.open(path, "w", format="matroska") as out:
        for key, value in {**f.tags, **music_tags(f.music)}.items():
            out.metadata[key.upper()] = value
        streams = []
        for i, name in enumerate(names):
            if codec == "flac":
                stream = out.add_stream("flac", rate=f.samplerate, layout=layout)
                stream.codec_context.format = "s32" if width > 16 else "s16"
            else:
                stream = out.add_stream("libopus", rate=48000, layout=layout)
                stream.codec_context.bit_rate = 160_000 * f.channels // 2
            stream.metadata["title"] = name
            stream.disposition = av.stream.Disposition.default if i == 0 else av.stream.Disposition(0)
            streams.append(stream)
        for start, tracks in _blocks(f):
            if codec == "flac":
                check_range(tracks, f.info.bits, width, headroom)
            for stream, x in zip(streams, tracks):
                if codec == "opus":
                    frame = av.AudioFrame.from_ndarray(_np.ascontiguousarray((x / full).T, _np.float32),
                                                       format="fltp", layout=layout)
                elif width > 16:  # FLAC's 24-bit path takes the top bits of 32-bit samples
                    frame = av.AudioFrame.from_ndarray((x << (32 - f.info.bits - headroom)).astype(_np.int32)
                                                       .reshape(1, -1), format="s32", layout=layout)
                else:
                    frame = av.AudioFrame.from_ndarray(x.astype(_np.int16).reshape(1, -1), format="s16",
                                                       layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = f.samplerate, start, Fraction(1, f.samplerate)
                for packet in stream.encode(frame):
                    out.mux(packet)
            if progress is not None:
                progress({"stage": "export", "frames_done": start + len(tracks[0]), "frames_total": f.frames})
        for stream in streams:
            for packet in stream.encode(None):
                out.mux(packet)


def export_folder(source, folder, *, fmt: str = "flac", overwrite: bool = False, progress=None) -> dict:
    """Write ``source`` as ``mix``, one file per stem and ``residual`` (FLAC or WAV) in ``folder``, with
    ``stems.json``: the tracks, their roles and colours, the tags and the rule ``stems + residual = mix``."""
    from ..render.file import open as open_snc

    if fmt not in FOLDER_FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose {' or '.join(FOLDER_FORMATS)}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    with open_snc(source) as f:
        if f.info.sample_format != "int" or f.info.bits > 24:
            raise InputError(f"{source}: {f.info.sample_format} {f.info.bits}-bit; the folder export writes "
                             f"integer audio of at most 24 bits")
        names = _track_names(f)
        files = [f"{_safe(name)}.{fmt}" for name in names]
        if len(set(files)) != len(files):
            raise InputError(f"{source}: two tracks would get the same file name ({', '.join(files)})")
        paths = [os.path.join(folder, name) for name in files]
        streams = {s.name: s for s in f.streams}
        tracks = [{"name": n, "file": p, "role": streams[n].role if n in streams else n,
                   "colour": streams[n].colour if n in streams else None} for n, p in zip(names, files)]
        sidecar = {"format": "snc multitrack export 1", "sample_rate": f.samplerate,
                   "channels": f.channels, "frames": f.frames, "tags": dict(f.tags),
                   "music": dict(f.music),
                   "rule": "the stems and the residual add up to the mix exactly", "tracks": tracks}
        with _all_atomic(paths + [os.path.join(folder, SIDECAR)], source, overwrite) as tmps:
            width = 24 if f.info.bits > 16 else 16
            headroom = 0
            while True:
                try:
                    _write_files(f, tmps[:-1], fmt, width, headroom, progress)
                    break
                except Overflow as over:
                    width, headroom = 24, headroom_for(over, f.info.bits, headroom)
            sidecar["bits"], sidecar["headroom_bits"] = width, headroom
            with open(tmps[-1], "w", encoding="utf-8") as fh:
                json.dump(sidecar, fh, indent=2, ensure_ascii=False)
    return {"folder": folder, "files": files + [SIDECAR]}


def _write_files(f, paths, fmt, width, headroom, progress) -> None:
    import soundfile as sf

    subtype = "PCM_16" if width == 16 else "PCM_24"
    shift = 32 - f.info.bits - headroom
    writers = [sf.SoundFile(p, "w", f.samplerate, f.channels, subtype, format=fmt.upper()) for p in paths]
    try:
        for start, tracks in _blocks(f):
            check_range(tracks, f.info.bits, width, headroom)
            for w, x in zip(writers, tracks):
                w.write((x << shift).astype(_np.int32))  # soundfile's int32 holds any width in its top bits
            if progress is not None:
                progress({"stage": "export", "frames_done": start + len(tracks[0]), "frames_total": f.frames})
    finally:
        for w in writers:
            w.close()


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_ ." else "_" for c in name).strip(" .")
    return keep or "stem"


class _all_atomic:
    """Temporary files beside every path, renamed into place together when the block succeeds (none of them
    otherwise); existing files are refused unless ``overwrite``."""

    def __init__(self, paths: list[str], source, overwrite: bool):
        self.paths, self.source, self.overwrite = paths, source, overwrite

    def __enter__(self) -> list[str]:
        from ..fileutil import check_output, temp_beside

        for p in self.paths:
            check_output(p, inputs=(self.source,), overwrite=self.overwrite)
        self.tmps = []
        for p in self.paths:
            fd, tmp = temp_beside(p)
            os.close(fd)
            self.tmps.append(tmp)
        return self.tmps

    def __exit__(self, kind, value, tb) -> bool:
        from ..fileutil import discard, publish

        if kind is None:
            for tmp, p in zip(self.tmps, self.paths):
                publish(tmp, p)
        else:
            for tmp in self.tmps:
                discard(tmp)
        return False
