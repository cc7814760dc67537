"""The integer tracks every export writes, read from an SNC file block by block: each stem as it plays in the
mix, the residual, and the mix as the decoder forms it from them.

Every stream is decoded once per block; the mix is their sum (:func:`snc.signal.mixing.exact_mix`, the
decoder's own rule), not a second decode of every stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as _np

from ..signal.mixing import exact_mix

#: frames per block: a multiple of every attribution hop, a few MB per stream
BLOCK_FRAMES = 1 << 18


@dataclass
class Block:
    """Frames ``[start, start + len(mix))``: ``stems`` in the file's order (name -> int64 as played), the
    ``residual`` and the ``mix`` (int64, native units)."""

    start: int
    mix: _np.ndarray
    stems: dict[str, _np.ndarray]
    residual: _np.ndarray


def blocks(f, block_frames: int = BLOCK_FRAMES) -> Iterator[Block]:
    for start in range(0, f.frames, block_frames):
        n = min(block_frames, f.frames - start)
        stems = {name: f.read(n, start=start, stem=name, dtype="native", played=True).astype(_np.int64)
                 for name in f.stems}
        residual = f.read(n, start=start, stem="residual", dtype="native").astype(_np.int64)
        mix = exact_mix([*stems.values(), residual], "int", f.info.bits).astype(_np.int64)
        yield Block(start, mix, stems, residual)
