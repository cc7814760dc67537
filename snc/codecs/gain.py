"""``gain``: the codec of the master stream -- a gain per frame and channel, Q14, linear between knots.

A mastered mix is mostly the sum of its stems through a time-varying gain (a compressor, a limiter), so the
file may carry that gain as a stream of role ``master`` (spec snc-format.md section 3.7): every stem plays
in the mix as ``(G * S + 2^13) >> 14``.  This codec stores ``G`` (spec section 18.5):

- a packet starts with a ``u8`` mode: 0 is unity (``G = 2^14`` everywhere, nothing follows); 1 is knots;
- knots ``k[j, c]`` sit every ``B = 2^knot_shift`` frames from the segment's first frame, ``K =
  (frames - 1) // B + 2`` of them (the last one at or past the segment's end), integers ``0..MAX_KNOT``
  coded as a ``K`` x channels signal of :data:`KNOT_BITS`-bit samples by the ``lossless`` codec
  (spec codec-lossless.md): its prediction takes the knots' smoothness;
- ``G[t, c] = (k[j, c] * (B - r) + k[j + 1, c] * r + B / 2) >> knot_shift`` with ``j = t >> knot_shift``,
  ``r = t & (B - 1)``: integers only, the same gain on every machine;
- the config may give an ``eq`` (format 1.3): per channel, biquad sections in fixed point
  (:mod:`snc.kernels.master_eq`) that every stem goes through before the gain, from each segment's first
  frame: a mastering chain's EQ, which no gain explains;
- the config may give a ``compressor`` (format 1.4): five integers of a feed-forward RMS compressor
  (:mod:`snc.kernels.master_dynamics`) whose gain, computed from the sum of the segment's stems, multiplies
  the knots' (:meth:`GainCodec.segment_gain`): the audio-rate ripple of a compressor's gain, which no knots
  follow.

:meth:`GainCodec.encode` takes the knots (``None``: unity), :meth:`GainCodec.decode` gives the per-frame gain,
:meth:`GainCodec.play` a stem as it plays in the mix.
"""

from __future__ import annotations

import numpy as _np

from ..errors import CodecError
from ..signal.mixing import GAIN_SHIFT, mastered
from .base import Codec
from .registry import register_codec

UNITY = 1 << GAIN_SHIFT
#: the largest knot: +24 dB, more than any mastering chain adds to its input
MAX_KNOT = 1 << 18
#: knots are coded as signed samples of this width (0..MAX_KNOT fits)
KNOT_BITS = 20
MODE_UNITY, MODE_KNOTS = 0, 1
#: knot spacings 2^4 .. 2^12 frames
MIN_KNOT_SHIFT, MAX_KNOT_SHIFT = 4, 12
#: an EQ has 1..MAX_EQ_SECTIONS biquads per channel (a mastering EQ's shelves and peaks)
MAX_EQ_SECTIONS = 4
#: the compressor's parameters and their ranges (Q16; spec section 18.5): threshold and knee in log2 of the
#: detector's level, the slope 1 - 1/ratio, the smoothing coefficients per frame
COMPRESSOR_FIELDS = (("threshold", 0, 40 << 16), ("knee", 0, 16 << 16), ("slope", 0, 1 << 16),
                     ("attack", 1, 1 << 16), ("release", 1, 1 << 16))


def knot_count(frames: int, knot_shift: int) -> int:
    """Knots of a segment of ``frames`` frames: one every ``2^knot_shift`` frames, the last at or past its end."""
    return 0 if frames <= 0 else ((frames - 1) >> knot_shift) + 2


def interpolate(knots: _np.ndarray, frames: int, knot_shift: int) -> _np.ndarray:
    """The per-frame gain (int32, (frames, channels)) linear between ``knots`` (spec section 18.5)."""
    t = _np.arange(frames, dtype=_np.int64)
    j, r = t >> knot_shift, (t & ((1 << knot_shift) - 1))[:, None]
    k = knots.astype(_np.int64)
    g = (k[j] * ((1 << knot_shift) - r) + k[j + 1] * r + (1 << (knot_shift - 1))) >> knot_shift
    return g.astype(_np.int32)


@register_codec
class GainCodec(Codec):
    codec_id = "gain"
    lossless = True

    def __init__(self, *, format: str = "int", bits: int = KNOT_BITS, channels: int = 1, knot_shift: int = 7,
                 eq: list | None = None, compressor: list | None = None):
        super().__init__(format=format, bits=bits, channels=channels)
        if format != "int" or bits != KNOT_BITS:
            raise CodecError(f"gain: the format is int with bits {KNOT_BITS}, got {format!r} {bits!r}")
        if not (isinstance(knot_shift, int) and MIN_KNOT_SHIFT <= knot_shift <= MAX_KNOT_SHIFT):
            raise CodecError(f"gain: knot_shift must be {MIN_KNOT_SHIFT}..{MAX_KNOT_SHIFT}, got {knot_shift!r}")
        self.knot_shift = knot_shift
        self.eq = None if eq is None else _checked_eq(eq, channels)
        self.compressor = None if compressor is None else _checked_compressor(compressor)
        from .lossless import LosslessCodec

        # methods 1 and 2 only: a master stream is readable by every 1.1 reader (format 1.2 names range-coded
        # packets only in ``lossless`` streams, spec snc-format.md section 4.2)
        self._knots_codec = LosslessCodec(format="int", bits=KNOT_BITS, channels=channels, residual_coding="rice")

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "knot_shift": self.knot_shift}
        if self.eq is not None:
            cfg["eq"] = [sections.tolist() for sections in self.eq]
        if self.compressor is not None:
            cfg["compressor"] = list(self.compressor)
        return cfg

    def _equalised(self, block: _np.ndarray) -> _np.ndarray:
        """A stem's segment (int) through the EQ (which the codec must have): int64 with EQ_FRACTION fraction
        bits, every channel from the segment's first frame (spec 3.7, equation "EQ")."""
        from ..kernels import warmup
        from ..kernels.master_eq import eq_cascade  # numba only for files that need it

        warmup.ensure("master-eq")
        out = _np.empty(block.shape, dtype=_np.int64)
        for c, sections in enumerate(self.eq):
            out[:, c] = eq_cascade(_np.ascontiguousarray(block[:, c], dtype=_np.int64), sections)
        return out

    def heard(self, block: _np.ndarray) -> _np.ndarray:
        """A stem's segment (int) as it enters the gain, in sample units (int64): through the EQ, rounded."""
        if self.eq is None:
            return block.astype(_np.int64)
        from ..kernels.master_eq import EQ_FRACTION

        return (self._equalised(block) + (1 << (EQ_FRACTION - 1))) >> EQ_FRACTION

    def segment_gain(self, gain: _np.ndarray, stems) -> _np.ndarray:
        """The gain the segment's stems play through (spec 3.7): the knots' ``gain``, and with a compressor
        ``(G * C + 2^29) >> 30``, ``C`` computed from the sum of ``stems`` (every stem of the segment, whole,
        as decoded) as they enter the gain."""
        if self.compressor is None:
            return gain
        from ..kernels import warmup
        from ..kernels.master_dynamics import EXP2_TABLE, GAIN_BITS, LOG2_TABLE, compressor_gain

        warmup.ensure("master-compressor")
        total = sum((self.heard(s) for s in stems), _np.zeros(gain.shape, dtype=_np.int64))
        level = _np.abs(total).sum(axis=1)
        comp = compressor_gain(level, *self.compressor, LOG2_TABLE, EXP2_TABLE)
        out = gain.astype(_np.int64) * comp[:, None] + (1 << (GAIN_BITS - 1))
        return (out >> GAIN_BITS).astype(_np.int32)

    def play(self, gain: _np.ndarray, block: _np.ndarray) -> _np.ndarray:
        """A stem's ``block`` (int, a whole segment or its start) as it plays in the mix through ``gain``
        (spec snc-format.md 3.7): ``(G * S + 2^13) >> 14``, or with an EQ ``(G * EQ(S) + 2^19) >> 20``."""
        if self.eq is None:
            return mastered(gain, block)
        from ..kernels.master_eq import EQ_FRACTION

        shift = GAIN_SHIFT + EQ_FRACTION
        return ((gain.astype(_np.int64) * self._equalised(block) + (1 << (shift - 1))) >> shift).astype(_np.int32)

    def encode(self, block: _np.ndarray | None, noise=None) -> bytes:
        """One packet of the knots ``block`` ((K, channels) integers 0..MAX_KNOT), or of unity (None)."""
        if block is None:
            return bytes([MODE_UNITY])
        knots = self.check_block(block)
        if knots.size and (knots.min() < 0 or knots.max() > MAX_KNOT):
            raise CodecError(f"gain: knots must be 0..{MAX_KNOT}")
        return bytes([MODE_KNOTS]) + self._knots_codec.encode(knots)

    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        if not (isinstance(frames, (int, _np.integer)) and frames >= 0):
            raise CodecError(f"gain: invalid frame count {frames!r}")
        data = bytes(data)
        if data == bytes([MODE_UNITY]):
            return self.unity(int(frames))
        if not data or data[0] != MODE_KNOTS:
            raise CodecError(f"gain: unknown packet mode {data[0] if data else 'none'}")
        knots = self._knots_codec.decode(data[1:], knot_count(int(frames), self.knot_shift))
        if knots.size and (knots.min() < 0 or knots.max() > MAX_KNOT):
            raise CodecError(f"gain: corrupt packet: a knot outside 0..{MAX_KNOT}")
        return interpolate(knots, int(frames), self.knot_shift)

    def unity(self, frames: int) -> _np.ndarray:
        """The gain of a unity packet."""
        return _np.full((frames, self.channels), UNITY, dtype=_np.int32)

    def concealment(self, frames: int) -> _np.ndarray:
        """A damaged packet is unity gain: the stems as they are, or through the EQ and the compressor (spec
        snc-format.md 3.7)."""
        return self.unity(frames)


def _checked_compressor(compressor) -> tuple[int, ...]:
    """The config's ``compressor`` as five ints, or a CodecError saying what is wrong."""
    if (not isinstance(compressor, (list, tuple)) or len(compressor) != len(COMPRESSOR_FIELDS)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in compressor)):
        raise CodecError("gain: compressor must be five integers: "
                         + ", ".join(name for name, _, _ in COMPRESSOR_FIELDS))
    for value, (name, lo, hi) in zip(compressor, COMPRESSOR_FIELDS):
        if not lo <= value <= hi:
            raise CodecError(f"gain: the compressor's {name} must be {lo}..{hi}, got {value}")
    return tuple(compressor)


def _checked_eq(eq, channels: int) -> list[_np.ndarray]:
    """The config's ``eq`` as one ``(n, 5)`` int64 array per channel, or a CodecError saying what is wrong."""
    from ..kernels.master_eq import MAX_EQ_COEF

    if not isinstance(eq, (list, tuple)) or len(eq) != channels:
        raise CodecError(f"gain: eq must list the sections of each of the {channels} channels")
    out = []
    for sections in eq:
        if not isinstance(sections, (list, tuple)) or not 1 <= len(sections) <= MAX_EQ_SECTIONS:
            raise CodecError(f"gain: eq needs 1..{MAX_EQ_SECTIONS} sections per channel")
        for row in sections:
            if (not isinstance(row, (list, tuple)) or len(row) != 5
                    or not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_EQ_COEF
                               for v in row)):
                raise CodecError(f"gain: an eq section is five integers within +-{MAX_EQ_COEF}, got {row!r}")
        out.append(_np.array(sections, dtype=_np.int64).reshape(-1, 5))
    return out
