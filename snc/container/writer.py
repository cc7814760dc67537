"""Streaming writer: header chunks, then segments one by one, then index, hashes, tail.

Memory stays bounded by one segment.  A path is written through a temporary
file in the same directory and renamed into place only by :meth:`SncWriter.close`,
so a failure never leaves a half-written ``.snc`` behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import FormatError, InputError
from ..fileutil import discard, publish, temp_beside
from . import schema as _s
from .model import FileInfo, StreamInfo


def _check_info(info: FileInfo) -> None:
    """Refuse to write what a reader would refuse (spec section "Limits"), before any byte is written."""
    if info.segment_samples > _s.MAX_SEGMENT_SAMPLES or info.channels * info.segment_frames > _s.MAX_PACKET_SAMPLES:
        per_segment = min(_s.MAX_SEGMENT_SAMPLES // (info.stream_count * info.channels),
                          _s.MAX_PACKET_SAMPLES // info.channels)
        raise InputError(f"{info.stream_count} streams x {info.channels} channels x {info.segment_frames} frames "
                         f"per segment exceed the format's {_s.MAX_SEGMENT_SAMPLES} samples per segment or "
                         f"{_s.MAX_PACKET_SAMPLES} per packet; use segment_frames <= {per_segment}")
    try:
        info.validate()
    except FormatError as exc:
        raise InputError(f"cannot write this file: {exc}") from None


class SncWriter:
    """Write one ``.snc`` file.

    Use as a context manager; leaving the block with an exception discards the
    output.  ``frames`` in ``info`` may be 0 when unknown: the INFO chunk is
    patched on close (the output must then be seekable, which temp files are).
    """

    def __init__(self, target, info: FileInfo, streams: list[StreamInfo], *,
                 meta: dict | None = None, pictures: list[dict] | None = None):
        if len(streams) != info.stream_count:
            raise InputError("stream count does not match the stream table")
        _check_info(info)
        for stream in streams:
            if len(stream.to_body()) > _s.MAX_STREAM_CHUNK:
                raise InputError(f"stream {stream.name!r}: its STRM chunk exceeds {_s.MAX_STREAM_CHUNK} bytes "
                                 f"(codec config and provenance must be small)")
        self.info = info
        self.streams = streams
        self._final_path: Path | None = None
        self._tmp_path: Path | None = None
        if isinstance(target, (str, os.PathLike)):
            self._final_path = Path(target)
            directory = self._final_path.parent
            if not directory.is_dir():
                raise InputError(f"output directory does not exist: {directory}")
            fd, tmp = temp_beside(self._final_path)
            self._tmp_path = Path(tmp)
            self._fh = os.fdopen(fd, "wb+")
            self._owns = True
        else:
            self._fh = target
            self._owns = False
        self._start = self._fh.tell()
        self._seek_entries: list[dict] = []
        self._frames_written = 0
        self._closed = False
        try:  # no context manager holds the temporary file yet
            self._write_header(info, streams, meta, pictures)
        except BaseException:
            self.abort()
            raise

    def _write_header(self, info, streams, meta, pictures) -> None:
        minor = 0
        if any(st.is_master for st in streams):
            minor = _s.MASTER_MINOR_VERSION
        if any(st.may_range_code for st in streams):
            minor = _s.RANGE_CODED_MINOR_VERSION
        if any(st.is_master and "eq" in st.codec_config for st in streams):
            minor = _s.MASTER_EQ_MINOR_VERSION
        if any(st.is_master and "compressor" in st.codec_config for st in streams):
            minor = _s.MASTER_COMPRESSOR_MINOR_VERSION
        self._fh.write(_s.FileHeader.build(dict(version_major=_s.FORMAT_VERSION[0], version_minor=minor)))
        self._info_offset = self._fh.tell()
        self._write_chunk(b"INFO", info.to_body())
        self._stream_offsets = [self._write_chunk(b"STRM", stream.to_body()) for stream in streams]
        if meta:
            self._write_chunk(b"META", _s.MetaBody.build({"meta": meta}))
        for pic in pictures or ():
            self._write_chunk(b"PICT", _s.PictureBody.build(pic))

    # ------------------------------------------------------------------
    def _write_chunk(self, chunk_type: bytes, body: bytes) -> int:
        offset = self._fh.tell() - self._start
        self._fh.write(_s.build_chunk(chunk_type, body))
        return offset

    def _rewrite_chunk(self, offset: int, chunk_type: bytes, body: bytes) -> None:
        chunk = _s.build_chunk(chunk_type, body)
        self._fh.seek(self._start + offset)
        old = _s.ChunkHeader.parse(self._fh.read(_s.CHUNK_HEADER_SIZE))
        if old.type != chunk_type or old.length != len(body):
            raise FormatError(f"cannot patch {chunk_type!r} chunk: its size changed")
        self._fh.seek(self._start + offset)
        self._fh.write(chunk)

    def write_segment(self, frames: int, packets: list[bytes]) -> None:
        """Append one segment: ``packets[i]`` is the packet of stream ``i``."""
        if self._closed:
            raise FormatError("writer is closed")
        if len(packets) != len(self.streams):
            raise InputError("one packet per stream is required")
        if not 0 < frames <= self.info.segment_frames:
            raise InputError(f"segment of {frames} frames (limit {self.info.segment_frames})")
        if self._frames_written % self.info.segment_frames:
            raise InputError("only the last segment may be shorter than segment_frames")
        limit = _s.max_packet_bytes(frames, self.info.channels)
        if any(len(p) > limit for p in packets):
            raise InputError(f"a packet of {max(map(len, packets))} bytes exceeds the {limit} bytes a segment of "
                             f"{frames} frames allows")
        if len(self._seek_entries) >= _s.MAX_SEGMENTS:
            raise InputError(f"too many segments (limit {_s.MAX_SEGMENTS}); use longer segments")
        fields = dict(
            index=len(self._seek_entries),
            start_frame=self._frames_written,
            frames=frames,
            packet_count=len(packets),
            packets=[dict(stream=i, size=len(p), crc=_s.crc32(p)) for i, p in enumerate(packets)],
        )
        header = _s.SegmentHeader.build({"fields": {"value": fields}})
        offset = self._write_chunk(b"SEGM", header + b"".join(packets))
        self._seek_entries.append(dict(start_frame=self._frames_written, offset=offset))
        self._frames_written += frames

    def close(self, mix_hash: bytes, stream_hashes: list[bytes]) -> None:
        """Write seek index, hashes and tail; rename the temporary file into place.

        Fields measured while encoding (frame count, each stream's mean square and
        loudness) are patched into the INFO and STRM chunks, whose sizes do not change.
        """
        if self._closed:
            return
        if self.info.frames not in (0, self._frames_written):
            raise FormatError(f"INFO announced {self.info.frames} frames, {self._frames_written} written")
        sidx = self._write_chunk(b"SIDX", _s.SeekIndexBody.build(
            dict(count=len(self._seek_entries), entries=self._seek_entries)))
        hsh = self._write_chunk(b"HASH", _s.HashBody.build(
            dict(algorithm="sha256", stream_count=len(stream_hashes), mix=mix_hash, streams=stream_hashes)))
        self._write_chunk(b"TAIL", _s.TailBody.build(dict(seek_index_offset=sidx, hash_offset=hsh)))
        self.info.frames = self._frames_written
        end = self._fh.tell()
        self._rewrite_chunk(self._info_offset - self._start, b"INFO", self.info.to_body())
        for offset, stream in zip(self._stream_offsets, self.streams):
            self._rewrite_chunk(offset, b"STRM", stream.to_body())
        self._fh.seek(end)
        self._closed = True
        if self._owns:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            publish(self._tmp_path, self._final_path)

    def abort(self) -> None:
        """Discard the output (only possible when writing to a path)."""
        self._closed = True
        if self._owns:
            with contextlib.suppress(OSError):  # its flush may fail again on a full disk
                self._fh.close()
            discard(self._tmp_path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self._closed:
            self.abort()
        return False
