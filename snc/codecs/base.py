"""The stream-codec contract (after numcodecs' ``abc.py``).

A codec turns one packet of audio -- a NumPy array of shape ``(frames, channels)`` --
into bytes and back.  It is identified by ``codec_id`` and fully described by the
JSON-serialisable dict returned by :meth:`Codec.get_config`; the container stores
both per stream, so ``get_codec(codec_id, config)`` rebuilds the same decoder.

Sample formats (``config["format"]``):

* ``"int"`` with ``config["bits"]`` in 8..32: signed integers, stored in ``int32`` arrays;
* ``"float32"`` / ``"float64"``: IEEE floats.

The contract an encoder uses is :meth:`Codec.encode` (``encode(block, noise=None)``),
:meth:`Codec.decode` (``decode(packet, frames)``) and :attr:`Codec.lossless`.  A codec is
configured once, at construction: its format, and any encoder settings of its own, cannot be
changed afterwards.

``decode`` MUST be deterministic and, for lossless codecs, return exactly the
array given to ``encode``.  ``decode`` raises :class:`~snc.errors.CodecError`
on malformed bytes -- never an IndexError or a crash.
"""

from __future__ import annotations

import numpy as _np

from ..errors import CodecError

SAMPLE_FORMATS = ("int", "float32", "float64")


class Codec:
    """Base class of stream codecs. Subclasses set ``codec_id`` and ``lossless``."""

    __slots__ = ("_format", "_bits", "_channels")
    codec_id: str = ""
    #: True when ``decode(encode(x)) == x`` bit for bit.
    lossless: bool = False

    def __init__(self, *, format: str = "int", bits: int = 16, channels: int = 1):
        if format not in SAMPLE_FORMATS:
            raise CodecError(f"{self.codec_id}: unknown sample format {format!r}")
        if format == "int" and not (isinstance(bits, int) and 8 <= bits <= 32):
            raise CodecError(f"{self.codec_id}: integer bits must be 8..32, got {bits!r}")
        if not (isinstance(channels, int) and 1 <= channels <= 255):
            raise CodecError(f"{self.codec_id}: channels must be 1..255, got {channels!r}")
        self._format = format
        self._bits = bits if format == "int" else (32 if format == "float32" else 64)
        self._channels = channels

    @property
    def format(self) -> str:
        """Sample format: ``"int"``, ``"float32"`` or ``"float64"``."""
        return self._format

    @property
    def bits(self) -> int:
        """Bits per sample (32 / 64 for floats)."""
        return self._bits

    @property
    def channels(self) -> int:
        return self._channels

    # -- configuration -------------------------------------------------
    def get_config(self) -> dict:
        """JSON-serialisable configuration; ``type(self).from_config(cfg)`` rebuilds the codec."""
        cfg = {"format": self.format, "channels": self.channels}
        if self.format == "int":
            cfg["bits"] = self.bits
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> Codec:
        """Rebuild from a stored config; missing required keys are an error, never a guess."""
        required = {"format", "channels"} | ({"bits"} if config.get("format") == "int" else set())
        missing = required - set(config)
        if missing:
            raise CodecError(f"{cls.codec_id}: codec config lacks {sorted(missing)}")
        if config.get("format") != "int" and "bits" in config:
            raise CodecError(f"{cls.codec_id}: a float codec config must not give 'bits'")
        try:
            return cls(**config)
        except TypeError as exc:  # unknown keys in a stored config
            raise CodecError(f"{cls.codec_id}: invalid codec config {config!r}: {exc}") from None

    @property
    def dtype(self) -> _np.dtype:
        """NumPy dtype of decoded blocks."""
        return _np.dtype({"int": "int32", "float32": "float32", "float64": "float64"}[self.format])

    # -- coding --------------------------------------------------------
    def encode(self, block: _np.ndarray, noise: _np.ndarray | None = None) -> bytes:  # pragma: no cover - interface
        """One packet of ``block`` (frames, channels).  ``noise``: the coding noise the encoder may add, a power
        per MDCT bin ``(F, channels, 1024)`` (:func:`snc.kernels.mdct.n_frames` frames), or None (the codec's
        own choice).  A lossless codec adds none, so it meets every budget and ignores ``noise``."""
        raise NotImplementedError

    def decode(self, data: bytes, frames: int) -> _np.ndarray:  # pragma: no cover - interface
        """The ``frames`` x channels samples of one packet; :class:`~snc.errors.CodecError` on malformed bytes."""
        raise NotImplementedError

    def concealment(self, frames: int) -> _np.ndarray:
        """What a damaged packet of ``frames`` frames decodes as: silence (spec snc-format.md 16.4)."""
        return _np.zeros((frames, self.channels), dtype=self.dtype)

    def check_block(self, block: _np.ndarray) -> _np.ndarray:
        """Validate a block given to :meth:`encode` and return it as a C-contiguous array."""
        block = _np.asarray(block)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise CodecError(
                f"{self.codec_id}: expected a (frames, {self.channels}) block, got shape {block.shape}"
            )
        if self.format == "int":
            if block.dtype.kind not in "iu":
                raise CodecError(f"{self.codec_id}: integer stream given {block.dtype} samples")
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
            if block.size and (block.min() < lo or block.max() > hi):
                raise CodecError(f"{self.codec_id}: samples exceed {self.bits}-bit range")
        return _np.ascontiguousarray(block, dtype=self.dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
