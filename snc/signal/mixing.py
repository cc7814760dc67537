"""The exact mix: ``M' = sum_k S'_k + R'`` (spec section "Signal model").

Integer files sum in int64 and clip to the mix's bit depth (a valid file never
clips; the clip only bounds what a damaged file can produce).  Float files sum
in float64, in stream order, then round once to the mix's float format --
IEEE-754 addition in a fixed order gives the same bits on every machine.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as _np


def accumulator_dtype(sample_format: str):
    """int64 for integer files, float64 for float files."""
    return _np.int64 if sample_format == "int" else _np.float64


def sum_streams(blocks: Iterable[_np.ndarray], sample_format: str) -> _np.ndarray:
    """Sum of decoded blocks in stream order, in the accumulator type (the order matters for floats; the
    sum starts from +0.0).  ``blocks`` may be a generator: one block at a time is held besides the sum."""
    acc = None
    for b in blocks:
        if acc is None:
            acc = _np.zeros(b.shape, dtype=accumulator_dtype(sample_format))
        acc += b
    if acc is None:
        raise ValueError("a mix needs at least one stream")
    return acc


#: the master gain's fixed point (spec section 3.7): 2^14 is 1.0
GAIN_SHIFT = 14


def mastered(gain: _np.ndarray, block: _np.ndarray) -> _np.ndarray:
    """A stem as it plays in the mix of a file with a master stream: ``(G * S + 2^13) >> 14`` per sample
    (spec section 3.7; int64 products, an arithmetic shift: exact on every machine)."""
    out = gain.astype(_np.int64) * block + (1 << (GAIN_SHIFT - 1))
    out >>= GAIN_SHIFT
    return out.astype(_np.int32)


def exact_mix(blocks: Iterable[_np.ndarray], sample_format: str, bits: int) -> _np.ndarray:
    """Sum decoded stream blocks (stems then residual, in stream order) into the mix."""
    acc = sum_streams(blocks, sample_format)
    if sample_format == "int":
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        _np.clip(acc, lo, hi, out=acc)
        return acc.astype(_np.int32)
    return acc.astype(sample_format)
