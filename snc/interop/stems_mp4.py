"""NI Stems (``.stem.mp4``): an SNC file out to the format DJ software reads, and such a file in.

The format (Native Instruments' Stems, as Traktor writes and Mixxx 2.6 reads it): an MP4 whose audio track 0
is the master and tracks 1-4 four stereo stems, AAC or ALAC at 44.1 or 48 kHz, only track 0 enabled, and a
JSON manifest in ``moov/udta/stem`` (:mod:`.mp4atoms`): ``version``, ``stems`` (``name``, ``color``) and
``mastering_dsp`` (a compressor and a limiter a player applies to the stems' sum).  SNC's stems plus its
residual are the mix, so the export folds the residual into the four stems (:mod:`.slots`) and the manifest
turns the mastering DSP off: with ALAC the four stems add up to the master exactly.  A slot that passes full
scale on a few peaks (a stem through a mastering chain's make-up gain) gives the excess to a slot with room at
those samples (:func:`~snc.interop.slots.spill`), so the file stays 16-bit as DJ software expects.

PyAV (FFmpeg's libraries, ``pip install 'snc[export]'``) encodes and muxes the tracks; this module adds the
manifest, the cover and the tracks' enabled flags after FFmpeg has written the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as _np

from ..errors import InputError, NotAvailableError
from . import mp4atoms
from .headroom import Overflow, check_range, headroom_for
from .slots import default_slots, fold, spill

#: the sample rates NI Stems players accept; anything else is resampled to the nearer family
RATES = (44100, 48000)
CODECS = ("alac", "aac")
AAC_BITRATE = 256_000
#: frames per block read from the SNC file: a multiple of every attribution hop, a few MB per stream
BLOCK_FRAMES = 1 << 18
#: the manifest's mastering DSP, off: the stems already add up to the master
MASTERING_OFF = {
    "compressor": {"enabled": False, "input_gain": 0.5, "output_gain": 0.5, "threshold": 1.0, "ratio": 0.0,
                   "attack": 0.0, "release": 0.0, "hp_cutoff": 0.0, "dry_wet": 1.0},
    "limiter": {"enabled": False, "threshold": 1.0, "ceiling": 1.0, "release": 0.0},
}
SLOT_TITLES = {"drums": "Drums", "bass": "Bass", "other": "Other", "vocals": "Vocals"}
#: ilst keys FFmpeg's MP4 muxer writes from container metadata, from SNC's lower-case tags
TAGS_OUT = {"title": "title", "artist": "artist", "album": "album", "date": "date", "genre": "genre",
            "comment": "comment", "copyright": "copyright", "tracknumber": "track"}


def av_module():
    try:
        import av
    except ImportError:
        raise NotAvailableError("exporting needs PyAV: pip install 'snc[export]'") from None
    return av


@dataclass
class ExportReport:
    """What :func:`export_stem_mp4` wrote: the slots (name, colour, stems), the format, and how far the
    exported stems' sum is from the exported master (0 with ALAC, measured on the written file by
    :func:`read_stem_mp4` when ``check`` is on)."""

    path: str
    codec: str
    sample_rate: int
    bits: int
    slots: list[dict] = field(default_factory=list)
    file_bytes: int = 0
    max_sum_error: int | None = None
    sum_snr_db: float | None = None
    headroom_bits: int = 0
    spilled_samples: int = 0


def export_stem_mp4(source, output, *, codec: str = "alac", slots: dict[str, list[str]] | None = None,
                    residual: str = "attribution", overwrite: bool = False, check: bool = True,
                    progress=None) -> ExportReport:
    """Write the SNC file ``source`` (path) as an NI Stems file at ``output``.

    ``slots``: ``{slot name: [stem names]}`` (default by role, :func:`~snc.interop.slots.default_slots`);
    ``residual``: ``"attribution"`` or the slot that takes the whole residual.  Written beside ``output`` and
    renamed into place when complete; an existing ``output`` is refused unless ``overwrite``."""
    from ..fileutil import atomic_output
    from ..render.file import open as open_snc

    if codec not in CODECS:
        raise InputError(f"unknown codec {codec!r} for NI Stems; choose {' or '.join(CODECS)}")
    av_module()
    with open_snc(source) as f:
        if f.info.sample_format != "int":
            raise InputError(f"{source}: a float file; NI Stems carries integer (ALAC) or AAC audio")
        stem_roles = [(s.name, s.role) for s in f.streams if s.name in f.stems]
        slots = slots or default_slots(stem_roles)
        if len(slots) > 4:
            raise InputError(f"NI Stems has four stem slots, got {len(slots)}")
        slots = dict(slots)
        while len(slots) < 4:  # the format has four: the rest silent
            slots[f"slot{len(slots) + 1}"] = []
        if residual != "attribution" and residual not in slots:
            raise InputError(f"--residual {residual!r}: no such slot ({', '.join(slots)})")
        colours = {s.name: s.colour for s in f.streams}
        described = [{"name": _slot_title(name, members), "color": _slot_colour(name, members, colours),
                      "stems": members} for name, members in slots.items()]
        rate = f.samplerate if f.samplerate in RATES else (44100 if f.samplerate % 11025 == 0 else 48000)
        manifest = json.dumps({"version": 1, "mastering_dsp": MASTERING_OFF,
                               "stems": [{"name": d["name"], "color": d["color"]} for d in described]}).encode()
        bits, headroom = (16 if f.info.bits <= 16 else 24), 0
        with atomic_output(output, inputs=(source,), overwrite=overwrite) as tmp:
            while True:
                try:
                    spilled = _write_tracks(f, tmp, codec, slots, residual, rate, bits, headroom, progress)
                    break
                except Overflow as over:  # a slot beyond full scale (snc.interop.headroom)
                    if codec == "aac":
                        raise
                    bits, headroom = 24, headroom_for(over, f.info.bits, headroom)
            with open(tmp, "rb") as fh:
                data = fh.read()
            data = mp4atoms.add_stems_boxes(data, manifest, enabled_tracks=1, cover=_cover(f))
            with open(tmp, "wb") as fh:
                fh.write(data)
    report = ExportReport(str(output), codec, rate, bits, described, os.path.getsize(output), headroom_bits=headroom,
                          spilled_samples=spilled)
    if check:
        report.max_sum_error, report.sum_snr_db = sum_error(output)
    return report


def _slot_title(slot: str, members: list[str]) -> str:
    if len(members) == 1:
        return members[0]
    return SLOT_TITLES.get(slot, slot)


def _slot_colour(slot: str, members: list[str], colours: dict[str, str]) -> str:
    from ..container.model import ROLE_COLOURS

    if members:
        return colours[members[0]]
    return ROLE_COLOURS.get(slot, "#808080")


def _cover(f) -> tuple[bytes, str] | None:
    pictures = sorted(f.pictures, key=lambda p: p.get("picture_type") != 3)  # the front cover first
    for pic in pictures:
        if pic.get("mime") in ("image/jpeg", "image/png"):
            return bytes(pic["data"]), pic["mime"]
    return None


def _write_tracks(f, path: str, codec: str, slots, residual: str, rate: int, bits: int, headroom: int,
                  progress) -> int:
    """Encode the master and the four slots into the MP4 at ``path`` (FFmpeg's muxer); the number of samples
    :func:`~snc.interop.slots.spill` moved between slots."""
    av = av_module()
    names = list(f.stems)
    full = 1 << (f.info.bits - 1)
    container = av.open(path, "w", format="mp4")
    try:
        tags = f.tags
        for key, ffkey in TAGS_OUT.items():
            if tags.get(key):
                container.metadata[ffkey] = tags[key]
        bpm = getattr(f, "music", {}).get("bpm") or _number(tags.get("bpm"))
        if bpm:
            container.metadata["tmpo"] = str(int(round(bpm)))
        titles = ["Master"] + [_slot_title(s, m) for s, m in slots.items()]
        streams = []
        for i, title in enumerate(titles):
            stream = container.add_stream(codec, rate=rate, layout="stereo")
            if codec == "aac":
                stream.codec_context.format = "fltp"
                stream.bit_rate = AAC_BITRATE
            else:
                stream.codec_context.format = "s16p" if bits == 16 else "s32p"
            stream.metadata["title"] = title
            stream.disposition = av.stream.Disposition.default if i == 0 else av.stream.Disposition(0)
            streams.append(stream)
        convert = _Converter(av, f.samplerate, rate, f.channels) if (rate != f.samplerate or f.channels != 2) \
            else None
        pts = moved = 0
        for start in range(0, f.frames, BLOCK_FRAMES):
            n = min(BLOCK_FRAMES, f.frames - start)
            mix = f.read(n, start=start, dtype="native")
            stems = {name: f.read(n, start=start, stem=name, dtype="native", played=True) for name in names}
            tracks = [mix.astype(_np.int64)] + fold(mix, stems, slots, residual, f.samplerate)
            if convert is not None:
                tracks = convert.push(tracks, full)
            if headroom == 0:
                tracks[1:], count = spill(tracks[1:], f.info.bits)
                moved += count
            pts = _encode_block(av, container, streams, tracks, codec, bits, headroom, full, rate, pts)
            if progress is not None:
                progress({"stage": "export", "frames_done": start + n, "frames_total": f.frames})
        if convert is not None:
            tracks = convert.flush(full)
            if headroom == 0:
                tracks[1:], count = spill(tracks[1:], f.info.bits)
                moved += count
            pts = _encode_block(av, container, streams, tracks, codec, bits, headroom, full, rate, pts)
        for stream in streams:
            for packet in stream.encode(None):
                container.mux(packet)
    finally:
        container.close()
    return moved


def _encode_block(av, container, streams, tracks, codec, bits, headroom, full, rate, pts) -> int:
    """Encode one block of the master and the slots (integers in the source's units)."""
    if not len(tracks[0]):
        return pts
    if codec == "alac":
        check_range(tracks, full.bit_length(), bits, headroom)
    # 24-bit ALAC takes the top 24 bits of 32-bit samples: the source's values scaled to 24 bits, less headroom
    shift = 8 + 24 - (full.bit_length() - 1) - 1 - headroom
    for stream, x in zip(streams, tracks):
        planar = _np.ascontiguousarray(x.T)
        if codec == "aac":
            frame = av.AudioFrame.from_ndarray((planar / full).astype(_np.float32), format="fltp", layout="stereo")
        elif bits == 16:
            frame = av.AudioFrame.from_ndarray(planar.astype(_np.int16), format="s16p", layout="stereo")
        else:
            frame = av.AudioFrame.from_ndarray((planar << shift).astype(_np.int32), format="s32p", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    return pts + len(tracks[0])


class _Converter:
    """Stereo at a rate NI Stems takes, streaming: every track down/up-mixed and resampled in floating point
    (libswresample through PyAV), rounded, and the slots' rounding put into the catch-all slot so that the
    slots still add up to the master exactly."""

    def __init__(self, av, rate_in: int, rate_out: int, channels: int):
        self.av, self.rate_in, self.rate_out, self.channels = av, rate_in, rate_out, channels
        self.resamplers = None
        self.pts = 0

    def _stereo(self, x: _np.ndarray) -> _np.ndarray:
        if self.channels == 1:
            return _np.repeat(x, 2, axis=1)
        if self.channels == 2:
            return x
        # more channels: even ones to the left, odd ones to the right, each side's power kept
        left, right = x[:, 0::2].sum(axis=1), x[:, 1::2].sum(axis=1)
        return _np.stack([left / _np.sqrt(x[:, 0::2].shape[1]), right / _np.sqrt(max(x[:, 1::2].shape[1], 1))],
                         axis=1)

    def _resample(self, k: int, x: _np.ndarray | None) -> _np.ndarray:
        if self.rate_in == self.rate_out:
            return x if x is not None else _np.zeros((0, 2))
        if self.resamplers is None:
            self.resamplers = [self.av.AudioResampler(format="fltp", layout="stereo", rate=self.rate_out)
                               for _ in range(5)]
        frame = None
        if x is not None:
            frame = self.av.AudioFrame.from_ndarray(_np.ascontiguousarray(x.T, dtype=_np.float32), format="fltp",
                                                    layout="stereo")
            frame.sample_rate, frame.pts = self.rate_in, self.pts
        out = self.resamplers[k].resample(frame)
        return _np.concatenate([o.to_ndarray().T for o in out]) if out else _np.zeros((0, 2))

    def _exact(self, tracks: list[_np.ndarray], full: int) -> list[_np.ndarray]:
        n = min(len(t) for t in tracks)
        ints = [_np.rint(t[:n] * full).astype(_np.int64) for t in tracks]
        catch = 1 + 2  # the "other" slot, after the master
        ints[catch] += ints[0] - sum(ints[1:])
        return ints

    def push(self, tracks: list[_np.ndarray], full: int) -> list[_np.ndarray]:
        out = [self._resample(k, self._stereo(t / full)) for k, t in enumerate(tracks)]
        self.pts += len(tracks[0])
        return self._exact(out, full)

    def flush(self, full: int) -> list[_np.ndarray]:
        return self._exact([self._resample(k, None) for k in range(5)], full)


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 1000 else None


# ---------------------------------------------------------------------------------------------- reading

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
    bpm = _number(tags.pop("tmpo", None)) or _read_tmpo(data)
    kept = {k: v for k, v in tags.items() if k in TAGS_OUT.values() and k != "track"}
    return StemsFile(rate, bits, arrays[0][:n], {nm: a[:n] for nm, a in zip(names, arrays[1:])}, colours, kept,
                     bpm=bpm, cover=_read_cover(data), manifest=manifest)


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
    return _number(int.from_bytes(data[box.start + box.header + 8: box.end], "big"))


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
