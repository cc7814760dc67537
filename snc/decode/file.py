"""An open ``.snc`` file for decoding: its properties, the exact mix and each stream, checks by hashes.

:class:`Decoder` reads what the file stores, and nothing that depends on a listener: the exact mix of an
integer file is ``sum(stems) + residual`` in integer arithmetic (spec section "Signal model",
:func:`snc.signal.mixing.exact_mix`), one stream is its packets decoded.  Remixes, profiles and placed
renders are built on top of it by :mod:`snc.render` (``snc.open`` returns :class:`snc.render.file.SncFile`,
a :class:`Decoder` that also renders), through the seams documented here: :attr:`segments`,
:meth:`segment_cuts`, :meth:`decode_packet`, :meth:`stream_span`, :attr:`scale`, :attr:`residual_index`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as _np

from ..container.hashing import SignalHasher
from ..container.model import FileInfo, StreamInfo
from ..container.music import read_music
from ..container.reader import ContainerReader, open_binary
from ..errors import ChecksumError, InputError
from ..signal.mixing import exact_mix, mastered
from .blocks import (
    check_blocksize,
    check_dtype,
    frame_range,
    rechunk,
    segment_cuts,
    whole,
)
from .packets import NATIVE, PacketDecoder


class Decoder:
    """An open ``.snc`` file, decoded: the exact mix or one stream, whole or in blocks.

    Damaged packets (CRC mismatch, a packet that does not decode): by default decoding goes on and
    conceals them -- that stream is silent for that segment, the mix is made of the other streams --
    with an :class:`~snc.errors.SncWarning` per damaged packet naming the stream and the frames, and
    :attr:`damaged` lists them.  A listener is better served by a gap than by no audio at all.
    ``strict=True`` raises the error instead (what an archive check wants, like ``flac`` without
    ``-F``); :meth:`verify` is always strict.
    """

    def __init__(self, source, *, strict: bool = False):
        self.strict = bool(strict)
        self._fh, self._owns = open_binary(source)
        try:
            self._reader = ContainerReader(self._fh)
        except BaseException:
            self.close()
            raise
        self._packets = PacketDecoder(self._reader)
        self._bytes_filled = False
        streams = self._reader.streams
        #: the master stream's index (the last stream, spec section 3.7), or None; it is no stem: the stems are
        #: the other streams, each played through its gain
        self._master = len(streams) - 1 if streams[-1].is_master else None
        self._public = streams[:self._master] if self._master is not None else streams
        # the gain the stems play through, of the last two segments a compressor's gain was computed for (a span
        # that crosses a segment boundary reads both, stem after stem): {(segment index, strict): gain}
        self._segment_gains: dict = {}

    # ------------------------------------------------------------------ properties
    @property
    def container(self) -> ContainerReader:
        """The demuxed container beneath (chunks, segment index, packets): for tools and tests."""
        return self._reader

    @property
    def info(self) -> FileInfo:
        return self._reader.info

    @property
    def samplerate(self) -> int:
        return self.info.sample_rate

    @property
    def frames(self) -> int:
        return self.info.frames

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def preset(self) -> str:
        return self.info.preset

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate

    @property
    def streams(self) -> list[StreamInfo]:
        """The stems, then the residual, with their packet bytes filled in (which reads every segment
        header).  A master stream is not among them (:attr:`master`)."""
        if not self._bytes_filled:
            for st, n in zip(self._reader.streams, self._reader.stream_bytes()):
                st.bytes = n
            self._bytes_filled = True
        return self._public

    @property
    def stream_infos(self) -> list[StreamInfo]:
        """:attr:`streams` as the header declares them, without reading the segments (packet bytes unset
        until :attr:`streams` is asked for)."""
        return self._public

    @property
    def master(self) -> StreamInfo | None:
        """The master stream (spec section 3.7: the gain every stem plays through in the mix), or None."""
        if self._master is None:
            return None
        self.streams  # noqa: B018 -- fills in its bytes
        return self._reader.streams[self._master]

    def master_knots(self, seg, *, strict: bool | None = None) -> _np.ndarray | None:
        """The master stream's own decode over segment ``seg``: the knots' gain ``G`` (int32 Q14), what its HASH
        entry hashes (spec section 3.7), or None without a master stream."""
        if self._master is None:
            return None
        return self._packets.cached(seg, self._master, strict=self.strict if strict is None else strict)

    def master_gain(self, seg, *, strict: bool | None = None) -> _np.ndarray | None:
        """The gain the stems play through over segment ``seg`` (int32 Q14, ``(frames, channels)``, spec
        section 3.7: the knots', with a compressor combined with its gain), or None without a master stream."""
        if self._master is None:
            return None
        strict = self.strict if strict is None else strict
        knots = self.master_knots(seg, strict=strict)
        if self.codec(self._master).compressor is None:
            return knots
        # a compressor's gain follows the sum of every stem of the segment: computed once per segment
        key = (seg.index, strict)
        if key not in self._segment_gains:
            stems = [self._packets.cached(seg, i, strict=strict) for i, st in enumerate(self._public)
                     if not st.is_residual]
            while len(self._segment_gains) >= 2:
                del self._segment_gains[next(iter(self._segment_gains))]
            self._segment_gains[key] = self.codec(self._master).segment_gain(knots, stems)
        return self._segment_gains[key]

    @property
    def stems(self) -> list[str]:
        """Names of the stem streams (not the residual), in stream order."""
        return [s.name for s in self._public if not s.is_residual]

    @property
    def residual_index(self) -> int:
        """The index of the residual stream."""
        return next(i for i, s in enumerate(self._public) if s.is_residual)

    @property
    def metadata(self) -> dict:
        return self._reader.meta

    @property
    def lead(self) -> str | None:
        """The lead stem (META ``lead``: the one karaoke mutes), or None when the file names none
        (then profiles take the vocals as the lead)."""
        lead = self._reader.meta.get("lead")
        return lead if isinstance(lead, str) and lead in self.stems else None

    @property
    def tags(self) -> dict:
        return dict(self._reader.meta.get("tags", {}))

    @property
    def music(self) -> dict:
        """The musical metadata (META ``music``, spec section 10.2): ``bpm``, ``key``, ``cues``, ``lyrics``,
        ``synced_lyrics``, ``isrc``, those the file has with valid values; ``{}`` when it has none."""
        return read_music(self._reader.meta)

    @property
    def pictures(self) -> list[dict]:
        return self._reader.pictures

    @property
    def file_size(self) -> int:
        return self._reader.file_size

    @property
    def segments(self):
        """The segment index (read lazily): ``segments[k]`` has ``index``, ``start_frame``, ``frames``."""
        return self._reader.segments

    @property
    def scale(self) -> float:
        """Native sample units per full scale: ``2 ** (bits - 1)`` for an integer file, 1 for a float one."""
        return float(1 << (self.info.bits - 1)) if self.info.sample_format == "int" else 1.0

    @property
    def damaged(self) -> list[dict]:
        """The damaged packets concealed so far, in the order met: ``{"stream", "segment", "start",
        "frames", "error"}`` (frames ``start .. start + frames`` of that stream were replaced by silence)."""
        return self._packets.damaged

    # ------------------------------------------------------------------ the seams
    def stream_index(self, name: str) -> int:
        """The index of the stream called ``name`` (an InputError naming the streams if none is)."""
        for i, st in enumerate(self._public):
            if st.name == name:
                return i
        raise InputError(f"no stream named {name!r}; this file has: {', '.join(s.name for s in self._public)}")

    def codec(self, i: int):
        """The codec of stream ``i`` (a FormatError when its config does not fit the file)."""
        return self._packets.codec(i)

    def segment_cuts(self, start: int, stop: int) -> Iterator[tuple]:
        """``(segment, slice of it)`` covering frames ``[start, stop)`` in order."""
        return segment_cuts(self._reader.segments, self.info.segment_frames, start, stop)

    def decode_packet(self, seg, i: int, *, strict: bool | None = None) -> _np.ndarray:
        """Stream ``i`` of segment ``seg`` as it plays in the mix, in its codec's native dtype: a stem of a
        file with a master stream through the master's gain (spec section 3.7).  A damaged packet is
        concealed (silence, reported in :attr:`damaged`) unless ``strict`` (default: the file's :attr:`strict`)."""
        strict = self.strict if strict is None else strict
        return self._played(seg, i, self._packets.decode(seg, i, strict=strict), slice(None), strict)

    def _played(self, seg, i: int, block: _np.ndarray, cut: slice, strict: bool) -> _np.ndarray:
        """Frames ``cut`` of stream ``i`` in ``seg`` as they play in the mix, from ``block``, the stream's whole
        segment (a master's EQ runs from the segment's first frame)."""
        if self._master is None or self._public[i].is_residual:
            return block[cut]
        master = self.codec(self._master)
        if master.eq is None:
            return mastered(self.master_gain(seg, strict=strict)[cut], block[cut])
        return master.play(self.master_gain(seg, strict=strict), block)[cut]

    def stream_span(self, i: int, start: int, stop: int) -> _np.ndarray:
        """Stream ``i`` over frames ``[start, stop)`` (clipped to the file) as it plays in the mix
        (:meth:`decode_packet`), float64 in native units.  The last two decoded packets of each stream
        are kept, so spans that look behind and ahead of a sequential read decode every packet once."""
        start, stop = max(start, 0), min(stop, self.frames)
        out = _np.empty((stop - start, self.channels))
        for seg, cut in self.segment_cuts(start, stop):
            at = seg.start_frame + cut.start - start
            block = self._packets.cached(seg, i, strict=self.strict)
            out[at:at + cut.stop - cut.start] = self._played(seg, i, block, cut, self.strict)
        return out

    def segment_mix(self, seg, stream_hashers=None) -> _np.ndarray:
        """The exact mix of one segment, in native units, its streams decoded one at a time into the
        sum: memory for one decoded stream, however many streams the file has (a master's compressor needs
        every stem of the segment at once, and they are decoded once for its gain and the sum).  With
        ``stream_hashers`` (verification) each stream is hashed as its packet decodes and damage is not
        concealed."""
        strict = True if stream_hashers is not None else self.strict
        if stream_hashers is not None and self._master is not None:
            stream_hashers[self._master].update(self.master_knots(seg, strict=True))
        compressed = self._master is not None and self.codec(self._master).compressor is not None
        # (verification decodes every packet afresh: the cache may hold a block concealed under a lenient read)
        decode = self._packets.cached if compressed and stream_hashers is None else self._packets.decode

        def streams():
            for i in range(len(self._public)):
                block = decode(seg, i, strict=strict)
                if stream_hashers is not None:
                    stream_hashers[i].update(block)
                yield self._played(seg, i, block, slice(None), strict)

        return exact_mix(streams(), self.info.sample_format, self.info.bits)

    def segment_signal(self, seg, stem: int | None, dtype: str, played: bool = False) -> _np.ndarray:
        """One segment of the exact mix (``stem`` None) or of stream ``stem`` as stored (a stem before any
        master gain: what the encoder was given, exactly so for ``archival``; ``played``: as it plays in the
        mix, :meth:`decode_packet`), in ``dtype``."""
        if stem is None:
            out = self.segment_mix(seg)
        else:
            out = self.decode_packet(seg, stem) if played else self._packets.decode(seg, stem, strict=self.strict)
        if dtype == "native":
            return out
        return (out.astype(_np.float64) / self.scale).astype(dtype)

    # ------------------------------------------------------------------ reading
    def blocks(self, blocksize: int | None = None, *, start: int = 0, frames: int | None = None,
               stem: str | None = None, dtype: str = "float64", played: bool = False) -> Iterator[_np.ndarray]:
        """Yield the exact mix or one ``stem`` in blocks of ``blocksize`` frames (the last may be
        shorter), as :meth:`read`.  Only the packets of the needed streams and segments are read; memory
        stays bounded by a few segments plus one block."""
        start, stop, stem_index = self._selection(start, frames, stem, dtype)
        blocksize = check_blocksize(blocksize or self.info.segment_frames)
        return rechunk(self.segment_pieces(lambda seg: self.segment_signal(seg, stem_index, dtype, played), start,
                                           stop), blocksize)

    def read(self, frames: int | None = None, *, start: int = 0, stem: str | None = None,
             dtype: str = "float64", played: bool = False) -> _np.ndarray:
        """Read ``frames`` frames (all by default) from ``start``: the exact mix or one ``stem``.

        A stem is read as stored (as the encoder was given it); ``played=True`` reads it as it plays in the
        mix: through the master stream's gain where the file has one (spec section 3.7), so that the stems
        so read and the residual sum to the exact mix.  Without a master stream the two are the same.

        ``dtype``: ``"float64"``/``"float32"`` scaled to [-1, 1), or ``"native"`` -- the exact stored
        samples (int32 holding the file's integer values, or floats for float files).
        """
        start, stop, stem_index = self._selection(start, frames, stem, dtype)
        pieces = self.segment_pieces(lambda seg: self.segment_signal(seg, stem_index, dtype, played), start, stop)
        return self.joined(pieces, stop - start, dtype)

    def segment_pieces(self, signal, start: int, stop: int) -> Iterator[_np.ndarray]:
        """``signal(segment)[cut]`` for each segment cut of frames ``[start, stop)``, in order."""
        return (signal(seg)[cut] for seg, cut in self.segment_cuts(start, stop))

    def joined(self, pieces, frames: int, dtype: str) -> _np.ndarray:
        """``frames`` frames of ``pieces`` as one array (an empty one of ``dtype`` if there are none)."""
        return whole(pieces, frames, self.channels, NATIVE[self.info.sample_format] if dtype == "native" else dtype)

    def _selection(self, start, frames, stem, dtype) -> tuple[int, int, int | None]:
        check_dtype(dtype)
        start, stop = frame_range(start, frames, self.frames)
        return start, stop, self.stream_index(stem) if stem is not None else None

    # ------------------------------------------------------------------ checks
    def verify(self) -> dict:
        """Decode everything and check the stored hashes.

        Returns ``{"mix": bool, "streams": {name: bool}}``; raises ChecksumError
        when the file has no hashes or a packet CRC fails.
        """
        r = self._reader
        if r.mix_hash is None:
            raise ChecksumError("file has no HASH chunk to verify against")
        mix_h = SignalHasher(self.info.sample_format)
        stream_h = [SignalHasher(self.codec(i).format) for i in range(len(r.streams))]
        for seg in r.segments:
            mix_h.update(self.segment_mix(seg, stream_h))
        return {
            "mix": mix_h.digest() == r.mix_hash,
            "streams": {st.name: h.digest() == want for st, h, want in zip(r.streams, stream_h, r.stream_hashes)},
        }

    def describe(self) -> dict:
        """Everything ``snc-info --json`` prints."""
        streams = self.streams
        return {
            "format_version": "{}.{}".format(*self._reader.version),
            "sample_rate": self.samplerate,
            "frames": self.frames,
            "duration_s": round(self.duration, 6),
            "channels": self.channels,
            "sample_format": self.info.sample_format,
            "bits": self.info.bits,
            "preset": self.preset,
            "segment_frames": self.info.segment_frames,
            "file_bytes": self.file_size,
            "streams": [self._described(s) for s in streams],
            "master": self._described(self.master) if self.master is not None else None,
            "tags": self.tags,
            "profiles": self.metadata.get("profiles", {}),
            "lead": self.lead,
            "music": self.music,
            "pictures": [dict(type=p["picture_type"], mime=p["mime"], description=p["description"],
                              bytes=len(p["data"])) for p in self.pictures],
            "unknown_chunks": [t.decode("latin-1") for t, _, _ in self._reader.unknown_chunks],
        }

    def _described(self, st: StreamInfo) -> dict:
        return dict(st.describe(), share=round(st.bytes / self.file_size, 4) if self.file_size else 0.0)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        if getattr(self, "_owns", False) and self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.preset} {self.samplerate} Hz {self.channels} ch {self.frames} frames, "
                f"stems {self.stems}>")
