"""Regressions found by the spec review: hostile or odd files must give SncError, not crash."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

import snc
from snc.cli.decode import stem_file_names
from snc.container import schema as s
from conftest import random_multitrack


def _file(codec="pcm") -> tuple[bytes, np.ndarray]:
    mix, stems = random_multitrack(21, frames=500, stems=2)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=8000, bits=16, codec=codec, segment_frames=256, preset="archival")
    return buf.getvalue(), mix


def _rewrite(data: bytes, fn) -> bytes:
    """Rebuild every chunk as ``fn(type, body) -> body`` with fresh CRCs (offsets may move)."""
    out, pos = bytearray(data[:12]), 12
    while pos < len(data):
        ctype, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = fn(ctype, data[pos + 8:pos + 8 + length])
        out += s.build_chunk(ctype, body)
        pos += 12 + length
    return bytes(out)


def _patch_stream(index: int, **changes):
    def fn(ctype, body):
        if ctype != b"STRM":
            return body
        st = s.StreamBody.parse(body)
        if st.index != index:
            return body
        return s.StreamBody.build({**{k: v for k, v in st.items() if not k.startswith("_")}, **changes})
    return fn


def test_deeply_nested_json_is_a_format_error():
    data, _ = _file()
    nested = b"[" * 30000 + b"]" * 30000  # far deeper than Python's recursion limit, inside the STRM bound

    def fn(ctype, body):
        if ctype != b"STRM":
            return body
        st = s.StreamBody.parse(body)
        head = s.StreamBody.build({k: v for k, v in st.items() if not k.startswith("_")})
        # swap the provenance_detail JSON (the last field) for a hostile one
        cut = len(head) - 4 - len(json.dumps(dict(st.provenance_detail), separators=(",", ":")))
        return head[:cut] + struct.pack("<I", len(nested)) + nested

    with pytest.raises(snc.FormatError, match="JSON"):
        snc.open(io.BytesIO(_rewrite(data, fn)))


def test_float_stream_in_integer_file_is_a_format_error():
    data, _ = _file()
    bad = _rewrite(data, _patch_stream(0, codec_config={"format": "float32", "channels": 2}))
    with snc.open(io.BytesIO(bad)) as f:
        with pytest.raises(snc.FormatError, match="does not fit the file"):
            f.read()


def test_codec_config_missing_bits_is_an_error_not_a_guess():
    data, _ = _file()
    bad = _rewrite(data, _patch_stream(0, codec_config={"format": "int", "channels": 2}))
    with snc.open(io.BytesIO(bad)) as f:
        with pytest.raises(snc.CodecError, match="lacks"):
            f.read()


def test_meta_tags_of_the_wrong_type_are_ignored():
    data, mix = _file()
    bad = _rewrite(data, lambda t, b: s.MetaBody.build({"meta": {"tags": "abc", "profiles": []}}) if t == b"META" else b)
    with snc.open(io.BytesIO(bad)) as f:
        assert f.tags == {} and f.describe()["profiles"] == {}
        assert np.array_equal(f.read(dtype="native"), mix)


def test_damaged_hash_chunk_still_decodes_but_cannot_verify():
    data, mix = _file()
    with snc.open(io.BytesIO(data)) as f:
        assert f._reader.mix_hash is not None
    pos = data.index(b"HASH", len(data) - 500)
    damaged = bytearray(data)
    damaged[pos + 20] ^= 0xFF
    with snc.open(io.BytesIO(bytes(damaged))) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        with pytest.raises(snc.ChecksumError, match="no HASH"):
            f.verify()


def test_unknown_provenance_reads_as_unknown():
    data, _ = _file()
    raw = _rewrite(data, _patch_stream(0, provenance=9))
    with snc.open(io.BytesIO(raw)) as f:
        assert f.streams[0].provenance == "unknown"


def test_cancelling_float_stems_are_refused_not_stored_wrongly(tmp_path):
    # a stem 10^12 times louder than the mix: float64 cannot carry the mix's bits through the sum
    mix = np.random.default_rng(0).uniform(-1e-3, 1e-3, (100, 1)).astype(np.float32)
    stems = {"a": np.full((100, 1), 3e9, np.float32)}
    with pytest.raises(snc.InputError, match="cancel"):
        snc.encode(mix, tmp_path / "o.snc", stems=stems, samplerate=8000, preset="archival")
    assert not list(tmp_path.iterdir())


def test_nan_in_float_stem_of_integer_mix(tmp_path):
    mix = np.zeros((100, 1), np.int16)
    stem = np.zeros((100, 1), np.float32)
    stem[50] = np.nan
    with pytest.raises(snc.InputError, match="NaN"):
        snc.encode(mix, tmp_path / "o.snc", stems={"a": stem}, samplerate=8000, preset="archival")


def test_writer_refuses_short_segment_in_the_middle():
    from snc.container.model import FileInfo, StreamInfo
    from snc.container.writer import SncWriter

    info = FileInfo(8000, 0, 1, "int", 16, "archival", 64, 2)
    streams = [StreamInfo("a", "other", 1, "pcm", {}, index=0), StreamInfo("residual", "residual", 1, "pcm", {}, index=1)]
    w = SncWriter(io.BytesIO(), info, streams)
    w.write_segment(10, [b"", b""])
    with pytest.raises(snc.InputError, match="only the last segment"):
        w.write_segment(64, [b"", b""])


def test_stem_file_names_are_safe_and_distinct():
    names = stem_file_names(["a/b", "a\\b", "CON", "..", "x" * 300, "A_B"])
    assert names[0] == "a_b" and names[1] == "a_b-2" and names[2] == "_CON" and names[3] == "stem"
    assert len(names[4]) == 100 and names[5] == "A_B-3"
    assert len({n.lower() for n in names}) == len(names)
