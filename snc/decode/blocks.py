"""Signals in blocks: segment cuts of a frame range, pieces of any length re-cut to a block size.

A read or a block stream is a range of frames ``[start, stop)``; :func:`segment_cuts` says which part
of which segment covers it, a caller makes each segment's signal (the exact mix, one stream, a remix)
and :func:`rechunk` cuts the pieces into blocks of the size asked for.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as _np

from ..errors import InputError

#: what :meth:`snc.decode.Decoder.read` and ``blocks`` give: floats scaled to [-1, 1), or the stored samples
DTYPES = ("float64", "float32", "native")


def check_dtype(dtype) -> None:
    if dtype not in DTYPES:
        raise InputError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def check_blocksize(blocksize: int) -> int:
    if blocksize <= 0:
        raise InputError("blocksize must be positive")
    return blocksize


def frame_range(start, frames: int | None, total: int) -> tuple[int, int]:
    """``(start, stop)`` of ``frames`` frames from ``start`` (all by default), clipped to ``total``."""
    if not isinstance(start, (int, _np.integer)) or start < 0 or start > total:
        raise InputError(f"start must be a frame position 0..{total}, got {start!r}")
    stop = total if frames is None or frames < 0 else min(total, start + int(frames))
    return int(start), stop


def segment_cuts(segments, segment_frames: int, start: int, stop: int) -> Iterator[tuple]:
    """``(segment, slice of it)`` covering frames ``[start, stop)`` in order."""
    pos = start
    while pos < stop:
        seg = segments[pos // segment_frames]
        end = min(stop, seg.start_frame + seg.frames)
        yield seg, slice(pos - seg.start_frame, end - seg.start_frame)
        pos = end


def rechunk(pieces, blocksize: int) -> Iterator[_np.ndarray]:
    """Blocks of exactly ``blocksize`` frames (the last may be shorter) from pieces of any length."""
    pending: list[_np.ndarray] = []
    count = 0
    for piece in pieces:
        if not len(piece):
            continue
        pending.append(piece)
        count += len(piece)
        while count >= blocksize:
            joined = _np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:blocksize]
            rest = joined[blocksize:]
            pending, count = ([rest], len(rest)) if len(rest) else ([], 0)
    if count:
        yield _np.concatenate(pending) if len(pending) > 1 else pending[0]


def whole(pieces, frames: int, channels: int, empty_dtype) -> _np.ndarray:
    """The ``frames`` frames of ``pieces`` as one array (the pieces' own dtype), or an empty one of
    ``empty_dtype`` when there are none."""
    parts = list(rechunk(pieces, max(frames, 1)))
    if not parts:
        return _np.zeros((0, channels), dtype=empty_dtype)
    return parts[0]
