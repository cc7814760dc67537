"""``lossless``: bit-exact compression of integer PCM (linear prediction, then Rice or range coding).

A FLAC-like method (RFC 9639): blocks of up to ``block_frames`` frames, stereo
decorrelation, per-channel fixed or LPC predictor, partitioned Rice residuals
with raw escapes (method 1), an adaptive filter cascade on the residuals
(method 2), and the residuals coded by an adaptive binary range coder
(method 3).  The bitstream is specified normatively in
``spec/codec-lossless.md``; the kernels live in :mod:`snc.kernels`.

Config: the base config (``format`` must be ``"int"``, ``bits`` 8..32,
``channels`` 1..8) plus the encoder settings ``block_frames`` (16..65536,
default 4096), ``max_order`` (0..32, default 32) and ``residual_coding``
(``"adaptive"``, the default, or ``"rice"``).  The decoder needs none of
them: every packet carries its method, every block its length and predictor.
"""

from __future__ import annotations

import numpy as _np

from ..errors import CodecError
from ..kernels import bitio, errcodes, warmup
from ..kernels.lossless_decode import decode_packet
from ..kernels.lossless_encode import bound_bytes, encode_planned, plan_packet
from .base import Codec
from .registry import register_codec

MAX_CHANNELS = 8
MAX_BLOCK_FRAMES = 1 << 16
#: ``rice``: methods 1 and 2 only (readable by every 1.x reader); ``adaptive``: also method 3, the
#: residuals range coded (spec section 14; format 1.2), written where it is smaller
RESIDUAL_CODINGS = ("rice", "adaptive")
#: a long cascade after Monkey's Audio's strongest modes (1024 and 256 taps there; the format's longest stage is
#: 512): it follows tonal music's long periodicities, at about half the default's decoding speed.  Chosen on
#: every corpus song at once by bench/cascade.py (docs/lossless-cascade.md).
LONG_FILTERS = ((512, 15), (256, 13), (16, 11))


@register_codec
class LosslessCodec(Codec):
    codec_id = "lossless"
    lossless = True
    #: the encoder's adaptive filter cascade for method-2 packets (spec section 13): (order, shift) per stage;
    #: an empty tuple writes method-1 packets only
    filters: tuple = ((32, 10), (16, 11))
    #: more cascades the encoder tries on every packet, keeping the smallest packet (a tie keeps the default,
    #: which decodes faster): none by default; the archival preset adds :data:`LONG_FILTERS`
    alternative_filters: tuple = ()

    def __init__(
        self,
        *,
        format: str = "int",
        bits: int = 16,
        channels: int = 1,
        block_frames: int = 4096,
        max_order: int = 32,
        residual_coding: str = "adaptive",
    ):
        super().__init__(format=format, bits=bits, channels=channels)
        if format != "int":
            raise CodecError(f"lossless: only integer samples are supported, got format {format!r}")
        if not 1 <= channels <= MAX_CHANNELS:
            raise CodecError(f"lossless: channels must be 1..{MAX_CHANNELS}, got {channels!r}")
        if not (isinstance(block_frames, int) and 16 <= block_frames <= MAX_BLOCK_FRAMES):
            raise CodecError(f"lossless: block_frames must be 16..{MAX_BLOCK_FRAMES}, got {block_frames!r}")
        if not (isinstance(max_order, int) and 0 <= max_order <= 32):
            raise CodecError(f"lossless: max_order must be 0..32, got {max_order!r}")
        if residual_coding not in RESIDUAL_CODINGS:
            raise CodecError(f"lossless: residual_coding must be one of {', '.join(RESIDUAL_CODINGS)}, "
                             f"got {residual_coding!r}")
        self.block_frames = block_frames
        self.max_order = max_order
        self.residual_coding = residual_coding

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg["block_frames"] = self.block_frames
        cfg["max_order"] = self.max_order
        cfg["residual_coding"] = self.residual_coding
        return cfg

    def encode(self, block: _np.ndarray, noise=None) -> bytes:
        """Lossless: ``noise`` (a budget every lossless packet meets) is ignored."""
        block = self.check_block(block)
        warmup.ensure("lossless-encode")
        frames = block.shape[0]
        size = bound_bytes(frames, self.channels, self.bits, self.block_frames)
        adaptive = self.residual_coding == "adaptive"
        # blocks and predictors do not depend on the cascade: planned once for every cascade tried
        plan = plan_packet(block, self.bits, self.block_frames, self.max_order)
        best = None
        for filters in (self.filters, *self.alternative_filters):
            buf = _np.zeros(size, dtype=_np.uint8)
            orders = _np.array([o for o, _ in filters], dtype=_np.int64)
            shifts = _np.array([s for _, s in filters], dtype=_np.int64)
            nbytes = encode_planned(block, self.bits, self.block_frames, *plan, orders, shifts, adaptive, buf,
                                    bitio.new_state())
            if nbytes < 0:  # pragma: no cover - the bound is exact, this is a bug
                raise CodecError("lossless: internal error: encoder buffer too small")
            if best is None or nbytes < len(best):
                best = buf[:nbytes].tobytes()
        return best

    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        if not (isinstance(frames, (int, _np.integer)) and frames >= 0):
            raise CodecError(f"lossless: invalid frame count {frames!r}")
        frames = int(frames)
        data = bytes(data)
        # spec section 8: a block of at most 65536 frames takes at least 16 + 4 * channels bits,
        # so a short (corrupt) packet cannot make us allocate a huge output
        max_blocks = max(0, 8 * len(data) - 8) // (16 + 4 * self.channels)
        if frames > MAX_BLOCK_FRAMES * max_blocks:
            raise CodecError(f"lossless: corrupt packet: {len(data)} bytes cannot hold {frames} frames")
        out = _np.empty((frames, self.channels), dtype=_np.int32)
        warmup.ensure("lossless-decode")
        err, bitpos = decode_packet(bitio.padded(data), 8 * len(data), out, self.bits)
        if err != errcodes.OK:
            raise CodecError(f"lossless: corrupt packet: {errcodes.message(err, bitpos)}")
        return out
