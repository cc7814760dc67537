"""Every conformance vector in spec/vectors decodes to its stored hashes, or fails as documented."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import snc
from snc.container.hashing import canonical_bytes

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "vectors"


def _load(folder: str) -> dict:
    return json.loads((VECTORS / folder / "expected.json").read_text())


def _digest(block, fmt: str) -> str:
    return hashlib.sha256(canonical_bytes(block, fmt)).hexdigest()


def test_every_vector_file_is_listed():
    for folder in ("valid", "uncommon", "faulty"):
        files = {p.name for p in (VECTORS / folder).glob("*.snc")}
        assert files and files == set(_load(folder)), folder
        assert (VECTORS / folder / "README.md").exists()


@pytest.mark.parametrize("folder,name", [(f, n) for f in ("valid", "uncommon") for n in sorted(_load(f))])
def test_decodes_to_expected_hashes(folder, name):
    want = _load(folder)[name]
    with snc.open(VECTORS / folder / name) as f:
        assert (f.frames, f.channels) == (want["frames"], want["channels"])
        mix = f.read(dtype="native")
        assert _digest(mix, f.info.sample_format) == want["mix_sha256"]
        for st in f.streams:
            block = f.read(stem=st.name, dtype="native")
            assert _digest(block, f.codec(st.index).format) == want["streams_sha256"][st.name], st.name
        if "master" in want["streams_sha256"]:  # the master stream's gain (spec section 3.7)
            gain = np.concatenate([f.master_knots(seg) for seg in f.segments])
            assert _digest(gain, "int") == want["streams_sha256"]["master"]
        else:
            assert f.master is None
        result = f.verify()
        assert result["mix"] and all(result["streams"].values())


@pytest.mark.parametrize("name", sorted(_load("faulty")))
def test_faulty_vectors_fail_with_the_documented_error(name):
    want = _load("faulty")[name]
    error = getattr(snc, want["error"])
    with pytest.raises(error, match=want["message"]):
        with snc.open(VECTORS / "faulty" / name, strict=True) as f:
            if want["raised_by"] == "open":
                pytest.fail("expected the error when opening")
            f.read()
            f.read(gains={f.stems[0]: -6.0})


@pytest.mark.parametrize("name", sorted(n for n, e in _load("faulty").items() if e.get("concealed")))
def test_damaged_vectors_are_concealed_by_default(name):
    """A damaged packet is silence for its stream and segment, reported; the rest decodes."""
    want = _load("faulty")[name]["concealed"]
    with snc.open(VECTORS / "faulty" / name) as f:
        with pytest.warns(snc.SncWarning, match="damaged packet concealed"):
            mix = f.read(dtype="native")
        assert mix.shape == (f.frames, f.channels)
        assert [(d["stream"], d["start"], d["frames"]) for d in f.damaged] == [tuple(x) for x in want]
