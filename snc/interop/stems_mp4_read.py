"""NI Stems (``.stem.mp4``) in: the master and the stems decoded, the manifest's names and colours, the tags,
BPM and cover -- for ``snc-encode song.stem.mp4`` and for checking what :mod:`.stems_mp4` wrote.

Every track is decoded in one pass over the file (PyAV); ALAC tracks stay integers (16- or 24-bit), AAC
tracks are rounded to 16 bits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as _np

from ..errors import InputError
from . import mp4atoms
from .mp4common import TAGS_OUT, av_module, bpm_number


@dataclass
class StemsFile:
    """An NI Stems file read whole: the master and the stems as integer arrays ``(frames, 2)``, their names
    and colours from the manifest, the tags and the cover."""

    sample_rate: int
    bits: int
    master: _np.ndarray
    stems: dict[str, _np.ndarray]
    colours: dict[str, str]
    tags: dict[str, str]
    bpm: float | None = None
    lyrics: str | None = None
    cover: tuple[bytes, str] | None = None
    manifest: dict = field(default_factory=dict)


def is_stem_mp4(path) -> bool:
    """Whether ``path`` is an MP4 with an NI Stems manifest (read from its boxes, not its name)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[4:8] != b"ftyp":
                return False
            fh.seek(0)
            data = fh.read()
        return mp4atoms.stem_manifest(data) is not None
    except (OSError, InputError):
        return False


def read_stem_mp4(path) -> StemsFile:
    """Decode an NI Stems file: track 0 the master, tracks 1.. the stems named by the manifest."""
    av = av_module()
    with open(path, "rb") as fh:
        data = fh.read()
    raw = mp4atoms.stem_manifest(data)
    if raw is None:
        raise InputError(f"{path}: no NI Stems manifest (moov/udta/stem)")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError(f"{path}: the NI Stems manifest is not JSON") from None
    described = manifest.get("stems") if isinstance(manifest, dict) else None
    if not isinstance(described, list):
        raise InputError(f"{path}: the NI Stems manifest has no stems list")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: cannot read the MP4 ({exc})") from None
    with container:
        audio = list(container.streams.audio)
        if len(audio) < 2:
            raise InputError(f"{path}: {len(audio)} audio track(s); NI Stems has a master and stems")
        rate = audio[0].codec_context.sample_rate
        integer = all(s.codec_context.name == "alac" for s in audio)
        bits = 24 if integer and any(s.codec_context.format.name.startswith("s32") for s in audio) else 16
        arrays = _decode_all(container, audio, bits, integer)
        tags = {k.lower(): v for k, v in container.metadata.items()}
    names, colours = [], {}
    for k in range(1, len(arrays)):
        item = described[k - 1] if k - 1 < len(described) and isinstance(described[k - 1], dict) else {}
        name = str(item.get("name") or f"stem{k}")
        while name in names:
            name += "'"
        names.append(name)
        colour = str(item.get("color", ""))
        if len(colour) == 7 and colour.startswith("#"):
            colours[name] = colour.lower()
    n = min(len(a) for a in arrays)
    bpm = bpm_number(tags.pop("tmpo", None)) or _read_tmpo(data)
    kept = {k: v for k, v in tags.items() if k in TAGS_OUT.values() and k != "track"}
    return StemsFile(rate, bits, arrays[0][:n], {nm: a[:n] for nm, a in zip(names, arrays[1:])}, colours, kept,
                     bpm=bpm, lyrics=tags.get("lyrics") or None, cover=_read_cover(data), manifest=manifest)


def _decode_all(container, streams, bits: int, integer: bool) -> list[_np.ndarray]:
    """Every track of ``streams`` decoded in one pass over the file (``(frames, 2)`` integer arrays)."""
    pieces = {s.index: [] for s in streams}
    for packet in container.demux(*streams):
        for frame in packet.decode():
            x = frame.to_ndarray()
            x = x.T if frame.format.is_planar else x.reshape(-1, len(frame.layout.channels))
            pieces[packet.stream.index].append(x)
    out = []
    for s in streams:
        x = _np.concatenate(pieces[s.index]) if pieces[s.index] else _np.zeros((0, 2))
        if x.shape[1] == 1:
            x = _np.repeat(x, 2, axis=1)
        if integer:
            x = (x.astype(_np.int32) >> 8) if bits == 24 and x.dtype == _np.int32 else x.astype(_np.int32)
        else:
            x = _np.clip(_np.rint(x * 32768.0), -32768, 32767).astype(_np.int32)
        out.append(x)
    return out


def _read_tmpo(data: bytes) -> float | None:
    """``ilst/tmpo`` (an iTunes-style integer BPM), which FFmpeg writes but does not read back."""
    box = mp4atoms.find(data, [b"moov", b"udta", b"meta", b"ilst", b"tmpo", b"data"])
    if box is None or box.size <= box.header + 8:
        return None
    return bpm_number(int.from_bytes(data[box.start + box.header + 8: box.end], "big"))


def _read_cover(data: bytes) -> tuple[bytes, str] | None:
    box = mp4atoms.find(data, [b"moov", b"udta", b"meta", b"ilst", b"covr", b"data"])
    if box is None or box.size < box.header + 8:
        return None
    kind = int.from_bytes(data[box.start + box.header: box.start + box.header + 4], "big")
    mime = {13: "image/jpeg", 14: "image/png"}.get(kind)
    return (data[box.start + box.header + 8: box.end], mime) if mime else None


def sum_error(path) -> tuple[int, float]:
    """``(max |sum(stems) - master|, master-to-difference ratio in dB)`` of a written NI Stems file, in its
    integer units (AAC: 16-bit units; inf dB when exact)."""
    f = read_stem_mp4(path)
    master = f.master.astype(_np.int64)
    diff = sum(s.astype(_np.int64) for s in f.stems.values()) - master
    if not len(master) or not diff.any():
        return 0, float("inf")
    ratio = float((master.astype(_np.float64) ** 2).sum() / (diff.astype(_np.float64) ** 2).sum())
    return int(_np.abs(diff).max()), 10.0 * _np.log10(max(ratio, 1e-30))


def encode_stems_file(f: StemsFile, output, **options):
    """Encode an NI Stems file read by :func:`read_stem_mp4` as SNC: its master the mix, its stems with the
    manifest's names and colours, its tags, BPM and cover unless ``options`` (:func:`snc.encode`'s) give them."""
    from ..encode import encode

    tags = {**f.tags, **dict(options.pop("tags", None) or {})}
    if f.cover is not None and not options.get("pictures"):
        options["pictures"] = [{"picture_type": 3, "mime": f.cover[1], "data": f.cover[0]}]
    found = {k: v for k, v in (("bpm", f.bpm), ("lyrics", f.lyrics)) if v}
    if found:
        options["music"] = {**found, **dict(options.pop("music", None) or {})}
    if f.colours:
        options["colours"] = {**f.colours, **dict(options.pop("colours", None) or {})}
    return encode(f.master, output, stems=f.stems, samplerate=f.sample_rate, bits=f.bits, tags=tags, **options)
