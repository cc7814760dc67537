"""Damaged and hostile input raises only SncError subclasses, with one clear message."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
from conftest import random_multitrack

import snc
from snc.container import schema as s
from snc.signal.mixing import exact_mix


def _tiny_file(codec="lossless") -> tuple[bytes, np.ndarray]:
    mix, stems = random_multitrack(11, frames=300, channels=2, stems=2)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=8000, bits=16, codec=codec, segment_frames=128, preset="archival")
    return buf.getvalue(), mix


def _decode_all(data: bytes, strict: bool = True) -> np.ndarray:
    with snc.open(io.BytesIO(data), strict=strict) as f:
        f.describe()
        return f.read(dtype="native")


def _decode_concealed(data: bytes) -> tuple[np.ndarray, list[dict]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", snc.SncWarning)
        with snc.open(io.BytesIO(data)) as f:
            return f.read(dtype="native"), f.damaged


@pytest.mark.slow
@pytest.mark.parametrize("codec", ["pcm", "lossless"])
def test_every_truncation_raises_only_snc_errors(codec):
    data, mix = _tiny_file(codec)
    for cut in range(len(data)):
        try:
            out = _decode_all(data[:cut])
        except snc.SncError:
            continue
        # the tail may be cut while every segment is intact: then the data must be exact
        assert np.array_equal(out, mix), f"truncated at {cut} decoded to wrong audio"


@pytest.mark.parametrize("codec", ["pcm", "lossless"])
def test_bit_flips_raise_snc_errors_or_decode_exactly(codec):
    data, mix = _tiny_file(codec)
    rng = np.random.default_rng(1)
    for _ in range(400):
        damaged = bytearray(data)
        for _ in range(rng.integers(1, 4)):
            pos = int(rng.integers(len(damaged)))
            damaged[pos] ^= 1 << int(rng.integers(8))
        try:
            out = _decode_all(bytes(damaged))
        except snc.SncError:
            pass
        else:
            assert np.array_equal(out, mix), "a flipped bit changed the audio without a CRC error"
        try:
            out, damaged_packets = _decode_concealed(bytes(damaged))
        except snc.SncError:
            continue
        intact = np.ones(len(mix), bool)
        for d in damaged_packets:
            intact[d["start"]:d["start"] + d["frames"]] = False
        assert np.array_equal(out[intact], mix[intact]), "audio changed outside the reported damaged frames"


def test_crc_error_names_the_segment_and_stream():
    data, _ = _tiny_file("pcm")
    damaged = bytearray(data)
    with snc.open(io.BytesIO(data)) as f:
        seg = f.segments[1]
        f.container.read_packet(seg, 0)  # loads the segment's header: its packet offsets
        damaged[seg.packet_offsets[0] + 3] ^= 0x10
    with pytest.raises(snc.ChecksumError, match=r"segment 1 .*'s0'"):
        _decode_all(bytes(damaged), strict=True)
    # the other stream of that segment is still readable
    with snc.open(io.BytesIO(bytes(damaged))) as f:
        f.read(stem="s1")


@pytest.mark.parametrize("content,error,match", [
    (b"", snc.FormatError, "not an SNC file"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(40), snc.FormatError, "bad magic"),
    (s.MAGIC + bytes([2, 0, 0, 0]) + bytes(40), snc.UnsupportedError, "version 2.0"),
    (s.MAGIC + bytes([1, 0, 0, 0]), snc.TruncatedError, "file ends"),
])
def test_not_snc_inputs(content, error, match):
    with pytest.raises(error, match=match):
        snc.open(io.BytesIO(content))


def test_huge_chunk_length_is_refused_before_allocating():
    data, _ = _tiny_file()
    damaged = bytearray(data)
    damaged[16:20] = struct.pack("<I", 0xFFFFFFF0)  # INFO chunk length
    with pytest.raises(snc.FormatError, match="limit"):
        _decode_all(bytes(damaged))


def test_unknown_chunks_are_skipped(tmp_path):
    data, mix = _tiny_file()
    with snc.open(io.BytesIO(data)) as f:
        first_segment = f.segments[0].offset
    extra = s.build_chunk(b"XTRA", b"future data")
    patched = data[:first_segment] + extra + data[first_segment:]
    # offsets moved: the tail's index is now wrong, so the reader rebuilds it by scanning
    with snc.open(io.BytesIO(patched)) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        assert f.describe()["unknown_chunks"] == ["XTRA"]


def test_unknown_codec_is_unsupported_but_info_works(tmp_path, monkeypatch):
    data, _ = _tiny_file("pcm")
    patched = data.replace(b"\x03pcm", b"\x03xyz")
    # the STRM CRCs no longer match; rebuild those chunks with valid CRCs
    out = bytearray(patched)
    pos = 12
    while pos < len(out):
        ctype, length = bytes(out[pos:pos + 4]), struct.unpack("<I", out[pos + 4:pos + 8])[0]
        if ctype == b"STRM":
            out[pos:pos + 12 + length] = s.build_chunk(ctype, bytes(out[pos + 8:pos + 8 + length]))
        pos += 12 + length
    with snc.open(io.BytesIO(bytes(out))) as f:
        assert f.describe()["streams"][0]["codec"] == "xyz"
        with pytest.raises(snc.UnsupportedError, match="unknown codec 'xyz'"):
            f.read()


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(snc.InputError, match="no such file"):
        snc.open(tmp_path / "nope.snc")


def _damaged_pcm_file() -> tuple[bytes, np.ndarray, dict]:
    """A pcm file of 3 segments with one byte of stream 's0' flipped in segment 1 (frames 128..256)."""
    mix, stems = random_multitrack(11, frames=300, channels=2, stems=2)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=8000, bits=16, codec="pcm", segment_frames=128, preset="archival")
    data = bytearray(buf.getvalue())
    with snc.open(io.BytesIO(bytes(data))) as f:
        seg = f.segments[1]
        f.container.read_packet(seg, 0)  # loads the segment's header: its packet offsets
        data[seg.packet_offsets[0] + 3] ^= 0x10
    return bytes(data), mix, stems


def test_flipped_byte_in_a_packet_is_concealed_and_reported():
    data, mix, stems = _damaged_pcm_file()
    with snc.open(io.BytesIO(data)) as f:
        with pytest.warns(snc.SncWarning, match=r"stream 's0', frames 128\.\.256 \(segment 1\) are silent"):
            out = f.read(dtype="native")
        assert [(d["stream"], d["segment"], d["start"], d["frames"]) for d in f.damaged] == [("s0", 1, 128, 128)]
        assert "CRC mismatch" in f.damaged[0]["error"]
        # the other segments are bit-exact; the damaged one is the mix of the other streams
        assert np.array_equal(out[:128], mix[:128]) and np.array_equal(out[256:], mix[256:])
        assert np.array_equal(out[128:256], mix[128:256] - stems["s0"][128:256])
        # the damaged stream is silent there, the other stem untouched
        assert not f.read(stem="s0", dtype="native")[128:256].any()
        assert np.array_equal(f.read(stem="s1", dtype="native"), stems["s1"])
        # verification stays strict
        with pytest.raises(snc.ChecksumError, match="segment 1"):
            f.verify()


def test_strict_refuses_the_damaged_packet():
    data, _, _ = _damaged_pcm_file()
    with snc.open(io.BytesIO(data), strict=True) as f:
        with pytest.raises(snc.ChecksumError, match=r"segment 1 \(frames 128\.\.256\), stream 's0'"):
            f.read()
        assert f.damaged == []


def test_a_remix_reports_each_damaged_packet_once():
    data, mix, _ = _damaged_pcm_file()
    with snc.open(io.BytesIO(data)) as f:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = f.read(gains={"s1": -3.0})
            f.read(gains={"s1": -3.0}, start=100, frames=100)
        assert len([w for w in caught if issubclass(w.category, snc.SncWarning)]) == 1
        assert len(f.damaged) == 1 and np.isfinite(out).all()


def test_cli_decode_conceals_by_default_and_strict_refuses(tmp_path, capsys):
    from snc.cli.decode import main

    data, mix, _ = _damaged_pcm_file()
    src = tmp_path / "damaged.snc"
    src.write_bytes(data)
    assert main([str(src), "-o", str(tmp_path / "out.wav")]) == 0
    err = capsys.readouterr().err
    assert "damaged packet concealed: stream 's0', frames 128..256" in err
    import soundfile

    out, _ = soundfile.read(tmp_path / "out.wav", dtype="int16")
    assert np.array_equal(out[:128], mix[:128])

    assert main([str(src), "-o", str(tmp_path / "strict.wav"), "--strict"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snc-decode: error: CRC mismatch in segment 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.snc", "out.wav"]


def test_exact_mix_stream_by_stream_equals_the_sum_of_held_streams():
    data, mix = _tiny_file("lossless")
    with snc.open(io.BytesIO(data)) as f:
        for seg in f.segments:
            held = [f.decode_packet(seg, i) for i in range(len(f.streams))]
            assert np.array_equal(f.segment_mix(seg), exact_mix(held, f.info.sample_format, f.info.bits))


def test_a_block_concealed_by_a_lenient_read_is_not_given_to_a_strict_one():
    """The packet cache keeps a concealed block for lenient reads; a strict read of it decodes again and
    raises (verification and a strict master gain must never sum a concealed stem)."""
    data, _, _ = _damaged_pcm_file()
    with snc.open(io.BytesIO(data)) as f:
        seg = f.segments[1]
        with pytest.warns(snc.SncWarning):
            assert not f._packets.cached(seg, 0, strict=False).any()
        with pytest.raises(snc.ChecksumError, match="segment 1"):
            f._packets.cached(seg, 0, strict=True)
        assert not f._packets.cached(seg, 0, strict=False).any()  # the lenient read still gets its block
