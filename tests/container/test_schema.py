"""Every schema builds, parses back to the same value, and has the size the spec gives."""

import math

import construct
import pytest
import zstandard

import snc
from snc.container import schema as s
from snc.errors import FormatError

CASES = [
    (s.FileHeader, dict(version_major=1, version_minor=0), 12),
    (s.ChunkHeader, dict(type=b"INFO", length=24), 8),
    (s.InfoBody, dict(sample_rate=44100, frames=123, channels=2, sample_format="int", bits=16,
                      preset="archival", segment_frames=32768, stream_count=3), 24),
    (s.SeekIndexBody, dict(count=2, entries=[dict(start_frame=0, offset=100), dict(start_frame=64, offset=400)]), None),
    (s.HashBody, dict(algorithm="sha256", stream_count=1, mix=b"\x01" * 32, streams=[b"\x02" * 32]), None),
    (s.TailBody, dict(seek_index_offset=1000, hash_offset=2000), 16),
    (s.PictureBody, dict(picture_type=3, mime="image/png", description="cover", data=b"\x89PNG"), None),
    (s.StreamBody, dict(index=0, name="vocals", role="vocals", channels=2, codec_id="pcm",
                        codec_config={"format": "int", "bits": 16, "channels": 2}, default_gain_db=0.0,
                        azimuth_deg=30.0, elevation_deg=0.0, distance_m=1.0, width=0.5, colour=b"\xff\x00\x10",
                        mean_square_db=-20.0, loudness_lufs=-18.5, true_peak_dbtp=-1.0, provenance="studio",
                        provenance_detail={"separator": "none"}), None),
]


@pytest.mark.parametrize("schema,value,size", CASES,
                         ids=[c[0].__class__.__name__ + str(i) for i, c in enumerate(CASES)])
def test_build_parse_roundtrip(schema, value, size):
    data = schema.build(value)
    again = schema.build(schema.parse(data))
    assert again == data
    if size is not None:
        assert len(data) == size
        assert schema.sizeof() == size


def test_chunk_crc_is_checked():
    chunk = bytearray(s.build_chunk(b"TAIL", s.TailBody.build(dict(seek_index_offset=1, hash_offset=2))))
    assert len(chunk) == s.TAIL_CHUNK_SIZE
    s.Chunk.parse(bytes(chunk))
    chunk[10] ^= 1
    # construct's own error, which the reader turns into snc.ChecksumError naming the chunk
    with pytest.raises(construct.ChecksumError, match=r"-> crc\nwrong checksum"):
        s.Chunk.parse(bytes(chunk))


def test_segment_header_crc_covers_packet_table():
    fields = dict(index=0, start_frame=0, frames=64, packet_count=2,
                  packets=[dict(stream=0, size=5, crc=1), dict(stream=1, size=6, crc=2)])
    data = bytearray(s.SegmentHeader.build({"fields": {"value": fields}}))
    assert len(data) == s.SEGMENT_FIXED_SIZE + 2 * s.PACKET_ENTRY_SIZE + 4
    data[s.SEGMENT_FIXED_SIZE + 3] ^= 0x40  # a packet size
    with pytest.raises(construct.ChecksumError, match=r"-> header_crc\nwrong checksum"):
        s.SegmentHeader.parse(bytes(data))


def _chunk_offsets(data: bytes) -> dict[bytes, int]:
    """File offset of the first chunk of each type, walking the chunk headers."""
    offsets, pos = {}, s.FileHeader.sizeof()
    while pos < len(data):
        head = s.ChunkHeader.parse(data[pos:pos + s.CHUNK_HEADER_SIZE])
        offsets.setdefault(head.type, pos)
        pos += s.CHUNK_HEADER_SIZE + head.length + s.CHUNK_CRC_SIZE
    return offsets


def test_reader_turns_a_segment_header_crc_error_into_checksum_error(small_snc):
    path = small_snc[0]
    data = bytearray(path.read_bytes())
    segm = _chunk_offsets(bytes(data))[b"SEGM"]
    data[segm + s.CHUNK_HEADER_SIZE + s.SEGMENT_FIXED_SIZE + 3] ^= 0x40  # the first packet's size
    path.write_bytes(bytes(data))
    with pytest.raises(snc.ChecksumError, match=r"^segment 0 header: CRC mismatch$"), snc.open(path, strict=True) as f:
        f.read()


def test_meta_is_bounded_zstd_json():
    body = s.MetaBody.build({"meta": {"tags": {"title": "Ünïcode"}}})
    assert s.MetaBody.parse(body).meta == {"tags": {"title": "Ünïcode"}}
    bomb = zstandard.ZstdCompressor().compress(b" " * (s.MAX_META_JSON + 10))
    assert len(bomb) < 2000
    with pytest.raises(FormatError, match="limit"):
        s.MetaBody.parse(bomb)
    with pytest.raises(FormatError, match="^corrupt zstd data: "):
        s.MetaBody.parse(b"not zstd at all")


def test_stream_floats_keep_nan_and_inf():
    v = dict(CASES[-1][1], loudness_lufs=math.nan, mean_square_db=-math.inf)
    back = s.StreamBody.parse(s.StreamBody.build(v))
    assert math.isnan(back.loudness_lufs) and back.mean_square_db == -math.inf
