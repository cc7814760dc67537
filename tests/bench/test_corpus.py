"""Short excerpts of the shared corpus round-trip bit-exact with their true stems (skipped without it)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from conftest import CORPUS, corpus_items, requires_corpus

import snc

EXCERPT = 3 * 44100  # frames: keep the tests quick


def _excerpt(path, start=10 * 44100):
    data, rate = sf.read(str(path), dtype="int16", start=start, frames=EXCERPT, always_2d=True)
    return data.astype(np.int32), rate


@requires_corpus
@pytest.mark.parametrize("item", corpus_items(), ids=lambda it: it["id"])
def test_true_stems_roundtrip_exact(item):
    root = CORPUS / item["path"]
    mix, rate = _excerpt(root / "mix.flac")
    stems = {name: _excerpt(root / "stems" / f"{name}.flac")[0] for name in item["stems"]}
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=rate, bits=16, verify=True, preset="archival")
    assert report.verified
    buf.seek(0)
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
        for name, data in stems.items():
            assert np.array_equal(f.read(stem=name, dtype="native"), data)
        # the corpus has no mastering chain: the residual is rounding noise and costs little
        assert f.streams[-1].bytes < 0.15 * sum(s.bytes for s in f.streams)


@requires_corpus
def test_mixed_only_item_as_one_stem(tmp_path):
    item = corpus_items("mixed")[0]
    mix, rate = _excerpt(CORPUS / item["path"] / "mix.flac")
    sf.write(tmp_path / "mix.wav", mix.astype(np.int16), rate)
    report = snc.encode(tmp_path / "mix.wav", tmp_path / "m.snc", verify=True, preset="archival")
    assert report.verified and [s["name"] for s in report.streams] == ["mix", "residual"]
