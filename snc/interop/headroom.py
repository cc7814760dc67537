"""Integer tracks that must add up exactly but may exceed full scale one by one (a stem slot louder than the
mix, a residual against loud stems): written 24 bits wide with as many bits of headroom as they need, every
track at the same level, so that the sum stays exact."""

from __future__ import annotations

import numpy as _np

from ..errors import InputError


class Overflow(Exception):
    """A track beyond the written width's full scale by ``bits_over`` bits."""

    def __init__(self, bits_over: int):
        super().__init__(bits_over)
        self.bits_over = bits_over


def check_range(tracks: list[_np.ndarray], src_bits: int, width: int, headroom: int) -> None:
    """Raise :class:`Overflow` when a track (source units) does not fit ``width`` bits at the source's level less
    ``headroom`` bits."""
    peak = max(max(int(t.max()), -int(t.min()) - 1) for t in tracks) if len(tracks[0]) else 0
    over = max(peak, 1).bit_length() - (src_bits - 1)
    if over > (headroom if width > src_bits else 0):
        raise Overflow(over)


def headroom_for(over: Overflow, src_bits: int, headroom: int) -> int:
    """The headroom (bits) a 24-bit export needs after ``over``; an InputError when 24 bits cannot hold it."""
    if over.bits_over > 24 - src_bits:
        raise InputError(f"a track reaches {over.bits_over} bits above full scale; 24-bit integer audio cannot "
                         f"hold it exactly")
    return max(headroom, over.bits_over)
