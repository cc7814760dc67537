"""``format_version``: the default file is 1.2 where its lossless streams may range code their residuals
(lossless method 3); ``"1.1"`` keeps Rice-coded residuals, so every 1.1 reader decodes the file."""

from __future__ import annotations

import io

import numpy as np
import pytest

import snc
from snc.container.reader import ContainerReader
from snc.errors import InputError

RATE = 44100


def _song():
    """Three stems rounded on their own and a mix rounded from their exact sum: a rounding residual."""
    rng = np.random.default_rng(5)
    t = np.arange(20000)[:, None]
    exact = [np.sin(2 * np.pi * f * t + [0.0, 0.5]) * a + rng.normal(0, 30, (len(t), 2))
             for f, a in ((0.01, 6000.0), (0.003, 5000.0), (0.02, 3000.0))]
    stems = {name: np.round(v).astype(np.int32) for name, v in zip(("drums", "bass", "keys"), exact)}
    return np.round(sum(exact) + 1.5).astype(np.int32), stems


def _encode(**kw):
    mix, stems = _song()
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="archival", **kw)
    reader = ContainerReader(io.BytesIO(buf.getvalue()))
    methods = {reader.read_packet(seg, i)[0] for seg in reader.segments for i in range(len(reader.streams))}
    with snc.open(io.BytesIO(buf.getvalue())) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        for name, stem in stems.items():
            assert np.array_equal(f.read(stem=name, dtype="native"), stem)
        version = f.describe()["format_version"]
    return len(buf.getvalue()), version, methods


def test_default_is_1_2_with_range_coded_packets_and_1_1_has_none():
    size, version, methods = _encode()
    assert version == "1.2" and 3 in methods
    size_11, version_11, methods_11 = _encode(format_version="1.1")
    assert version_11 in ("1.0", "1.1") and methods_11 <= {1, 2}
    assert size < size_11
    assert _encode(format_version="1.2")[:2] == (size, "1.2")


@pytest.mark.parametrize("value", ["1.0", "2.0", 1.1, ""])
def test_unknown_format_versions_are_refused(value):
    with pytest.raises(InputError, match="format version"):
        snc.encode(np.zeros((100, 2), np.int16), io.BytesIO(), samplerate=RATE, format_version=value)
