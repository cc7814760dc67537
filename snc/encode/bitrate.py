"""The bitrate search of ``--bitrate``: the tuning offset whose whole-file encode comes closest to a rate.

The file's size falls monotonically with the offset of :meth:`~snc.encode.tuning.PerceptualTuning.shifted`, so
the offset is found by bisection on the measured size of whole in-memory encodes.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from .tuning import BITRATE_SEARCH_DB, BITRATE_SEARCH_STEPS


def offset_for_bitrate(encode_at: Callable, kbps: float, progress) -> float:
    """The offset (dB) whose encode comes closest to ``kbps`` without exceeding it (if possible): bisection
    over :data:`~snc.encode.tuning.BITRATE_SEARCH_DB` in :data:`~snc.encode.tuning.BITRATE_SEARCH_STEPS` steps.
    ``encode_at(output, offset_db)`` encodes the file at an offset and returns its
    :class:`~snc.encode.report.EncodeReport`."""
    lo, hi = BITRATE_SEARCH_DB  # lo: finest (largest file), hi: coarsest
    best = hi
    for step in range(BITRATE_SEARCH_STEPS):
        mid = 0.5 * (lo + hi)
        report = encode_at(io.BytesIO(), mid)
        got = report.file_bytes * 8 / (report.frames / report.sample_rate) / 1000.0
        if progress is not None:
            progress({"stage": "bitrate search", "step": step + 1, "steps": BITRATE_SEARCH_STEPS,
                      "offset_db": mid, "kbps": got, "frames_done": step + 1, "frames_total": BITRATE_SEARCH_STEPS})
        if got > kbps:
            lo = mid
        else:
            best = hi = mid
    return best
