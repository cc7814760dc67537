"""Running median along the last axis, for the built-in separator's harmonic/percussive split.

``median_rows(x, k)`` equals ``scipy.ndimage.median_filter(x, size=(1, k), mode="nearest")`` for an
odd ``k`` (the reference in tests/separate/test_separate_dsp.py).  Ours keeps one sorted window per row and
moves it by one removal and one insertion (O(k) per output instead of O(k log k)), far faster than
scipy's filter, which is what lets the separator run far above real time (figures: docs/measurements.md).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def _median_row(row, k, out):
    n = row.shape[0]
    half = k // 2
    win = np.empty(k, dtype=row.dtype)
    # window of output 0 with "nearest" edges: row[0] repeated half times, then row[0..half]
    for j in range(k):
        win[j] = row[min(max(j - half, 0), n - 1)]
    win.sort()
    out[0] = win[half]
    for i in range(1, n):
        old = row[min(max(i - 1 - half, 0), n - 1)]
        new = row[min(i + half, n - 1)]
        # remove one copy of old (binary search for its position)
        lo, hi = 0, k
        while lo < hi:
            mid = (lo + hi) >> 1
            if win[mid] < old:
                lo = mid + 1
            else:
                hi = mid
        pos = lo
        # insert new, shifting the elements between the two positions by one
        if new >= old:
            while pos + 1 < k and win[pos + 1] < new:
                win[pos] = win[pos + 1]
                pos += 1
        else:
            while pos > 0 and win[pos - 1] > new:
                win[pos] = win[pos - 1]
                pos -= 1
        win[pos] = new
        out[i] = win[half]


@kernel
def _median_rows(x, k, out):
    for r in range(x.shape[0]):
        _median_row(x[r], k, out[r])


def median_rows(x: np.ndarray, k: int) -> np.ndarray:
    """Median of each length-``k`` window (odd ``k``) along the last axis of a 2-D array, edges
    extended with the first/last value; float32 stays float32, anything else becomes float64."""
    if k < 1 or k % 2 == 0:
        raise ValueError(f"the window must be odd and positive, got {k}")
    x = np.ascontiguousarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    out = np.empty_like(x)
    if x.shape[-1]:
        _median_rows(x, k, out)
    return out
