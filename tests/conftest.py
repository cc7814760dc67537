"""Shared fixtures: small random multitracks and the optional shared corpus."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

CORPUS = Path(os.environ.get("SNC_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def random_multitrack(seed: int = 0, frames: int = 5000, channels: int = 2, bits: int = 16, stems: int = 3):
    """Random stems whose sum, plus a little 'mastering' noise, clipped, is the mix (a non-trivial residual)."""
    rng = np.random.default_rng(seed)
    hi = (1 << (bits - 1)) - 1
    amp = max(1, hi // (2 * stems))
    parts = {f"s{k}": rng.integers(-amp, amp, (frames, channels)).astype(np.int32) for k in range(stems)}
    total = sum(p.astype(np.int64) for p in parts.values())
    mix = np.clip(total + rng.integers(-3, 4, total.shape), -hi - 1, hi).astype(np.int32)
    return mix, parts


def archival_bytes(seed: int, frames: int) -> bytes:
    """An archival ``.snc`` (bytes) of :func:`random_multitrack` at 8 kHz, three stems, 2048-frame segments."""
    import io

    import snc

    mix, stems = random_multitrack(seed, frames=frames, channels=2, stems=3)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=8000, bits=16, segment_frames=2048, preset="archival")
    return buf.getvalue()


@pytest.fixture
def multitrack():
    return random_multitrack()


@pytest.fixture
def small_snc(tmp_path, multitrack):
    import snc

    mix, stems = multitrack
    path = tmp_path / "small.snc"
    snc.encode(mix, path, stems=stems, samplerate=44100, bits=16, segment_frames=1024, preset="archival")
    return path, mix, stems


def corpus_items(kind: str = "multitrack"):
    import json

    manifest = CORPUS / "manifest.json"
    if not manifest.exists():
        return []
    return [it for it in json.loads(manifest.read_text())["items"] if it["kind"] == kind]


requires_corpus = pytest.mark.skipif(not (CORPUS / "manifest.json").exists(),
                                     reason=f"shared corpus not found at {CORPUS} (set SNC_CORPUS)")
