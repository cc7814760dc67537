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

from ..errors import InputError
from . import mp4atoms
from .headroom import Overflow, check_range, headroom_for
from .mp4common import TAGS_OUT, av_module, bpm_number
from .slots import catch_all_index, default_slots, fold, spill
from .stems_mp4_read import sum_error
from .tracks import blocks

#: the sample rates NI Stems players accept; anything else is resampled to the nearer family
RATES = (44100, 48000)
CODECS = ("alac", "aac")
AAC_BITRATE = 256_000
#: the manifest's mastering DSP, off: the stems already add up to the master
MASTERING_OFF = {
    "compressor": {"enabled": False, "input_gain": 0.5, "output_gain": 0.5, "threshold": 1.0, "ratio": 0.0,
                   "attack": 0.0, "release": 0.0, "hp_cutoff": 0.0, "dry_wet": 1.0},
    "limiter": {"enabled": False, "threshold": 1.0, "ceiling": 1.0, "release": 0.0},
}
SLOT_TITLES = {"drums": "Drums", "bass": "Bass", "other": "Other", "vocals": "Vocals"}


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
    full = 1 << (f.info.bits - 1)
    container = av.open(path, "w", format="mp4")
    try:
        tags = f.tags
        for key, ffkey in TAGS_OUT.items():
            if tags.get(key):
                container.metadata[ffkey] = tags[key]
        bpm = f.music.get("bpm") or bpm_number(tags.get("bpm"))
        if bpm:
            container.metadata["tmpo"] = str(int(round(bpm)))  # iTunes' BPM is an integer
        if f.music.get("lyrics"):
            container.metadata["lyrics"] = f.music["lyrics"]  # ilst's ©lyr
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
        convert = None
        if rate != f.samplerate or f.channels != 2:
            convert = _Converter(av, f.samplerate, rate, f.channels, 1 + catch_all_index(slots))
        pts = moved = 0
        for block in blocks(f):
            tracks = [block.mix] + fold(block.mix, block.stems, slots, residual, f.samplerate)
            if convert is not None:
                tracks = convert.push(tracks, full)
            if headroom == 0:
                tracks[1:], count = spill(tracks[1:], f.info.bits)
                moved += count
            pts = _encode_block(av, container, streams, tracks, codec, bits, headroom, f.info.bits, rate, pts)
            if progress is not None:
                progress({"stage": "export", "frames_done": block.start + len(block.mix), "frames_total": f.frames})
        if convert is not None:
            tracks = convert.flush(full)
            if headroom == 0:
                tracks[1:], count = spill(tracks[1:], f.info.bits)
                moved += count
            pts = _encode_block(av, container, streams, tracks, codec, bits, headroom, f.info.bits, rate, pts)
        for stream in streams:
            for packet in stream.encode(None):
                container.mux(packet)
    finally:
        container.close()
    return moved


def _encode_block(av, container, streams, tracks, codec, bits, headroom, src_bits, rate, pts) -> int:
    """Encode one block of the master and the slots (integers in the source's units, ``src_bits`` wide)."""
    if not len(tracks[0]):
        return pts
    if codec == "alac":
        check_range(tracks, src_bits, bits, headroom)
    for stream, x in zip(streams, tracks):
        planar = _np.ascontiguousarray(x.T)
        if codec == "aac":
            frame = av.AudioFrame.from_ndarray((planar / (1 << (src_bits - 1))).astype(_np.float32), format="fltp",
                                               layout="stereo")
        elif bits == 16:
            frame = av.AudioFrame.from_ndarray(planar.astype(_np.int16), format="s16p", layout="stereo")
        else:  # 24-bit ALAC takes the top 24 bits of 32-bit samples: the source's level less the headroom
            frame = av.AudioFrame.from_ndarray((planar << (32 - src_bits - headroom)).astype(_np.int32),
                                               format="s32p", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    return pts + len(tracks[0])


class _Converter:
    """Stereo at a rate NI Stems takes, streaming: every track down/up-mixed and resampled in floating point
    (libswresample through PyAV), rounded, and the slots' rounding put into the catch-all slot so that the
    slots still add up to the master exactly."""

    def __init__(self, av, rate_in: int, rate_out: int, channels: int, catch: int):
        self.av, self.rate_in, self.rate_out, self.channels = av, rate_in, rate_out, channels
        self.catch = catch  # the track that takes the slots' rounding (fold's catch-all slot, after the master)
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
        ints[self.catch] += ints[0] - sum(ints[1:])
        return ints

    def push(self, tracks: list[_np.ndarray], full: int) -> list[_np.ndarray]:
        out = [self._resample(k, self._stereo(t / full)) for k, t in enumerate(tracks)]
        self.pts += len(tracks[0])
        return self._exact(out, full)

    def flush(self, full: int) -> list[_np.ndarray]:
        return self._exact([self._resample(k, None) for k in range(5)], full)
