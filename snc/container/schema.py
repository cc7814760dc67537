"""The SNC container schema -- the single source of truth for the bytes of a ``.snc`` file.

Every structure below is described, field by field and in the same order, in
``spec/snc-format.md``; the section of the spec is named in the comment above
each schema.  All integers are little-endian.  Change the two together.
"""

from __future__ import annotations

import json
import re
import zlib

import numpy as np
import zstandard
from construct import (
    Adapter,
    Array,
    Bytes,
    Checksum,
    Const,
    Enum,
    Float32l,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    PascalString,
    Prefixed,
    RawCopy,
    Struct,
    this,
)

from ..errors import FormatError, InputError
from ..zstd_bounded import TooLarge, ZstdError, inflate

# ---------------------------------------------------------------------------
# Limits (spec section "Limits").  A reader MUST check every length it reads
# against these bounds before allocating.
MAX_CHANNELS = 8
MIN_SAMPLE_RATE = 8_000  # the lowest rate audio is coded at (telephony); below it rate-derived sizes degenerate
MAX_SAMPLE_RATE = 768_000
MAX_STREAMS = 64
MIN_SEGMENT_FRAMES = 64
MAX_SEGMENT_FRAMES = 1 << 20
MAX_FRAMES = 1 << 40
MAX_CHUNK_LENGTH = 1 << 30  # 1 GiB: no chunk may be larger
MAX_META_JSON = 16 << 20  # decompressed META bound
MAX_STREAM_CHUNK = 64 << 10  # a whole STRM chunk: names, codec config and provenance are small by design
MAX_PICTURE = 16 << 20
MAX_SAMPLE_BYTES = 8  # float64 residual samples are the widest
# Samples of one segment over all streams (stream_count x channels x segment_frames): bounds what a
# decoder holds at once whatever the file declares (spec section "Security Considerations").
MAX_SEGMENT_SAMPLES = 1 << 23
# Samples one packet decodes to (channels x segment_frames): bounds a codec's working memory and the
# tile rule's transforms of one stream.
MAX_PACKET_SAMPLES = 1 << 20
# A packet decodes to frames x channels samples; no codec needs more than this many bytes for it
# (twice the widest sample: a float codec's worst case is the raw pattern plus its side information).
PACKET_OVERHEAD = 1024
PACKET_BYTES_PER_SAMPLE = 2 * MAX_SAMPLE_BYTES
# JSON: nesting depth and value count (containers and commas), so a small text cannot build a deep
# or huge tree of Python objects.
MAX_JSON_DEPTH = 32
MAX_JSON_VALUES = 1 << 16
MAX_STREAM_JSON_VALUES = 1 << 10  # codec_config and provenance_detail hold a handful of keys
MAX_UNKNOWN_CHUNKS_LISTED = 256

MAX_SEGMENTS = (MAX_CHUNK_LENGTH - 4) // 16  # the SIDX chunk must fit in one chunk
#: the version this code reads and writes; a file is written with the lowest minor version that describes it
#: (1.1 with a master stream, 1.2 with lossless streams that may hold method-3 packets, 1.3 with a master
#: stream that has an EQ, 1.4 with one that has a compressor; spec section 4.2)
FORMAT_VERSION = (1, 4)
MASTER_MINOR_VERSION = 1
RANGE_CODED_MINOR_VERSION = 2
MASTER_EQ_MINOR_VERSION = 3
MASTER_COMPRESSOR_MINOR_VERSION = 4


def max_packet_bytes(frames: int, channels: int) -> int:
    """The largest packet a segment of ``frames`` frames may hold for one stream (spec section "SEGM chunk")."""
    return PACKET_OVERHEAD + PACKET_BYTES_PER_SAMPLE * frames * channels


def min_segment_chunk_bytes(stream_count: int) -> int:
    """Bytes of the smallest possible SEGM chunk: header, packet table, CRCs, empty packets."""
    return CHUNK_HEADER_SIZE + SEGMENT_FIXED_SIZE + PACKET_ENTRY_SIZE * stream_count + 4 + CHUNK_CRC_SIZE


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (polynomial 0x04C11DB7 reflected, as zlib and PNG): spec section "CRC"."""
    return zlib.crc32(data) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Helpers: JSON text and a *bounded* zstd tunnel (construct's Compressed has no
# output bound, so a 50-byte bomb could expand to gigabytes).


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_PIECE = 1 << 20
_OPENERS = np.zeros(256, np.int8)
_OPENERS[[ord("["), ord("{")]] = 1
_OPENERS[[ord("]"), ord("}")]] = -1


def _field(path: str) -> str:
    """construct's path (``(parsing) -> provenance_detail``) as the field name."""
    return path.replace("(parsing) -> ", "").replace("(parsing)", "").replace("(building) -> ", "") or "the chunk"


def check_json_shape(text: bytes, what: str, max_values: int = MAX_JSON_VALUES) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH or with more than ``max_values`` values, before
    parsing: the parser would recurse (RecursionError) or build a tree far larger than the text."""
    structure = np.frombuffer(_JSON_STRING.sub(b'""', text), np.uint8)
    depth = values = 0
    for at in range(0, len(structure), _JSON_PIECE):  # in pieces: a running depth of 16 MiB would take 128 MiB
        piece = structure[at:at + _JSON_PIECE]
        steps = _OPENERS[piece]
        running = np.cumsum(steps, dtype=np.int32) + depth
        if int(running.max()) > MAX_JSON_DEPTH:
            raise FormatError(f"JSON in {what} is nested deeper than {MAX_JSON_DEPTH} levels")
        depth = int(running[-1])
        values += int(np.count_nonzero(steps == 1)) + int(np.count_nonzero(piece == ord(",")))
        if values > max_values:
            raise FormatError(f"JSON in {what} holds more than {max_values} values")


def _refuse_constant(name: str):
    raise ValueError(f"non-standard literal {name}")


class _Json(Adapter):
    """UTF-8 JSON object stored in the bytes of the subconstruct."""

    def __init__(self, subcon, max_values: int = MAX_JSON_VALUES):
        super().__init__(subcon)
        self.max_values = max_values

    def _decode(self, obj, context, path):
        text = bytes(obj)
        path = _field(path)
        check_json_shape(text, path, self.max_values)
        try:
            value = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            detail = str(exc).splitlines()[0][:80] if isinstance(exc, ValueError) else type(exc).__name__
            raise FormatError(f"invalid JSON in {path}: {detail}") from None
        if not isinstance(value, dict):
            raise FormatError(f"JSON in {path} is not an object")
        return value

    def _encode(self, obj, context, path):
        # allow_nan=False: NaN and infinities are not JSON (spec section "Data types")
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                              allow_nan=False).encode("utf-8")
        except ValueError as exc:
            raise InputError(f"cannot store {_field(path)}: {exc}") from None


def bounded_zstd_decompress(data: bytes, limit: int) -> bytes:
    """Decompress zstd data, refusing output larger than ``limit`` bytes."""
    try:
        return inflate(data, limit)
    except ZstdError as exc:
        raise FormatError(f"corrupt zstd data: {exc}") from None
    except TooLarge:
        raise FormatError(f"compressed metadata expands beyond the {limit}-byte limit") from None


class _BoundedZstd(Adapter):
    def __init__(self, subcon, limit):
        super().__init__(subcon)
        self.limit = limit

    def _decode(self, obj, context, path):
        return bounded_zstd_decompress(obj, self.limit)

    def _encode(self, obj, context, path):
        return zstandard.ZstdCompressor(level=19).compress(obj)


JsonObject = _Json(GreedyBytes)
StreamJsonObject = _Json(GreedyBytes, MAX_STREAM_JSON_VALUES)
ZstdJsonObject = _Json(_BoundedZstd(GreedyBytes, MAX_META_JSON))

# ---------------------------------------------------------------------------
# Spec section "File header": 12 bytes.
MAGIC = b"\x89SNC\r\n\x1a\n"
FileHeader = Struct(
    "magic" / Const(MAGIC),
    "version_major" / Int8ul,
    "version_minor" / Int8ul,
    "reserved" / Const(0, Int16ul),
)

# ---------------------------------------------------------------------------
# Spec section "Chunks": every structure after the file header is a chunk.
# CRC = crc32(type + length + body); a reader skips unknown types by `length`.
ChunkHeader = Struct(
    "type" / Bytes(4),
    "length" / Int32ul,
)
CHUNK_HEADER_SIZE = 8
CHUNK_CRC_SIZE = 4
ChunkCrc = Struct("crc" / Int32ul)
Chunk = Struct(
    "raw" / RawCopy(Struct("type" / Bytes(4), "length" / Int32ul, "body" / Bytes(this.length))),
    "crc" / Checksum(Int32ul, crc32, this.raw.data),
)

# ---------------------------------------------------------------------------
# Spec section "INFO chunk": the signal and the file's layout. 24 bytes.
SampleFormat = Enum(Int8ul, int=0, float32=1, float64=2)
Preset = Enum(Int8ul, archival=0, lossless=1, transparent=2, compact=3)
InfoBody = Struct(
    "sample_rate" / Int32ul,
    "frames" / Int64ul,
    "channels" / Int8ul,
    "sample_format" / SampleFormat,
    "bits" / Int8ul,
    "preset" / Preset,
    "segment_frames" / Int32ul,
    "stream_count" / Int16ul,
    "flags" / Const(0, Int16ul),
)

# ---------------------------------------------------------------------------
# Spec section "STRM chunk": one per stream, in stream order.
Provenance = Enum(Int8ul, unknown=0, studio=1, separated=2, mix=3, residual=4, master=5)
StreamBody = Struct(
    "index" / Int16ul,
    "name" / PascalString(Int8ul, "utf8"),
    "role" / PascalString(Int8ul, "utf8"),
    "channels" / Int8ul,
    "codec_id" / PascalString(Int8ul, "ascii"),
    "codec_config" / Prefixed(Int32ul, StreamJsonObject),
    "default_gain_db" / Float32l,
    "azimuth_deg" / Float32l,
    "elevation_deg" / Float32l,
    "distance_m" / Float32l,
    "width" / Float32l,
    "colour" / Bytes(3),
    "mean_square_db" / Float32l,
    "loudness_lufs" / Float32l,
    "true_peak_dbtp" / Float32l,
    "provenance" / Provenance,
    "provenance_detail" / Prefixed(Int32ul, StreamJsonObject),
)

# ---------------------------------------------------------------------------
# Spec section "META chunk": tags, profiles and free metadata, zstd-compressed JSON.
MetaBody = Struct("meta" / ZstdJsonObject)

# Spec section "PICT chunk": cover art and other pictures.
PictureBody = Struct(
    "picture_type" / Int8ul,
    "mime" / PascalString(Int8ul, "ascii"),
    "description" / PascalString(Int16ul, "utf8"),
    "data" / GreedyBytes,
)

# ---------------------------------------------------------------------------
# Spec section "SEGM chunk": one time span, one packet per stream.
PacketEntry = Struct(
    "stream" / Int16ul,
    "size" / Int32ul,
    "crc" / Int32ul,
)
SegmentFields = Struct(
    "index" / Int32ul,
    "start_frame" / Int64ul,
    "frames" / Int32ul,
    "packet_count" / Int16ul,
    "packets" / Array(this.packet_count, PacketEntry),
)
SEGMENT_FIXED_SIZE = 4 + 8 + 4 + 2  # the fields before the packet table
PACKET_ENTRY_SIZE = 10
SegmentHeader = Struct(
    "fields" / RawCopy(SegmentFields),
    "header_crc" / Checksum(Int32ul, crc32, this.fields.data),
)
# The packet payloads follow the header, concatenated in packet-table order.

# ---------------------------------------------------------------------------
# Spec section "SIDX chunk": seek index, one entry per segment in file order.
SeekEntry = Struct(
    "start_frame" / Int64ul,
    "offset" / Int64ul,  # file offset of the segment's chunk header
)
SeekIndexBody = Struct(
    "count" / Int32ul,
    "entries" / Array(this.count, SeekEntry),
)

# ---------------------------------------------------------------------------
# Spec section "HASH chunk": SHA-256 of the decoded mix and of every decoded stream.
HashAlgorithm = Enum(Int8ul, sha256=1)
HashBody = Struct(
    "algorithm" / HashAlgorithm,
    "stream_count" / Int16ul,
    "mix" / Bytes(32),
    "streams" / Array(this.stream_count, Bytes(32)),
)

# ---------------------------------------------------------------------------
# Spec section "TAIL chunk": the last 28 bytes of every complete file.
TailBody = Struct(
    "seek_index_offset" / Int64ul,
    "hash_offset" / Int64ul,
)
TAIL_CHUNK_SIZE = CHUNK_HEADER_SIZE + 16 + CHUNK_CRC_SIZE

CHUNK_TYPES = {
    b"INFO": InfoBody,
    b"STRM": StreamBody,
    b"META": MetaBody,
    b"PICT": PictureBody,
    b"SEGM": None,  # parsed piecewise (header, then only the packets needed)
    b"SIDX": SeekIndexBody,
    b"HASH": HashBody,
    b"TAIL": TailBody,
}


def build_chunk(chunk_type: bytes, body: bytes) -> bytes:
    """Frame ``body`` as a chunk: header, body, CRC over both."""
    if len(body) > MAX_CHUNK_LENGTH:
        raise FormatError(f"{chunk_type!r} chunk of {len(body)} bytes exceeds the format limit")
    return Chunk.build({"raw": {"value": {"type": chunk_type, "length": len(body), "body": body}}})
