"""The decode layer alone (snc.decode.Decoder): no render loaded, its seams agree with what SncFile reads."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import random_multitrack

import snc
from snc.decode import Decoder
from snc.decode.blocks import rechunk, segment_cuts

REPO = Path(snc.__file__).resolve().parents[1]


def _file(preset: str = "archival", **kw) -> bytes:
    mix, stems = random_multitrack(5, frames=3000, channels=2, stems=3)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=8000, bits=16, segment_frames=1024, preset=preset, **kw)
    return buf.getvalue()


def test_decoding_loads_nothing_of_render(tmp_path):
    """The layers: reading, verifying and describing a file through snc.decode import no snc.render module."""
    path = tmp_path / "a.snc"
    path.write_bytes(_file())
    code = (f"from snc.decode import Decoder\nwith Decoder({str(path)!r}) as f:\n"
            "    f.read(); f.read(stem='s1'); list(f.blocks(500)); f.verify(); f.describe()\n"
            "import json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('snc.render'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_decoder_reads_what_the_user_facing_file_reads():
    data = _file()
    with Decoder(io.BytesIO(data)) as d, snc.open(io.BytesIO(data)) as f:
        assert isinstance(f, Decoder) and not hasattr(d, "render")
        for kw in ({}, {"stem": "s2"}, {"dtype": "native"}, {"start": 1000, "frames": 1500, "dtype": "float32"}):
            a, b = d.read(**kw), f.read(**kw)
            assert a.dtype == b.dtype and np.array_equal(a, b), kw
        assert np.array_equal(np.concatenate(list(d.blocks(700, stem="s0"))), f.read(stem="s0"))
        assert d.verify() == f.verify() and d.describe() == f.describe()
        assert repr(d).startswith("<Decoder ") and repr(f).startswith("<SncFile ")


def test_seams_segment_mix_stream_span_and_scale():
    data = _file()
    with Decoder(io.BytesIO(data)) as d:
        native = d.read(dtype="native")
        assert d.scale == 2.0 ** 15
        assert np.array_equal(d.read(), native / d.scale)
        assert np.array_equal(np.concatenate([d.segment_mix(seg) for seg in d.segments]), native)
        # a span across segment edges, clipped to the file, is the stream's own samples
        stem = d.read(stem="s1", dtype="native")
        assert np.array_equal(d.stream_span(d.stream_index("s1"), -100, 2500), stem[:2500])
        assert np.array_equal(d.stream_span(1, 2900, 4000), stem[2900:])
        assert d.residual_index == len(d.stream_infos) - 1 and d.stems == ["s0", "s1", "s2"]
        with pytest.raises(snc.InputError, match="no stream named 'x'"):
            d.stream_index("x")


def test_segment_cuts_and_rechunk():
    class Seg:
        def __init__(self, k):
            self.index, self.start_frame, self.frames = k, 100 * k, 100

    segs = [Seg(k) for k in range(5)]
    cuts = [(seg.index, c.start, c.stop) for seg, c in segment_cuts(segs, 100, 150, 420)]
    assert cuts == [(1, 50, 100), (2, 0, 100), (3, 0, 100), (4, 0, 20)]
    pieces = [np.arange(n)[:, None] for n in (3, 0, 7, 1)]
    blocks = list(rechunk(pieces, 4))
    assert [len(b) for b in blocks] == [4, 4, 3]
    assert np.array_equal(np.concatenate(blocks), np.concatenate(pieces))


def test_bad_requests_are_one_line_errors():
    with Decoder(io.BytesIO(_file())) as d:
        with pytest.raises(snc.InputError, match="dtype"):
            d.read(dtype="int16")
        with pytest.raises(snc.InputError, match="start must be"):
            d.read(start=-1)
        with pytest.raises(snc.InputError, match="blocksize"):
            next(d.blocks(-5))
        with pytest.raises(TypeError):
            d.read(gains={"s0": -6.0})  # a remix is the render layer's (snc.open)
