"""Byte-level reader: header chunks, seek index, segment headers and single packets.

The reader never reads more than it needs: opening a file reads the header
chunks and the tail (seek index, hashes); a packet is read only when asked for.
Every length is checked against the enclosing chunk, the file size and the
limits of ``schema`` before anything is allocated (spec section "Security
Considerations").
"""

from __future__ import annotations

import array
import io
import os
import zlib

import construct
import numpy as np

from ..errors import ChecksumError, FormatError, InputError, TruncatedError, UnsupportedError
from . import schema as _s
from .model import MASTER_ROLE, RESIDUAL_ROLE, FileInfo, StreamInfo
from .segments import SegmentEntry, SegmentIndex

MAX_CODEC_ID = 32
#: the fallback scan remembers every this many segments' offsets and walks from there
_SCAN_STRIDE = 64
#: pieces in which the seek index is checked (never held whole)
_SIDX_PIECE = 1 << 20


def _parse(schema, data: bytes, what: str):
    try:
        return schema.parse(data)
    except construct.ChecksumError:
        raise ChecksumError(f"{what}: CRC mismatch") from None
    except FormatError as exc:  # from an adapter (JSON, zstd): name the chunk too
        raise type(exc)(f"{what}: {exc}") from None
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
        # (type, offset, length) of skipped chunks, the first MAX_UNKNOWN_CHUNKS_LISTED of them
        self.unknown_chunks: list[tuple[bytes, int, int]] = []
        self.unknown_chunk_count = 0
        self.meta: dict = {}
        self._picture_offsets: list[int] = []
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
            raise FormatError(f"chunk {head.type!r} at byte {offset} claims {head.length} bytes "
                              f"(limit {_s.MAX_CHUNK_LENGTH})")
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
                if length > _s.MAX_STREAM_CHUNK:
                    raise FormatError(f"STRM chunk of {length} bytes exceeds the {_s.MAX_STREAM_CHUNK}-byte limit")
                _, body = self._chunk_body(offset)
                streams.append(StreamInfo.from_container(_parse(_s.StreamBody, body, f"STRM chunk {len(streams)}")))
            elif ctype == b"META":
                _, body = self._chunk_body(offset)
                self.meta = _clean_meta(_parse(_s.MetaBody, body, "META chunk").meta)
            elif ctype == b"PICT":
                if length > _s.MAX_PICTURE:
                    raise FormatError(f"PICT chunk of {length} bytes exceeds the {_s.MAX_PICTURE}-byte limit")
                self._picture(offset)  # checked now, read again only when asked for
                self._picture_offsets.append(offset)
            elif ctype == b"INFO":
                raise FormatError("second INFO chunk")
            else:  # skipped, as the spec requires; only a bounded list of them is kept
                self.unknown_chunk_count += 1
                if len(self.unknown_chunks) < _s.MAX_UNKNOWN_CHUNKS_LISTED:
                    self.unknown_chunks.append((ctype, offset, length))
            offset += _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE
        self._check_streams(info, streams)
        return info, streams, offset

    def _picture(self, offset: int) -> dict:
        _, body = self._chunk_body(offset)
        pic = _parse(_s.PictureBody, body, "PICT chunk")
        return dict(picture_type=pic.picture_type, mime=pic.mime, description=pic.description, data=bytes(pic.data))

    @property
    def pictures(self) -> list[dict]:
        """The PICT chunks, read from the file on each access (pictures are not kept in memory)."""
        return [self._picture(offset) for offset in self._picture_offsets]

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
            if not 1 <= len(st.codec_id) <= MAX_CODEC_ID:
                raise FormatError(f"stream {st.name!r}: codec_id of {len(st.codec_id)} characters (1..{MAX_CODEC_ID})")
            names.add(st.name)
        residuals = [s for s in streams if s.role == RESIDUAL_ROLE]
        if len(residuals) != 1:
            raise FormatError(f"a file has exactly one residual stream, found {len(residuals)}")
        masters = [s.index for s in streams if s.role == MASTER_ROLE]
        if masters and (len(masters) > 1 or masters[0] != len(streams) - 1 or info.sample_format != "int"
                        or len(streams) < 3):
            raise FormatError("a master stream must be the only one, the last stream, in an integer file with stems")

    # ------------------------------------------------------------------ index
    def _check_size_for_segments(self, first_segment: int) -> None:
        """A file too small to hold the segments INFO announces is refused before any index is read."""
        count = self.info.segment_count
        if count > _s.MAX_SEGMENTS:
            raise FormatError(f"INFO chunk: {count} segments exceed the limit of {_s.MAX_SEGMENTS}")
        need = count * _s.min_segment_chunk_bytes(self.info.stream_count)
        if need > self.file_size - first_segment:
            raise TruncatedError(f"INFO announces {count} segments: they need at least {need} bytes, the file "
                                 f"has {max(self.file_size - first_segment, 0)} after its header")

    def _read_index(self, first_segment: int):
        self._check_size_for_segments(first_segment)
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
        """Check the seek index piece by piece (CRC, start frames, increasing offsets) without holding it;
        its entries are read again, 16 bytes each, when a segment is used."""
        sidx = tail.seek_index_offset
        ctype, length = self._chunk_header(sidx)
        count = self.info.segment_count
        if ctype != b"SIDX" or length != 4 + 16 * count:
            raise FormatError(f"seek index of {length} bytes, the file needs {4 + 16 * count}")
        head = self._read_at(sidx, _s.CHUNK_HEADER_SIZE + 4, "SIDX chunk")
        if int.from_bytes(head[-4:], "little") != count:
            raise FormatError(f"seek index count differs from the {count} segments")
        crc = zlib.crc32(head)
        entries = sidx + len(head)
        previous = 0
        for done in range(0, 16 * count, _SIDX_PIECE):
            data = self._read_at(entries + done, min(_SIDX_PIECE, 16 * count - done), "SIDX chunk")
            crc = zlib.crc32(data, crc)
            table = np.frombuffer(data, "<u8").reshape(-1, 2)
            first = done // 16
            starts = np.arange(first, first + len(table), dtype=np.uint64) * np.uint64(self.info.segment_frames)
            offsets = table[:, 1]
            if not np.array_equal(table[:, 0], starts) or int(offsets.max()) >= sidx:
                raise FormatError(f"seek index entries {first}..{first + len(table) - 1} are inconsistent")
            offsets = offsets.astype(np.int64)
            if int(offsets[0]) <= previous or np.any(np.diff(offsets) <= 0):
                raise FormatError(f"seek index offsets {first}..{first + len(table) - 1} do not increase")
            previous = int(offsets[-1])
        stored = int.from_bytes(self._read_at(entries + 16 * count, _s.CHUNK_CRC_SIZE, "SIDX chunk"), "little")
        if crc & 0xFFFFFFFF != stored:
            raise ChecksumError(f"SIDX chunk at byte {sidx}: CRC mismatch")

        def locate(i: int) -> int:
            return int.from_bytes(self._read_at(entries + 16 * i + 8, 8, "SIDX entry"), "little")

        mix_hash, stream_hashes = self._read_hashes(tail.hash_offset)
        return SegmentIndex(self, count, locate), mix_hash, stream_hashes

    def _read_hashes(self, offset: int):
        """(mix digest, stream digests), or (None, None) when the HASH chunk is unusable.

        A damaged HASH chunk does not stop decoding; it only means the file
        cannot be verified (spec section "HASH chunk").
        """
        try:
            _, length = self._chunk_header(offset)
            if length != 35 + 32 * len(self.streams):
                raise FormatError("HASH chunk does not list one hash per stream")
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
        """Rebuild the segment list by walking the chunks (when the tail or index is damaged).

        Only every ``_SCAN_STRIDE``-th segment's offset is kept; the others are found again by
        walking from there, so a damaged index costs memory proportional to S / 64, not S."""
        checkpoints = array.array("Q")
        found = 0
        mix_hash, stream_hashes = None, None
        needed = self.info.segment_count
        while offset < self.file_size:
            ctype, length = self._chunk_header(offset)
            if ctype == b"SEGM":
                if found >= needed:
                    raise FormatError(f"file holds more than its {needed} segments")
                start = found * self.info.segment_frames
                self._load_segment_header(SegmentEntry(found, start, min(self.info.segment_frames,
                                                                         self.info.frames - start), offset))
                if found % _SCAN_STRIDE == 0:
                    checkpoints.append(offset)
                found += 1
            elif ctype == b"HASH":
                mix_hash, stream_hashes = self._read_hashes(offset)
            offset += _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE
        if found != needed:
            raise TruncatedError(f"file holds {found} of its {needed} segments (truncated or damaged)")

        def locate(i: int) -> int:
            index, position = i - i % _SCAN_STRIDE, checkpoints[i // _SCAN_STRIDE]
            while True:
                ctype, length = self._chunk_header(position)
                if ctype == b"SEGM":
                    if index == i:
                        return position
                    index += 1
                position += _s.CHUNK_HEADER_SIZE + length + _s.CHUNK_CRC_SIZE

        return SegmentIndex(self, needed, locate), mix_hash, stream_hashes

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
        """Read (only) the packet of ``stream`` in ``seg`` and check its size bound and CRC."""
        self._load_segment_header(seg)
        limit = _s.max_packet_bytes(seg.frames, self.info.channels)
        if seg.packet_sizes[stream] > limit:
            raise FormatError(f"segment {seg.index} (frames {seg.start_frame}..{seg.start_frame + seg.frames}), "
                              f"stream {self.streams[stream].name!r}: packet of {seg.packet_sizes[stream]} bytes "
                              f"exceeds the {limit} bytes its frames allow")
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
