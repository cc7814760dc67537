"""Packets to signal: each stream's codec, one packet decoded at a time, damaged packets concealed.

A damaged packet (CRC mismatch, a packet that does not decode) is by default replaced by silence for
that stream and that segment, with one :class:`~snc.errors.SncWarning` per packet naming the stream and
the frames; ``strict`` raises the error instead.  A codec the file names wrongly is not damage: always
an error.  :meth:`PacketDecoder.cached` keeps the last two decoded packets of each stream for readers
that look behind and ahead of the segment they are in (the tile rule of a remix).
"""

from __future__ import annotations

import warnings

import numpy as _np

from ..codecs import get_codec
from ..container.reader import ContainerReader
from ..errors import CodecError, FormatError, SncError, SncWarning

#: the dtype a codec of each sample format decodes to
NATIVE = {"int": _np.int32, "float32": _np.float32, "float64": _np.float64}
#: decoded packets kept per stream: a reader that goes stream by stream and copies each packet's part
#: before it asks for the next needs two for sequential reads to decode every packet once (when a
#: segment is at least as long as what it looks behind and ahead)
CACHED_SEGMENTS = 2


class PacketDecoder:
    """Decodes the packets of one open container, one stream of one segment at a time."""

    def __init__(self, reader: ContainerReader):
        self.reader = reader
        self._codecs: dict[int, object] = {}
        self._damaged: dict[tuple[int, int], dict] = {}
        self._cache: dict[int, dict[int, _np.ndarray]] = {}  # stream -> segment -> decoded block

    @property
    def damaged(self) -> list[dict]:
        """The damaged packets concealed so far, in the order met."""
        return [dict(d) for d in self._damaged.values()]

    def codec(self, i: int):
        """The codec of stream ``i``, checked against the file's sample format and channels."""
        if i not in self._codecs:
            info = self.reader.info
            st = self.reader.streams[i]
            codec = get_codec(st.codec_id, st.codec_config)
            integer_file = info.sample_format == "int"
            if codec.channels != st.channels or (codec.format == "int") != integer_file:
                raise FormatError(f"stream {st.name!r}: codec config ({codec.format}, {codec.channels} ch) does "
                                  f"not fit the file ({info.sample_format}, {info.channels} ch)")
            self._codecs[i] = codec
        return self._codecs[i]

    def decode(self, seg, i: int, *, strict: bool) -> _np.ndarray:
        """Stream ``i`` of segment ``seg`` in its codec's native dtype; with ``strict`` damage raises."""
        codec = self.codec(i)  # a codec the file names wrongly is not damage: always an error
        try:
            return self._decode_packet(codec, seg, i)
        except (FormatError, CodecError) as exc:
            if strict:
                raise
            return self._conceal(codec, seg, i, exc)

    def cached(self, seg, i: int, *, strict: bool) -> _np.ndarray:
        """:meth:`decode`, keeping the last :data:`CACHED_SEGMENTS` packets of each stream.  A block concealed by
        a lenient read is not what a ``strict`` one may return: that decodes again (and raises)."""
        cached = self._cache.setdefault(i, {})
        if strict and (i, seg.index) in self._damaged:
            return self.decode(seg, i, strict=True)
        if seg.index not in cached:
            if len(cached) >= CACHED_SEGMENTS:  # the one farthest away: behind a sequential read, or a seek's
                del cached[max(cached, key=lambda j: abs(j - seg.index))]
            cached[seg.index] = self.decode(seg, i, strict=strict)
        return cached[seg.index]

    def _decode_packet(self, codec, seg, i: int) -> _np.ndarray:
        data = self.reader.read_packet(seg, i)
        try:
            block = codec.decode(data, seg.frames)
        except SncError:
            raise
        except Exception as exc:  # a codec bug must still surface as one clear error
            raise CodecError(f"stream {self.reader.streams[i].name!r}, segment {seg.index}: {exc}") from None
        if block.shape != (seg.frames, self.reader.info.channels):
            raise CodecError(f"stream {self.reader.streams[i].name!r} decoded to shape {block.shape}")
        return block

    def _conceal(self, codec, seg, i: int, exc: Exception) -> _np.ndarray:
        """The codec's concealment in place of a damaged packet (silence; unity for a master's gain), reported
        once per packet."""
        name = self.reader.streams[i].name
        if (i, seg.index) not in self._damaged:
            self._damaged[(i, seg.index)] = dict(stream=name, segment=seg.index, start=seg.start_frame,
                                                 frames=seg.frames, error=str(exc))
            warnings.warn(f"damaged packet concealed: stream {name!r}, frames {seg.start_frame}.."
                          f"{seg.start_frame + seg.frames} (segment {seg.index}) are silent ({exc})",
                          SncWarning, stacklevel=4)
        return codec.concealment(seg.frames)
