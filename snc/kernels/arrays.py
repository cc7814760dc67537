"""Array helpers for kernels.

:func:`copy` replaces slice-to-slice assignment (``a[i:i+n] = b[j:j+n]``) inside kernels: numba
compiles that with a shape check whose error message needs its string formatting code, which
costs seconds of first-run compile per command for a check the kernels' own bounds make redundant.
"""

from __future__ import annotations

from ._jit import kernel


@kernel
def copy(dst, dst_start, src, src_start, n):
    """``dst[dst_start:dst_start+n] = src[src_start:src_start+n]`` element by element, front to back
    (so also right for overlapping ranges with ``dst_start <= src_start`` in the same array)."""
    for i in range(n):
        dst[dst_start + i] = src[src_start + i]
