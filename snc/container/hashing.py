"""Content hashes of decoded signals (spec section "HASH chunk").

The hash of a signal is SHA-256 over its samples, frames in order, channels
interleaved, each sample as little-endian: int32 for integer streams, binary32
or binary64 for float streams.
"""

from __future__ import annotations

import hashlib

import numpy as _np

_CANONICAL = {"int": "<i4", "float32": "<f4", "float64": "<f8"}


def canonical_bytes(block: _np.ndarray, sample_format: str) -> bytes:
    return _np.ascontiguousarray(block, dtype=_CANONICAL[sample_format]).tobytes()


class SignalHasher:
    """Incremental SHA-256 of a decoded signal fed block by block."""

    def __init__(self, sample_format: str):
        self.sample_format = sample_format
        self._sha = hashlib.sha256()

    def update(self, block: _np.ndarray) -> None:
        self._sha.update(canonical_bytes(block, self.sample_format))

    def digest(self) -> bytes:
        return self._sha.digest()
