"""Regressions found by the spec review: hostile or odd files must give SncError, not crash."""

from __future__ import annotations

import io
import json
import math
import struct

import numpy as np
import pytest
from conftest import random_multitrack

import snc
from snc.cli.decode import stem_file_names
from snc.container import schema as s


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
    bad = _rewrite(data, lambda t, b: (s.MetaBody.build({"meta": {"tags": "abc", "profiles": []}})
                                       if t == b"META" else b))
    with snc.open(io.BytesIO(bad)) as f:
        assert f.tags == {} and f.describe()["profiles"] == {}
        assert np.array_equal(f.read(dtype="native"), mix)


def test_damaged_hash_chunk_still_decodes_but_cannot_verify():
    data, mix = _file()
    with snc.open(io.BytesIO(data)) as f:
        assert f.container.mix_hash is not None
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
    streams = [StreamInfo("a", "other", 1, "pcm", {}, index=0),
               StreamInfo("residual", "residual", 1, "pcm", {}, index=1)]
    w = SncWriter(io.BytesIO(), info, streams)
    w.write_segment(10, [b"", b""])
    with pytest.raises(snc.InputError, match="only the last segment"):
        w.write_segment(64, [b"", b""])


def test_stem_file_names_are_safe_and_distinct():
    names = stem_file_names(["a/b", "a\\b", "CON", "..", "x" * 300, "A_B"])
    assert names[0] == "a_b" and names[1] == "a_b-2" and names[2] == "_CON" and names[3] == "stem"
    assert len(names[4]) == 100 and names[5] == "A_B-3"
    assert len({n.lower() for n in names}) == len(names)


def _patch_info(data: bytes, **changes) -> bytes:
    def fn(ctype, body):
        if ctype != b"INFO":
            return body
        info = s.InfoBody.parse(body)
        return s.InfoBody.build({**{k: v for k, v in info.items() if not k.startswith("_")}, **changes})
    return _rewrite(data, fn)


@pytest.mark.parametrize("rate", [1, 16, 7999, 768001])
def test_sample_rate_outside_the_spec_range_is_a_format_error(rate):
    data, _ = _file()
    with pytest.raises(snc.FormatError, match=rf"INFO chunk: sample_rate {rate} out of range \(8000\.\.768000\)"):
        snc.open(io.BytesIO(_patch_info(data, sample_rate=rate)))


@pytest.mark.parametrize("rate", [8000, 768000])
def test_sample_rate_limits_are_accepted(rate):
    data, mix = _file()
    with snc.open(io.BytesIO(_patch_info(data, sample_rate=rate))) as f:
        assert f.samplerate == rate and np.array_equal(f.read(dtype="native"), mix)


@pytest.mark.parametrize("changes,match", [
    (dict(bits=40), "bits 40 out of range"),
    (dict(sample_format="float32", bits=16), "bits 16 out of range"),
    (dict(channels=9), "channels 9 out of range"),
    (dict(segment_frames=32), "segment_frames 32 out of range"),
    (dict(frames=(1 << 40) + 1), "frames 1099511627777 out of range"),
])
def test_info_fields_out_of_range_name_the_field(changes, match):
    data, _ = _file()
    with pytest.raises(snc.FormatError, match=match):
        snc.open(io.BytesIO(_patch_info(data, **changes)))


EXTREME = dict(mean_square_db=4000.0, loudness_lufs=math.inf, true_peak_dbtp=-1e30, default_gain_db=math.nan,
               azimuth_deg=math.nan, elevation_deg=1e9, distance_m=math.nan, width=-5.0)


def test_extreme_stream_fields_are_read_as_defaults_and_remix_stays_finite():
    """CRC-valid absurd floats: never a traceback, never silence (spec sections 9.3, 9.4, 21)."""
    data, mix = _file()
    bad = _rewrite(_rewrite(data, _patch_stream(0, **EXTREME)), _patch_stream(1, mean_square_db=math.inf))
    with snc.open(io.BytesIO(bad)) as f:
        st = f.streams[0]
        assert math.isnan(st.mean_square_db) and math.isnan(st.loudness_lufs) and math.isnan(st.true_peak_dbtp)
        assert st.default_gain_db == 0.0
        assert vars(st.position) == dict(azimuth_deg=0.0, elevation_deg=90.0, distance_m=1.0, width=0.0)
        assert np.array_equal(f.read(dtype="native"), mix)
        for attribution in ("tiles", "global"):
            out = f.read(gains={"s0": -6.0}, attribution=attribution)
            assert np.isfinite(out).all() and np.abs(out).max() > 0.01
        # no finite mean square left: the residual follows the mean of the stem gains
        assert f.remix_gains({"s0": -6.0})[2] == pytest.approx((10 ** (-6 / 20) + 1) / 2)


def test_residual_gain_does_not_overflow_with_huge_mean_squares():
    data, _ = _file()
    bad = _rewrite(_rewrite(data, _patch_stream(0, mean_square_db=390.0)), _patch_stream(1, mean_square_db=380.0))
    with snc.open(io.BytesIO(bad)) as f:
        f.container.streams[0].mean_square_db = 4000.0  # also values no file can carry (API users may set them)
        f.container.streams[1].mean_square_db = 3990.0
        w0, w1 = 1.0, 0.1
        assert f.remix_gains({"s1": -math.inf})[2] == pytest.approx(w0 / (w0 + w1))


@pytest.mark.parametrize("gain", [math.nan, math.inf, 1e10, 40.5, "loud"])
def test_absurd_remix_gains_are_input_errors(gain):
    data, _ = _file()
    with snc.open(io.BytesIO(data)) as f:
        with pytest.raises(snc.InputError, match="gain of 's0'"):
            f.read(gains={"s0": gain})


def test_minus_infinity_gain_mutes_and_plus_40_db_is_accepted():
    data, _ = _file()
    with snc.open(io.BytesIO(data)) as f:
        assert f.remix_gains({"s0": -math.inf})[0] == 0.0
        assert f.remix_gains({"s0": 40.0})[0] == pytest.approx(100.0)


@pytest.mark.parametrize("value", ["nan", "inf", "1e10"])
def test_cli_gain_nan_inf_huge_is_one_line_error_and_nothing_written(tmp_path, capsys, value):
    from snc.cli.decode import main

    data, _ = _file()
    src = tmp_path / "in.snc"
    src.write_bytes(data)
    assert main([str(src), "-o", str(tmp_path / "out.wav"), "--gain", f"s0={value}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    # refused by the CLI's own check or by SncFile.remix_gains: one line either way
    assert len(err) == 1 and err[0].startswith("snc-decode: error: ") and "gain" in err[0] and "s0" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.snc"]


def test_nan_is_never_written_as_json():
    with pytest.raises(snc.InputError, match="cannot store"):
        s.MetaBody.build({"meta": {"profiles": {"p": {"gains": {"vocals": math.nan}}}}})


def test_meta_nested_deeper_than_32_is_a_format_error_and_32_is_fine():
    data, _ = _file()
    deep = {"x": 1}
    for _ in range(30):  # 31 levels, 32 with the META object itself
        deep = {"x": deep}
    ok = _rewrite(data, lambda t, b: s.MetaBody.build({"meta": {"free": deep}}) if t == b"META" else b)
    with snc.open(io.BytesIO(ok)) as f:
        assert "free" in f.metadata
    bad = _rewrite(data, lambda t, b: s.MetaBody.build({"meta": {"free": {"x": deep}}}) if t == b"META" else b)
    with pytest.raises(snc.FormatError, match="META chunk: JSON in meta is nested deeper than 32 levels"):
        snc.open(io.BytesIO(bad))


def test_stream_json_with_too_many_values_is_a_format_error():
    data, _ = _file()
    bad = _rewrite(data, _patch_stream(0, provenance_detail={f"k{i}": i for i in range(2000)}))
    with pytest.raises(snc.FormatError, match="provenance_detail holds more than 1024 values"):
        snc.open(io.BytesIO(bad))


def test_codec_id_longer_than_32_characters_is_a_format_error():
    data, _ = _file()
    with pytest.raises(snc.FormatError, match="codec_id of 40 characters"):
        snc.open(io.BytesIO(_rewrite(data, _patch_stream(0, codec_id="x" * 40))))


def test_thousands_of_unknown_chunks_are_skipped_but_not_all_listed():
    data, mix = _file()
    with snc.open(io.BytesIO(data)) as f:
        first_segment = f.container.segments[0].offset
    extra = s.build_chunk(b"XTRA", b"") * 1000
    patched = data[:first_segment] + extra + data[first_segment:]
    with snc.open(io.BytesIO(patched)) as f:
        assert f.container.unknown_chunk_count == 1000 and len(f.describe()["unknown_chunks"]) == 256
        assert np.array_equal(f.read(dtype="native"), mix)
