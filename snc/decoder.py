"""Decoding: demux -> decode only the streams a render needs -> blocks.

:class:`SncFile` is the one class behind ``snc.open``.  The exact mix of an
integer file is ``sum(stems) + residual`` in integer arithmetic (spec section
"Signal model"); a remix applies linear gains in float64 and lets the residual
follow the stems (spec section "Remix").
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping

import numpy as _np

from .codecs import get_codec
from .container.hashing import SignalHasher
from .container.model import FileInfo, StreamInfo
from .container.reader import ContainerReader, open_binary
from .signal.mixing import exact_mix
from .errors import ChecksumError, CodecError, FormatError, InputError, SncError, SncWarning

_DTYPES = ("float64", "float32", "native")
#: how the residual follows a remix (spec section 19): per time-frequency tile, or one gain for the file
ATTRIBUTIONS = ("tiles", "share", "global")
#: decoded packets kept per stream for the tile rule's look-behind and look-ahead: the rule goes stream by
#: stream and a span copies each packet's part before it asks for the next, so two suffice for sequential
#: reads to decode every packet once (when a segment is at least a tile frame long)
_CACHED_SEGMENTS = 2
#: frames the tile rule attributes at once (a multiple of every hop size): its transforms of one stream,
#: not of the whole segment, are what it holds
_ATTRIBUTION_PIECE = 1 << 16
#: a stem gain (dB) of a remix or a profile: louder than +40 dB (10^2 in amplitude) is a mistake, not a mix;
#: -120 dB is below any remix a listener means (-inf mutes).  The remix refuses only the top, a profile both ends
REMIX_GAIN_RANGE_DB = (-120.0, 40.0)
_NATIVE = {"int": _np.int32, "float32": _np.float32, "float64": _np.float64}


def _db_to_gain(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def _checked_gain_db(name: str, value) -> float:
    """A remix gain in dB: a number up to the top of REMIX_GAIN_RANGE_DB, or -inf to mute; NaN and +inf are
    refused."""
    top = REMIX_GAIN_RANGE_DB[1]
    try:
        db = float(value)
    except (TypeError, ValueError):
        raise InputError(f"gain of {name!r} must be a number of dB, got {value!r}") from None
    if math.isnan(db) or db > top:
        raise InputError(f"gain of {name!r} must be at most +{top:g} dB (or -inf to mute), got {value!r}")
    return db


def _residual_gain(linear: dict[int, float], mean_square_db: dict[int, float]) -> float:
    """The global rule's residual gain (spec section 19): the stem gains weighted by their mean square.
    The weights are taken relative to the loudest stem, so no stored value can overflow them."""
    finite = {i: db for i, db in mean_square_db.items() if math.isfinite(db)}
    if finite:
        top = max(finite.values())
        weights = {i: 10.0 ** ((db - top) / 10.0) for i, db in finite.items()}
        total = sum(weights.values())  # >= 1: the loudest stem weighs 1
        return sum(linear[i] * w for i, w in weights.items()) / total
    return sum(linear.values()) / max(len(linear), 1)


def rechunk(pieces, blocksize: int) -> Iterator[_np.ndarray]:
    """Blocks of exactly ``blocksize`` frames (the last may be shorter) from pieces of any length."""
    pending: list[_np.ndarray] = []
    count = 0
    for piece in pieces:
        if not len(piece):
            continue
        pending.append(piece)
        count += len(piece)
        while count >= blocksize:
            joined = _np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:blocksize]
            rest = joined[blocksize:]
            pending, count = ([rest], len(rest)) if len(rest) else ([], 0)
    if count:
        yield _np.concatenate(pending) if len(pending) > 1 else pending[0]


class SncFile:
    """An open ``.snc`` file.

    >>> with snc.open("song.snc") as f:
    ...     mix = f.read()                         # float64, (frames, channels)
    ...     exact = f.read(dtype="native")         # the exact integer samples
    ...     vocals = f.read(stem="vocals")
    ...     karaoke = f.read(mute=["vocals"])

    Damaged packets (CRC mismatch, a packet that does not decode): by default decoding goes on and
    conceals them -- that stream is silent for that segment, the mix is made of the other streams --
    with an :class:`~snc.errors.SncWarning` per damaged packet naming the stream and the frames, and
    :attr:`damaged` lists them.  A listener is better served by a gap than by no audio at all.
    ``strict=True`` raises the error instead (what an archive check wants, like ``flac`` without
    ``-F``); :meth:`verify` is always strict.
    """

    def __init__(self, source, *, strict: bool = False):
        self.strict = bool(strict)
        self._damaged: dict[tuple[int, int], dict] = {}
        self._fh, self._owns = open_binary(source)
        try:
            self._reader = ContainerReader(self._fh)
        except BaseException:
            self.close()
            raise
        self._codecs: dict[int, object] = {}
        self._bytes_filled = False
        self._packet_cache: dict[int, dict[int, _np.ndarray]] = {}  # stream -> segment -> decoded block

    # ------------------------------------------------------------------ properties
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
        """All streams (stems, then the residual), with their packet bytes filled in."""
        if not self._bytes_filled:
            for st, n in zip(self._reader.streams, self._reader.stream_bytes()):
                st.bytes = n
            self._bytes_filled = True
        return self._reader.streams

    @property
    def stems(self) -> list[str]:
        """Names of the stem streams (not the residual), in stream order."""
        return [s.name for s in self._reader.streams if not s.is_residual]

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
    def pictures(self) -> list[dict]:
        return self._reader.pictures

    @property
    def file_size(self) -> int:
        return self._reader.file_size

    # ------------------------------------------------------------------ selection
    def _stream_index(self, name: str) -> int:
        for i, st in enumerate(self._reader.streams):
            if st.name == name:
                return i
        raise InputError(f"no stream named {name!r}; this file has: {', '.join(s.name for s in self._reader.streams)}")

    def _codec(self, i: int):
        if i not in self._codecs:
            st = self._reader.streams[i]
            codec = get_codec(st.codec_id, st.codec_config)
            integer_file = self.info.sample_format == "int"
            if codec.channels != st.channels or (codec.format == "int") != integer_file:
                raise FormatError(f"stream {st.name!r}: codec config ({codec.format}, {codec.channels} ch) does "
                                  f"not fit the file ({self.info.sample_format}, {self.channels} ch)")
            self._codecs[i] = codec
        return self._codecs[i]

    def remix_gains(self, gains: Mapping[str, float] | None = None, mute=(), solo=()) -> dict[int, float] | None:
        """Linear gain per stream index for a remix, or ``None`` for the exact mix.

        ``gains`` are in dB per stem name.  The residual follows the stems: its
        gain is the mean of the stem gains weighted by each stem's stored mean
        square (spec section "Remix"), so all gains at 0 dB give the exact mix.
        """
        streams = self._reader.streams
        gains = dict(gains or {})
        for name in [*gains, *mute, *solo]:
            if streams[self._stream_index(name)].is_residual:  # also rejects unknown names
                raise InputError("the residual follows the stems; give gains to stems only")
        if not gains and not mute and not solo:
            return None
        linear: dict[int, float] = {}
        for i, st in enumerate(streams):
            if st.is_residual:
                continue
            g = _db_to_gain(_checked_gain_db(st.name, gains.get(st.name, 0.0)))
            if st.name in mute or (solo and st.name not in solo):
                g = 0.0
            linear[i] = g
        linear[self._residual_index()] = _residual_gain(linear, {i: streams[i].mean_square_db for i in linear})
        return linear

    def _residual_index(self) -> int:
        return next(i for i, s in enumerate(self._reader.streams) if s.is_residual)

    # ------------------------------------------------------------------ decoding
    @property
    def damaged(self) -> list[dict]:
        """The damaged packets concealed so far, in the order met: ``{"stream", "segment", "start",
        "frames", "error"}`` (frames ``start .. start + frames`` of that stream were replaced by silence)."""
        return [dict(d) for d in self._damaged.values()]

    def _decode(self, seg, i: int, *, strict: bool | None = None) -> _np.ndarray:
        codec = self._codec(i)  # a codec the file names wrongly is not damage: always an error
        try:
            return self._decode_packet(codec, seg, i)
        except (FormatError, CodecError) as exc:
            if self.strict if strict is None else strict:
                raise
            return self._conceal(codec, seg, i, exc)

    def _decode_packet(self, codec, seg, i: int) -> _np.ndarray:
        data = self._reader.read_packet(seg, i)
        try:
            block = codec.decode(data, seg.frames)
        except SncError:
            raise
        except Exception as exc:  # a codec bug must still surface as one clear error
            raise CodecError(f"stream {self._reader.streams[i].name!r}, segment {seg.index}: {exc}") from None
        if block.shape != (seg.frames, self.channels):
            raise CodecError(f"stream {self._reader.streams[i].name!r} decoded to shape {block.shape}")
        return block

    def _conceal(self, codec, seg, i: int, exc: Exception) -> _np.ndarray:
        """Silence in place of a damaged packet, reported once per packet."""
        name = self._reader.streams[i].name
        if (i, seg.index) not in self._damaged:
            self._damaged[(i, seg.index)] = dict(stream=name, segment=seg.index, start=seg.start_frame,
                                                 frames=seg.frames, error=str(exc))
            warnings.warn(f"damaged packet concealed: stream {name!r}, frames {seg.start_frame}.."
                          f"{seg.start_frame + seg.frames} (segment {seg.index}) are silent ({exc})",
                          SncWarning, stacklevel=2)
        return _np.zeros((seg.frames, self.channels), dtype=_NATIVE[codec.format])

    def _exact_mix(self, seg, stream_hashers=None) -> _np.ndarray:
        """The exact mix of one segment (:func:`snc.signal.mixing.exact_mix`), its streams decoded one at a time
        into the sum: memory for one decoded stream, however many streams the file has.  With
        ``stream_hashers`` (verification) each stream is hashed on the way and damage is not concealed."""
        def streams():
            for i in range(len(self._reader.streams)):
                block = self._decode(seg, i, strict=True if stream_hashers is not None else None)
                if stream_hashers is not None:
                    stream_hashers[i].update(block)
                yield block

        return exact_mix(streams(), self.info.sample_format, self.info.bits)

    def _exact_sum(self, blocks: list[_np.ndarray]) -> _np.ndarray:
        """The exact mix of one segment's decoded streams, for a caller that holds them all anyway
        (the player's prefetch); decoding itself sums stream by stream (:meth:`_exact_mix`)."""
        return exact_mix(blocks, self.info.sample_format, self.info.bits)

    def _scale(self) -> float:
        return float(1 << (self.info.bits - 1)) if self.info.sample_format == "int" else 1.0

    def _cached_decode(self, index: int, i: int) -> _np.ndarray:
        """Stream ``i`` of segment ``index``, decoded (cached: the tile rule looks at neighbours)."""
        cached = self._packet_cache.setdefault(i, {})
        if index not in cached:
            if len(cached) >= _CACHED_SEGMENTS:  # the one farthest away: behind a sequential read, or a seek's
                del cached[max(cached, key=lambda j: abs(j - index))]
            cached[index] = self._decode(self._reader.segments[index], i)
        return cached[index]

    def _stream_span(self, i: int, start: int, stop: int) -> _np.ndarray:
        """Stream ``i`` over frames ``[start, stop)`` (clipped to the file), float64."""
        start, stop = max(start, 0), min(stop, self.frames)
        out = _np.empty((stop - start, self.channels))
        for seg, cut in self.segment_cuts(start, stop):
            at = seg.start_frame + cut.start - start
            out[at:at + cut.stop - cut.start] = self._cached_decode(seg.index, i)[cut]
        return out

    def remix_parts(self, seg, gains: dict[int, float] | None, attribution: str = "tiles") -> dict[int, _np.ndarray]:
        """The gained streams of one segment before they are summed, ``{stream index: float64 signal in
        native units}`` (streams at gain 0 left out; ``gains`` None = all at 1, the residual as is):
        what a spatial renderer places one by one.  Under the tile rule the transform sees one frame
        of context on either side, so segment edges leave no trace."""
        count = len(self._reader.streams)
        if gains is None:
            return {i: self._cached_decode(seg.index, i).astype(_np.float64) for i in range(count)}
        parts: dict[int, _np.ndarray] = {}

        def store(i: int, lo: int, hi: int, values: _np.ndarray) -> None:
            if i not in parts:
                parts[i] = _np.empty((seg.frames, self.channels))
            parts[i][lo:hi] = values

        self._remix(seg, gains, attribution, store)
        return parts

    def _remix(self, seg, gains: dict[int, float], attribution: str, sink) -> None:
        """Hand each gained stream of ``seg`` to ``sink(stream, lo, hi, values)`` in pieces: stems in stream
        order, then the residual (the order spec section 19 sums them in)."""
        if attribution == "global":  # needs only the streams it plays
            for i, g in gains.items():
                if g != 0.0:
                    sink(i, 0, seg.frames, g * self._decode(seg, i).astype(_np.float64))
            return
        res = self._residual_index()
        stem_ids = [i for i in range(len(self._reader.streams)) if i != res]
        # in pieces with a tile frame of context each side: a piece's transforms are the segment's there
        for lo in range(0, seg.frames, _ATTRIBUTION_PIECE):
            self._attribute_piece(seg, lo, min(seg.frames, lo + _ATTRIBUTION_PIECE), gains, stem_ids, res, sink,
                                  ceiling=attribution == "tiles")

    def _attribute_piece(self, seg, lo: int, hi: int, gains, stem_ids, res, sink, *, ceiling: bool) -> None:
        """Frames ``lo:hi`` of ``seg`` under the tile rule, one stream in memory at a time."""
        from .render.attribution import attributed_residual, frame_size

        pad = frame_size(self.samplerate)
        first = seg.start_frame + lo
        left = min(pad, first)
        start, stop = first - left, seg.start_frame + hi + pad
        keep = slice(left, left + hi - lo)

        def stems():  # the attribution reads each stem once, in order: keep its gained part on the way
            for i in stem_ids:
                span = self._stream_span(i, start, stop)
                if gains[i] != 0.0:
                    sink(i, lo, hi, gains[i] * span[keep])
                yield span

        residual = attributed_residual(stems(), self._stream_span(res, start, stop), [gains[i] for i in stem_ids],
                                       gains[res], self.samplerate, ceiling=ceiling)
        sink(res, lo, hi, residual[keep])

    def _segment_output(self, seg, stem: int | None, gains: dict[int, float] | None, dtype: str,
                        attribution: str = "tiles") -> _np.ndarray:
        if stem is not None:
            out = self._decode(seg, stem)
        elif gains is None:
            out = self._exact_mix(seg)
        else:
            out = _np.zeros((seg.frames, self.channels))

            def add(i: int, lo: int, hi: int, values: _np.ndarray) -> None:  # summed as they come: no parts kept
                out[lo:hi] += values

            self._remix(seg, gains, attribution, add)
            out /= self._scale()
            return out.astype(dtype, copy=False)
        if dtype == "native":
            return out
        return (out.astype(_np.float64) / self._scale()).astype(dtype)

    def _plan(self, start: int, frames: int | None, stem, gains, mute, solo, dtype, attribution="tiles"):
        if dtype not in _DTYPES:
            raise InputError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        if attribution not in ATTRIBUTIONS:
            raise InputError(f"attribution must be one of {ATTRIBUTIONS}, got {attribution!r}")
        if not isinstance(start, (int, _np.integer)) or start < 0 or start > self.frames:
            raise InputError(f"start must be a frame position 0..{self.frames}, got {start!r}")
        stop = self.frames if frames is None or frames < 0 else min(self.frames, start + int(frames))
        stem_index = None
        if stem is not None:
            if gains or mute or solo:
                raise InputError("give either stem= or a remix (gains/mute/solo), not both")
            stem_index = self._stream_index(stem)
        mix_gains = self.remix_gains(gains, mute, solo) if stem is None else None
        if mix_gains is not None and dtype == "native":
            raise InputError("a remix is float; dtype='native' is only for the exact mix or one stem")
        return int(start), stop, stem_index, mix_gains, attribution

    def blocks(self, blocksize: int | None = None, *, start: int = 0, frames: int | None = None,
               stem: str | None = None, gains: Mapping[str, float] | None = None, mute=(), solo=(),
               dtype: str = "float64", attribution: str = "tiles") -> Iterator[_np.ndarray]:
        """Yield the selected signal in blocks of ``blocksize`` frames (the last may be shorter).

        Only the packets of the needed streams and segments are read (a remix with the ``tiles``
        attribution reads every stem: the residual follows their power).  Memory stays bounded by
        a few segments plus one block.
        """
        plan = self._plan(start, frames, stem, gains, mute, solo, dtype, attribution)
        blocksize = blocksize or self.info.segment_frames
        if blocksize <= 0:
            raise InputError("blocksize must be positive")
        return self._blocks(blocksize, *plan, dtype)

    def segment_cuts(self, start: int, stop: int) -> Iterator[tuple]:
        """``(segment, slice of it)`` covering frames ``[start, stop)`` in order."""
        seg_frames = self.info.segment_frames
        pos = start
        while pos < stop:
            seg = self._reader.segments[pos // seg_frames]
            end = min(stop, seg.start_frame + seg.frames)
            yield seg, slice(pos - seg.start_frame, end - seg.start_frame)
            pos = end

    def _blocks(self, blocksize, start, stop, stem_index, mix_gains, attribution, dtype) -> Iterator[_np.ndarray]:
        pieces = (self._segment_output(seg, stem_index, mix_gains, dtype, attribution)[cut]
                  for seg, cut in self.segment_cuts(start, stop))
        return rechunk(pieces, blocksize)

    def read(self, frames: int | None = None, *, start: int = 0, stem: str | None = None,
             gains: Mapping[str, float] | None = None, mute=(), solo=(), dtype: str = "float64",
             attribution: str = "tiles") -> _np.ndarray:
        """Read ``frames`` frames (all by default) from ``start``: the mix, one ``stem``, or a remix.

        ``dtype``: ``"float64"``/``"float32"`` scaled to [-1, 1), or ``"native"`` -- the exact stored
        samples (int32 holding the file's integer values, or floats for float files).
        ``attribution``: how the residual follows a remix (spec section 19): ``"tiles"`` (per
        time-frequency tile by the stems' power there, at most the global gain; default),
        ``"share"`` (the tile share alone) or ``"global"`` (one gain, by the stems' mean square
        over the file).
        """
        plan = self._plan(start, frames, stem, gains, mute, solo, dtype, attribution)
        first, stop = plan[0], plan[1]
        parts = list(self._blocks(max(stop - first, 1), *plan, dtype))
        if not parts:
            native = _NATIVE[self.info.sample_format]
            return _np.zeros((0, self.channels), dtype=native if dtype == "native" else dtype)
        return parts[0]

    # ------------------------------------------------------------------ rendering
    def render(self, **kwargs) -> _np.ndarray:
        """A render for a listener: ``profile`` (name or :class:`snc.render.profiles.Profile`) or
        ``context`` (``{"ambient_db": 70, "device": "phone"}``), ``target_lufs``, plus any remix
        (``gains``, ``mute``, ``solo``), ``start``/``frames``.  See :mod:`snc.render.renderer`."""
        from .render.renderer import render

        return render(self, **kwargs)

    def render_blocks(self, blocksize: int = 65536, **kwargs) -> Iterator[_np.ndarray]:
        """:meth:`render` as a stream of blocks (memory bounded by a few segments)."""
        from .render.renderer import render_blocks

        return render_blocks(self, blocksize=blocksize, **kwargs)

    def player(self, blocksize: int = 4096, **kwargs):
        """A :class:`snc.render.player.Player`: blocks of a render whose settings can change while it
        plays (``player.set(profile="karaoke")``), ramped without clicks, with sample-exact seek."""
        from .render.player import Player

        return Player(self, blocksize=blocksize, **kwargs)

    @property
    def profiles(self) -> list[str]:
        """Profile names this file offers: its authored ones, then the built-ins."""
        from .render.profiles import BUILTIN
        from .render.renderer import authored_profiles

        return [*authored_profiles(self), *BUILTIN]

    # ------------------------------------------------------------------ verification
    def verify(self) -> dict:
        """Decode everything and check the stored hashes.

        Returns ``{"mix": bool, "streams": {name: bool}}``; raises ChecksumError
        when the file has no hashes or a packet CRC fails.
        """
        r = self._reader
        if r.mix_hash is None:
            raise ChecksumError("file has no HASH chunk to verify against")
        mix_h = SignalHasher(self.info.sample_format)
        stream_h = [SignalHasher(self._codec(i).format) for i in range(len(r.streams))]
        for seg in r.segments:
            mix_h.update(self._exact_mix(seg, stream_h))
        return {
            "mix": mix_h.digest() == r.mix_hash,
            "streams": {st.name: h.digest() == want for st, h, want in zip(r.streams, stream_h, r.stream_hashes)},
        }

    def describe(self) -> dict:
        """Everything ``snc-info --json`` prints."""
        streams = self.streams
        return {
            "format_version": "%d.%d" % self._reader.version,
            "sample_rate": self.samplerate,
            "frames": self.frames,
            "duration_s": round(self.duration, 6),
            "channels": self.channels,
            "sample_format": self.info.sample_format,
            "bits": self.info.bits,
            "preset": self.preset,
            "segment_frames": self.info.segment_frames,
            "file_bytes": self.file_size,
            "streams": [dict(s.describe(), share=round(s.bytes / self.file_size, 4) if self.file_size else 0.0)
                        for s in streams],
            "tags": self.tags,
            "profiles": self.metadata.get("profiles", {}),
            "lead": self.lead,
            "pictures": [dict(type=p["picture_type"], mime=p["mime"], description=p["description"],
                              bytes=len(p["data"])) for p in self.pictures],
            "unknown_chunks": [t.decode("latin-1") for t, _, _ in self._reader.unknown_chunks],
        }

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
        return (f"<SncFile {self.preset} {self.samplerate} Hz {self.channels} ch {self.frames} frames, "
                f"stems {self.stems}>")


def open(source, *, strict: bool = False) -> SncFile:  # noqa: A001 - mirrors soundfile/builtins naming on purpose
    """Open a ``.snc`` file (path, PathLike or seekable binary file object).  ``strict``: raise on a
    damaged packet instead of concealing it (see :class:`SncFile`)."""
    return SncFile(source, strict=strict)
