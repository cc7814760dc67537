"""Byte-level reader: header chunks, seek index, segment headers and single packets.

The reader never reads more than it needs: opening a file reads the header
chunks and the tail (seek index, hashes); a packet is read only when asked for.
Every length is checked against the enclosing chunk, the file size and the
limits of ``schema`` before anything is allocated (spec section "Security
Considerations").
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import construct

from ..errors import ChecksumError, FormatError, InputError, TruncatedError, UnsupportedError
from . import schema as _s
from .model import RESIDUAL_ROLE, FileInfo, StreamInfo


@dataclass
class SegmentEntry:
    """A segment as seen by the reader: where its chunk is and where its packets are."""

    index: int
    start_frame: int
    frames: int
    offset: int  # file offset of the chunk header
    packet_offsets: list[int] | None = None  # absolute file offset of each stream's packet
    packet_sizes: list[int] | None = None
    packet_crcs: list[int] | None = None


def _parse(schema, data: bytes, what: str):
    try:
        return schema.parse(data)
    except construct.ChecksumError:
        raise ChecksumError(f"{what}: CRC mismatch") from None
    except FormatError:
        raise
    except (construct.ConstructError, UnicodeDecodeError, ValueError, OverflowError, RecursionError) as exc:
        raise FormatError(f"{what}: malformed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None


class ContainerReader:
    """Parse the structure of one ``.snc`` file from a readable, seekable binary file."""

    def __init__(self, fh):
        self._fh = fh
        try:
            fh.seek(0, io.SEEK_END)
            self.file_size = fh.tell()
            fh.seek(0)
        except (OSError, AttributeError, io.UnsupportedOperation):
            raise InputError("SNC input must be a seekable binary file") from None
        self.unknown_chunks: list[tuple[bytes, int, int]] = []  # (type, offset, length) kept, not dropped
        self.meta: dict = {}
        self.pictures: list[dict] = []
        self._read_file_header()
        self.info, self.streams, first_segment = self._read_header_chunks()
        self.segments, self.mix_hash, self.stream_hashes = self._read_index(first_segment)

    # ------------------------------------------------------------------ low level
    def _read_at(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.file_size:
            raise TruncatedError(f"{what}: file ends at byte {self.file_size}, needs {offset + size}")
        self._fh.seek(offset)
        data = self._fh.read(size)
        if len(data) != size:
            raise TruncatedError(f"{what}: short read at byte {offset}")
        return data

    def _chunk_header(self, offset: int) -> tuple[bytes, int]:
        head = _parse(_s.ChunkHeader, self._read_at(offset, _s.CHUNK_HEADER_SIZE, "chunk header"), "chunk header")
        if head.length > _s.MAX_CHUNK_LENGTH:
            raise FormatError(f"chunk {head.type!r} at byte {offset} claims {head.length} bytes (limit {_s.MAX_CHUNK_LENGTH})")
        end = offset + _s.CHUNK_HEADER_SIZE + head.length + _s.CHUNK_CRC_SIZE
        if end > self.file_size:
            raise TruncatedError(f"chunk {head.type!r} at byte {offset} runs past the end of the file")
        return bytes(head.type), head.length

    def _chunk_body(self, offset: int, expected: bytes | None = None) -> tuple[bytes, bytes]:
        """Read a whole chunk, check its CRC, return (type, body)."""
        ctype, length = self._chunk_header(offset)
        if expected is not None and ctype != expected:
            raise FormatError(f"expected a {expected.decode()} chunk at byte {offset}, found {ctype!r}")
        raw = self._read_at(offset, _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE, f"{ctype!r} chunk")
        chunk = _parse(_s.Chunk, raw, f"{ctype.decode('latin-1')} chunk at byte {offset}")
        return ctype, bytes(chunk.raw.value.body)

    # ------------------------------------------------------------------ header
    def _read_file_header(self) -> None:
        size = _s.FileHeader.sizeof()
        if self.file_size < size:
            raise FormatError("not an SNC file (too short for the file header)")
        data = self._read_at(0, size, "file header")
        if data[:8] != _s.MAGIC:
            raise FormatError("not an SNC file (bad magic bytes)")
        head = _parse(_s.FileHeader, data, "file header")
        if head.version_major != _s.FORMAT_VERSION[0]:
            raise UnsupportedError(f"SNC format version {head.version_major}.{head.version_minor} is not supported "
                                   f"(this reader knows {_s.FORMAT_VERSION[0]}.x)")
        self.version = (head.version_major, head.version_minor)

    def _read_header_chunks(self):
        offset = _s.FileHeader.sizeof()
        ctype, body = self._chunk_body(offset, b"INFO")
        info = FileInfo.from_container(_parse(_s.InfoBody, body, "INFO chunk"))
        offset += _s.CHUNK_HEADER_SIZE + len(body) + _s.CHUNK_CRC_SIZE
        streams: list[StreamInfo] = []
        while True:
            if offset >= self.file_size:
                raise TruncatedError("file ends inside the header chunks")
            ctype, length = self._chunk_header(offset)
            if ctype in (b"SEGM", b"SIDX", b"HASH", b"TAIL"):
                break
            if ctype == b"STRM":
                if len(streams) == info.stream_count:
                    raise FormatError(f"more STRM chunks than the {info.stream_count} streams INFO announces")
                if length > _s.MAX_META_JSON:
                    raise FormatError(f"STRM chunk of {length} bytes exceeds the {_s.MAX_META_JSON}-byte limit")
                _, body = self._chunk_body(offset)
                streams.append(StreamInfo.from_container(_parse(_s.StreamBody, body, f"STRM chunk {len(streams)}")))
            elif ctype == b"META":
                _, body = self._chunk_body(offset)
                self.meta = _clean_meta(_parse(_s.MetaBody, body, "META chunk").meta)
            elif ctype == b"PICT":
                if length > _s.MAX_PICTURE:
                    raise FormatError(f"PICT chunk of {length} bytes exceeds the {_s.MAX_PICTURE}-byte limit")
                _, body = self._chunk_body(offset)
                pic = _parse(_s.PictureBody, body, "PICT chunk")
                self.pictures.append(dict(picture_type=pic.picture_type, mime=pic.mime,
                                          description=pic.description, data=bytes(pic.data)))
            elif ctype == b"INFO":
                raise FormatError("second INFO chunk")
            else:
                self.unknown_chunks.append((ctype, offset, length))  # skipped, as the spec requires
            offset += _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE
        self._check_streams(info, streams)
        return info, streams, offset

    @staticmethod
    def _check_streams(info: FileInfo, streams: list[StreamInfo]) -> None:
        if len(streams) != info.stream_count:
            raise FormatError(f"INFO announces {info.stream_count} streams, {len(streams)} STRM chunks found")
        names = set()
        for i, st in enumerate(streams):
            if st.index != i:
                raise FormatError(f"STRM chunk {i} carries index {st.index}")
            if st.channels != info.channels:
                raise FormatError(f"stream {st.name!r} has {st.channels} channels, the file {info.channels}")
            if not st.name or st.name in names:
                raise FormatError(f"stream name {st.name!r} is empty or repeated")
            names.add(st.name)
        residuals = [s for s in streams if s.role == RESIDUAL_ROLE]
        if len(residuals) != 1:
            raise FormatError(f"a file has exactly one residual stream, found {len(residuals)}")

    # ------------------------------------------------------------------ index
    def _read_index(self, first_segment: int):
        tail = self._read_tail()
        if tail is not None:
            try:
                return self._index_from_tail(tail)
            except FormatError:
                pass  # damaged index: rebuild it by scanning the segments
        return self._scan(first_segment)

    def _read_tail(self):
        offset = self.file_size - _s.TAIL_CHUNK_SIZE
        if offset < _s.FileHeader.sizeof():
            return None
        try:
            ctype, body = self._chunk_body(offset, b"TAIL")
            return _parse(_s.TailBody, body, "TAIL chunk")
        except FormatError:
            return None

    def _index_from_tail(self, tail):
        _, body = self._chunk_body(tail.seek_index_offset, b"SIDX")
        count = int.from_bytes(body[:4], "little") if len(body) >= 4 else -1
        if count != self.info.segment_count or len(body) != 4 + 16 * count:
            raise FormatError(f"seek index has {count} entries, the file needs {self.info.segment_count}")
        sidx = _parse(_s.SeekIndexBody, body, "SIDX chunk")
        segments = []
        for i, e in enumerate(sidx.entries):
            start = i * self.info.segment_frames
            if e.start_frame != start or not (0 < e.offset < tail.seek_index_offset):
                raise FormatError(f"seek index entry {i} is inconsistent")
            segments.append(SegmentEntry(i, start, min(self.info.segment_frames, self.info.frames - start), e.offset))
        mix_hash, stream_hashes = self._read_hashes(tail.hash_offset)
        return segments, mix_hash, stream_hashes

    def _read_hashes(self, offset: int):
        """(mix digest, stream digests), or (None, None) when the HASH chunk is unusable.

        A damaged HASH chunk does not stop decoding; it only means the file
        cannot be verified (spec section "HASH chunk").
        """
        try:
            _, body = self._chunk_body(offset, b"HASH")
            h = _parse(_s.HashBody, body, "HASH chunk")
        except FormatError:
            return None, None
        if h.stream_count != len(self.streams):
            raise FormatError("HASH chunk does not list one hash per stream")
        if str(h.algorithm) != "sha256":
            return None, None  # an algorithm this version does not know: no hashes
        return bytes(h.mix), [bytes(x) for x in h.streams]

    def _scan(self, offset: int):
        """Rebuild the segment list by walking the chunks (when the tail or index is damaged)."""
        segments: list[SegmentEntry] = []
        mix_hash, stream_hashes = None, None
        needed = self.info.segment_count
        while offset < self.file_size:
            ctype, length = self._chunk_header(offset)
            if ctype == b"SEGM":
                start = len(segments) * self.info.segment_frames
                seg = SegmentEntry(len(segments), start, min(self.info.segment_frames, self.info.frames - start), offset)
                self._load_segment_header(seg)
                segments.append(seg)
            elif ctype == b"HASH":
                mix_hash, stream_hashes = self._read_hashes(offset)
            offset += _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE
        if len(segments) != needed:
            raise TruncatedError(f"file holds {len(segments)} of its {needed} segments (truncated or damaged)")
        return segments, mix_hash, stream_hashes

    # ------------------------------------------------------------------ segments
    def _load_segment_header(self, seg: SegmentEntry) -> None:
        if seg.packet_offsets is not None:
            return
        ctype, length = self._chunk_header(seg.offset)
        if ctype != b"SEGM":
            raise FormatError(f"segment {seg.index}: expected a SEGM chunk at byte {seg.offset}, found {ctype!r}")
        n = len(self.streams)
        head_size = _s.SEGMENT_FIXED_SIZE + n * _s.PACKET_ENTRY_SIZE + 4
        if length < head_size:
            raise FormatError(f"segment {seg.index}: chunk too short for its packet table")
        body_start = seg.offset + _s.CHUNK_HEADER_SIZE
        raw = self._read_at(body_start, head_size, f"segment {seg.index} header")
        if int.from_bytes(raw[_s.SEGMENT_FIXED_SIZE - 2:_s.SEGMENT_FIXED_SIZE], "little") != n:
            raise FormatError(f"segment {seg.index}: packet count differs from the stream count")
        head = _parse(_s.SegmentHeader, raw, f"segment {seg.index} header").fields.value
        if head.index != seg.index or head.start_frame != seg.start_frame or head.frames != seg.frames:
            raise FormatError(f"segment {seg.index}: header disagrees with the seek index")
        if [p.stream for p in head.packets] != list(range(n)):
            raise FormatError(f"segment {seg.index}: packets are not in stream order")
        sizes = [p.size for p in head.packets]
        if head_size + sum(sizes) != length:
            raise FormatError(f"segment {seg.index}: packet sizes do not add up to the chunk length")
        offsets, pos = [], body_start + head_size
        for size in sizes:
            offsets.append(pos)
            pos += size
        seg.packet_offsets, seg.packet_sizes = offsets, sizes
        seg.packet_crcs = [p.crc for p in head.packets]

    def read_packet(self, seg: SegmentEntry, stream: int) -> bytes:
        """Read (only) the packet of ``stream`` in ``seg`` and check its CRC."""
        self._load_segment_header(seg)
        data = self._read_at(seg.packet_offsets[stream], seg.packet_sizes[stream],
                             f"segment {seg.index} packet {stream}")
        if _s.crc32(data) != seg.packet_crcs[stream]:
            raise ChecksumError(f"CRC mismatch in segment {seg.index} (frames {seg.start_frame}.."
                                f"{seg.start_frame + seg.frames}), stream {self.streams[stream].name!r}")
        return data

    def stream_bytes(self) -> list[int]:
        """Bytes of each stream's packets over the whole file (reads every segment header)."""
        totals = [0] * len(self.streams)
        for seg in self.segments:
            self._load_segment_header(seg)
            for i, size in enumerate(seg.packet_sizes):
                totals[i] += size
        return totals


def _clean_meta(meta: dict) -> dict:
    """Drop META keys of the wrong type instead of failing (spec section "META chunk")."""
    meta = dict(meta)
    for key in ("tags", "profiles"):
        if key in meta and not isinstance(meta[key], dict):
            del meta[key]
    if "tags" in meta:
        meta["tags"] = {k: v for k, v in meta["tags"].items() if isinstance(v, str)}
    return meta


def open_binary(source):
    """Return ``(file object, owned)`` for a path, PathLike or binary file object."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(source, "rb"), True
        except FileNotFoundError:
            raise InputError(f"no such file: {os.fspath(source)}") from None
        except IsADirectoryError:
            raise InputError(f"is a directory, not a file: {os.fspath(source)}") from None
        except PermissionError:
            raise InputError(f"permission denied: {os.fspath(source)}") from None
    if not hasattr(source, "read"):
        raise InputError(f"expected a path or a binary file object, got {type(source).__name__}")
    return source, False
