"""Band layout of the ``perceptual`` codec: which MDCT bins share a step size.

A band starting at bin ``k`` of an ``n``-bin transform is ``round(k / 8)`` bins wide,
at least 4 and at most ``n / 32`` bins (32 for a long 1024-bin frame, 4 for a
128-bin short block); the last band ends at ``n``. Widths grow like the ear's
critical bands at low frequencies (about 1/8 octave) and stay narrow at high
frequencies so the step size can follow the masking threshold closely.
Integer-only, so the layout is identical everywhere (spec: codec-perceptual.md).
"""

from __future__ import annotations

from functools import cache

import numpy as np

MIN_WIDTH = 4


@cache
def _edges(n: int) -> tuple:
    if n < MIN_WIDTH or n % MIN_WIDTH:
        raise ValueError(f"transform size must be a positive multiple of {MIN_WIDTH}, got {n}")
    max_width = max(MIN_WIDTH, n // 32)
    edges = [0]
    k = 0
    while k < n:
        width = min(max((k + 4) // 8, MIN_WIDTH), max_width)  # round(k / 8), integer-only
        k = min(k + width, n)
        if n - k < MIN_WIDTH:  # no sliver at the top: the last band absorbs it
            k = n
        edges.append(k)
    return tuple(edges)


def band_edges(n: int) -> np.ndarray:
    """Band edges (int64, ``nbands + 1`` values from 0 to ``n``) of an ``n``-bin transform."""
    return np.array(_edges(n), dtype=np.int64)


def band_power(power: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of a per-bin power (..., 1024) over each band -> (..., nbands)."""
    sums = np.add.reduceat(np.asarray(power, dtype=np.float64), edges[:-1], axis=-1)
    return sums / np.diff(edges)


def expand_bands(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-band values (..., nbands) -> per-bin values (..., edges[-1])."""
    return np.repeat(values, np.diff(edges), axis=-1)
