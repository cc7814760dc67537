"""Decoding any file needs memory bounded by the format's limits, not by what the file declares
(spec section "Security Considerations"): crafted files at and beyond the limits, decoded in a child
process whose peak resident memory is measured."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import snc
from snc.container import schema as s
from snc.container.model import FileInfo, StreamInfo
from snc.container.segments import SegmentIndex
from snc.container.writer import SncWriter

ROOT = Path(__file__).resolve().parents[2]
FAULTY = ROOT / "spec" / "vectors" / "faulty"
#: the issue's target for any crafted file
MEMORY_LIMIT_MB = 500


def _make_vectors():
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "tools" / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mv = _make_vectors()

_CHILD = r"""
import json, resource, sys
import snc


def decode(path, mode):
    result = {}
    try:
        with snc.open(path, strict=True) as f:
            if mode == "mix":
                result["silent"] = all(not b.any() for b in f.blocks(dtype="native"))
            elif mode == "remix":
                result["silent"] = all(not b.any() for b in f.blocks(gains={f.stems[0]: -6.0}))
            elif mode == "verify":
                v = f.verify()
                result["verified"] = v["mix"] and all(v["streams"].values())
            else:
                f.read()
                f.read(gains={f.stems[0]: -6.0})
    except snc.SncError as exc:
        result.update(error=type(exc).__name__, message=str(exc))
    # the peak of the process so far: a bound for this file and every one before it.  VmHWM is this
    # program's own peak; ru_maxrss also carries the forking parent's peak across exec (a large pytest
    # process made every child look 500 MB big)
    result["peak_mb"] = peak_kb() / 1024
    return result


def peak_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


mode = sys.argv[1]
print(json.dumps({path: decode(path, mode) for path in sys.argv[2:]}))
"""


def _decode_in_child(mode: str, *paths: Path) -> dict:
    """``{path: result}`` of decoding ``paths`` in one fresh interpreter, with its peak memory so far."""
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, *map(str, paths)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return {Path(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


_SHAPES = {}


@pytest.fixture(scope="module")
def compiled():
    """Decode a small file first: a first run compiles the codec kernels, whose compiler's memory is no
    part of decoding (the compiled kernels are cached on disk for later processes)."""
    valid = sorted((ROOT / "spec" / "vectors" / "valid").glob("*.snc"))  # every codec's decoder
    for mode in ("mix", "remix", "verify", "all"):
        _decode_in_child(mode, *valid)


def _max_file(tmp_path_factory, streams: int, rate: int) -> Path:
    """The largest segment the limits allow at ``streams`` streams (written once per shape)."""
    if (streams, rate) not in _SHAPES:
        path = tmp_path_factory.mktemp("crafted") / f"max-segment-{streams}-{rate}.snc"
        path.write_bytes(mv.patch_info(mv.max_segment_file(streams=streams), sample_rate=rate))
        _SHAPES[streams, rate] = path
    return _SHAPES[streams, rate]


@pytest.mark.slow
@pytest.mark.parametrize("streams,rate,mode", [
    (s.MAX_STREAMS, 8000, "mix"), (s.MAX_STREAMS, 8000, "remix"), (s.MAX_STREAMS, 8000, "verify"),
    (8, 8000, "mix"), (8, 8000, "remix"),
    # at 768 kHz the tile rule's context (a 32768-frame transform each side) is longer than a segment
    (s.MAX_STREAMS, 768000, "remix"), (8, 768000, "remix"),
])
def test_largest_segment_the_limits_allow_decodes_within_the_bound(tmp_path_factory, compiled, streams, rate, mode):
    """64 streams x 8 channels x 16384 frames, and 8 x 8 x 131072 (the largest packets): the exact mix, a
    tile-rule remix and verification."""
    path = _max_file(tmp_path_factory, streams, rate)
    with snc.open(path) as f:
        assert f.info.segment_samples == s.MAX_SEGMENT_SAMPLES
        assert f.channels * f.info.segment_frames <= s.MAX_PACKET_SAMPLES
    result = _decode_in_child(mode, path)[path]
    assert "error" not in result, result
    assert result.get("silent", result.get("verified")) is True
    assert result["peak_mb"] < MEMORY_LIMIT_MB, result


def test_every_faulty_vector_fails_cleanly_within_the_bound(compiled):
    expected = json.loads((FAULTY / "expected.json").read_text())
    results = _decode_in_child("faulty", *(FAULTY / name for name in sorted(expected)))
    for path, result in results.items():
        want = expected[path.name]
        assert result.get("error") == want["error"] and want["message"] in result["message"], (path.name, result)
        assert result["peak_mb"] < MEMORY_LIMIT_MB, (path.name, result)


def test_the_over_cap_file_is_small_and_refused_at_open():
    """The issue's attack: a few kB claiming 2^29 samples per segment (gigabytes to decode)."""
    data = (FAULTY / "segment-samples-over-cap.snc").read_bytes()
    assert len(data) < 64 << 10
    with pytest.raises(snc.FormatError, match=r"64 x 8 x 1048576 exceeds 8388608 samples"):
        snc.open(io.BytesIO(data))


def _streams(n: int, channels: int) -> list[StreamInfo]:
    out = [StreamInfo(f"s{k}", "other", channels, "pcm", {}, index=k) for k in range(n - 1)]
    return out + [StreamInfo("residual", "residual", channels, "pcm", {}, index=n - 1)]


def test_writer_refuses_segments_beyond_the_cap_before_writing(tmp_path):
    info = FileInfo(48000, 0, 8, "int", 16, "archival", 32768, 64)
    with pytest.raises(snc.InputError, match=r"use segment_frames <= 16384"):
        SncWriter(tmp_path / "o.snc", info, _streams(64, 8))
    assert not list(tmp_path.iterdir())


def test_writer_refuses_packets_beyond_the_cap(tmp_path):
    info = FileInfo(48000, 0, 8, "int", 16, "archival", 1 << 18, 2)
    with pytest.raises(snc.InputError, match=r"use segment_frames <= 131072"):
        SncWriter(tmp_path / "o.snc", info, _streams(2, 8))
    assert not list(tmp_path.iterdir())


def test_encoder_refuses_segments_beyond_the_cap(tmp_path):
    mix = np.zeros((100, 8), np.int16)
    with pytest.raises(snc.InputError, match="samples per segment"):
        snc.encode(mix, tmp_path / "o.snc", samplerate=48000, preset="archival", segment_frames=1 << 20)
    assert not list(tmp_path.iterdir())


def test_writer_refuses_a_packet_larger_than_its_frames_allow():
    info = FileInfo(8000, 0, 1, "int", 16, "archival", 64, 2)
    w = SncWriter(io.BytesIO(), info, _streams(2, 1))
    with pytest.raises(snc.InputError, match="exceeds the 2048 bytes"):
        w.write_segment(64, [bytes(2049), b""])


@pytest.fixture(scope="module")
def many_segments() -> bytes:
    return mv.crafted_file(segment_frames=64, frames=64 * 20000)


def test_seek_index_is_read_lazily(many_segments):
    tracemalloc.start()
    try:
        with snc.open(io.BytesIO(many_segments)) as f:
            held, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert isinstance(f.segments, SegmentIndex) and len(f.segments) == 20000
            assert not f.read(frames=64 * 100, start=64 * 15000, dtype="native").any()
            assert len(f.segments._cache) <= 16
    finally:
        tracemalloc.stop()
    # a list of 20000 parsed entries held megabytes; the lazy index holds none of them and checks
    # the index in pieces of at most 1 MiB
    assert held < 256 << 10 and peak < 4 << 20, (held, peak)


def test_scan_after_a_damaged_tail_keeps_only_checkpoints(many_segments):
    with snc.open(io.BytesIO(many_segments)) as f:
        offsets = [f.segments[i].offset for i in (0, 63, 64, 12345, 19999)]
    without_tail = many_segments[:-s.TAIL_CHUNK_SIZE]
    with snc.open(io.BytesIO(without_tail)) as f:
        assert [f.segments[i].offset for i in (0, 63, 64, 12345, 19999)] == offsets
        assert f.segments[-1].index == 19999
        assert not f.read(frames=5000, start=12345 * 64, dtype="native").any()


def test_inconsistent_seek_index_falls_back_to_the_scan(many_segments):
    with snc.open(io.BytesIO(many_segments)) as f:
        sidx = f.segments[0].offset  # any SEGM offset; find the SIDX via the tail instead
        tail = s.TailBody.parse(many_segments[-s.TAIL_CHUNK_SIZE + 8:-4])
    data = bytearray(many_segments)
    entry = tail.seek_index_offset + 12 + 16 * 777 + 8  # offset field of entry 777
    data[entry:entry + 8] = (sidx).to_bytes(8, "little")  # not increasing any more
    length = 4 + 16 * 20000
    body = bytes(data[tail.seek_index_offset + 8:tail.seek_index_offset + 8 + length])
    data[tail.seek_index_offset:tail.seek_index_offset + 12 + length] = s.build_chunk(b"SIDX", body)
    with snc.open(io.BytesIO(bytes(data))) as f:
        assert f.segments[777].offset != sidx
        assert not f.read(frames=64 * 10, start=64 * 775, dtype="native").any()


def test_too_many_segments_for_the_file_size_is_refused_before_the_index():
    data = (FAULTY / "too-many-segments.snc").read_bytes()
    with pytest.raises(snc.TruncatedError, match="announces 4194304 segments"):
        snc.open(io.BytesIO(data))


def test_seek_index_crc_damage_falls_back_to_the_scan(many_segments):
    tail = s.TailBody.parse(many_segments[-s.TAIL_CHUNK_SIZE + 8:-4])
    data = bytearray(many_segments)
    # the offset of entry 9000 moved by one byte: still increasing, only the CRC tells
    data[tail.seek_index_offset + 12 + 16 * 9000 + 8] ^= 0x01
    with snc.open(io.BytesIO(bytes(data))) as f:
        assert f.segments._locate.__qualname__.startswith("ContainerReader._scan")
        assert not f.read(frames=64 * 3, start=64 * 8999, dtype="native").any()
