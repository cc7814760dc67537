"""``pcm``: raw little-endian PCM, the reference codec (no compression).

Bytes of a packet: ``frames * channels`` samples, interleaved, little-endian;
integer samples use the smallest whole number of bytes that holds ``bits``
(1, 2, 3 or 4 bytes, two's complement), floats are IEEE-754 binary32/binary64.
"""

from __future__ import annotations

import numpy as _np

from ..errors import CodecError
from .base import Codec
from .registry import register_codec


@register_codec
class PcmCodec(Codec):
    codec_id = "pcm"
    lossless = True

    @property
    def sample_bytes(self) -> int:
        return (self.bits + 7) // 8

    def encode(self, block: _np.ndarray, noise=None) -> bytes:
        """Lossless: ``noise`` (a budget every lossless packet meets) is ignored."""
        block = self.check_block(block)
        if self.format != "int":
            return block.astype(self.dtype.newbyteorder("<"), copy=False).tobytes()
        nbytes = self.sample_bytes
        if nbytes in (1, 2, 4):
            return block.astype(f"<i{nbytes}").tobytes()
        # 3-byte samples: keep the low three bytes of each little-endian int32
        raw = block.astype("<i4").reshape(-1).view(_np.uint8).reshape(-1, 4)
        return raw[:, :3].tobytes()

    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        nbytes = self.sample_bytes
        expected = frames * self.channels * nbytes
        if len(data) != expected:
            raise CodecError(f"pcm: packet has {len(data)} bytes, expected {expected}")
        if self.format != "int":
            out = _np.frombuffer(data, dtype=self.dtype.newbyteorder("<")).astype(self.dtype)
        elif nbytes in (1, 2, 4):
            out = _np.frombuffer(data, dtype=f"<i{nbytes}").astype(_np.int32)
        else:
            raw = _np.frombuffer(data, dtype=_np.uint8).reshape(-1, 3).astype(_np.int32)
            out = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
            out = (out << 8) >> 8  # sign-extend 24 -> 32 bits
        out = out.reshape(frames, self.channels)
        if self.format == "int" and self.bits not in (8, 16, 24, 32):
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
            if out.size and (out.min() < lo or out.max() > hi):
                raise CodecError(f"pcm: samples exceed the stream's {self.bits}-bit range")
        return out
