"""A short, deterministic run of tools/fuzz_snc.py: mutated vectors raise SncError or decode verified."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import snc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from fuzz_snc import VECTORS, exercise, mutate  # noqa: E402


@pytest.mark.slow
def test_mutated_vectors_fail_cleanly():
    seeds = [p.read_bytes() for p in sorted((VECTORS / "uncommon").glob("*.snc"))]
    rng = np.random.default_rng(2024)
    outcomes = {"rejected": 0, "decoded": 0}
    for _ in range(1500):
        data = mutate(seeds[int(rng.integers(len(seeds)))], rng)
        try:
            exercise(data)  # raises SilentCorruption (not an SncError) if the hashes fail
            outcomes["decoded"] += 1
        except snc.SncError:
            outcomes["rejected"] += 1
    assert outcomes["rejected"] > 1000
