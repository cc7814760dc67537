"""``float``: bit-exact compression of IEEE float samples (float32 and float64).

Each sample ``x`` is split at a per-packet binary point ``2^-E`` into an integer part
``I = trunc(x * 2^E)``, coded by the ``lossless`` integer codec (which predicts it like any
PCM), and the exact bits of ``x`` below that point, stored raw: a float has ``P`` significant
bits (24 for float32, 53 for float64), so once ``I`` has ``L`` bits at most ``P - L`` bits of
``x`` remain (after WavPack's float mode).  Samples whose integer part is zero (tiny values,
-0.0, subnormals) or too large for 31 bits are stored as their raw IEEE pattern.  Float audio
that holds 16- or 24-bit integers has no bits left below the point: it costs what the integer
file costs.  The bytes are specified in ``spec/codec-float.md``.

Config: ``format`` (``"float32"`` or ``"float64"``) and ``channels`` (1..8); the integer parts
use the lossless codec's defaults.  No kernel of its own: every step is a NumPy array operation,
so the code is its own reference.
"""

from __future__ import annotations

import struct

import numpy as _np

from ..errors import CodecError
from .base import Codec
from .lossless import MAX_CHANNELS, LosslessCodec
from .registry import register_codec

VERSION = 1
#: fraction modes (flags bits 0-1): no bits below the point / P - L bits each / widths coded per sample
NO_FRACTION, DERIVED, EXPLICIT = 0, 1, 2
#: flags bit 2: the side bits are one zstd frame
ZSTD_FLAG = 4
#: integer parts have at most this many magnitude bits (a 32-bit lossless stream with its sign)
INT_MAGNITUDE_BITS = 31
#: the default binary point: a float of full scale 1.0 becomes a 24-bit integer
DEFAULT_EXPONENT = 23
MIN_EXPONENT, MAX_EXPONENT = -128, 127
_HEADER = struct.Struct("<BBbB")
_LENGTH = struct.Struct("<I")
_MANTISSA = {"float32": 24, "float64": 53}
_RAW = {"float32": (_np.uint32, 32), "float64": (_np.uint64, 64)}


@register_codec
class FloatCodec(Codec):
    codec_id = "float"
    lossless = True
    #: the integer part's ``lossless`` encoder also tries these cascades (LosslessCodec.alternative_filters)
    alternative_filters: tuple = ()

    def __init__(self, *, format: str = "float32", channels: int = 1):
        super().__init__(format=format, channels=channels)
        if format not in _MANTISSA:
            raise CodecError(f"float: format must be 'float32' or 'float64', got {format!r}")
        if not 1 <= channels <= MAX_CHANNELS:
            raise CodecError(f"float: channels must be 1..{MAX_CHANNELS}, got {channels!r}")
        self.mantissa_bits = _MANTISSA[format]

    # -- encoder ---------------------------------------------------------
    def encode(self, block: _np.ndarray, noise=None) -> bytes:
        """Lossless: ``noise`` (a budget every lossless packet meets) is ignored."""
        block = self.check_block(block)
        if block.size and not _np.isfinite(block).all():
            raise CodecError("float: NaN or infinite samples cannot be coded")
        candidates = [DEFAULT_EXPONENT]
        peak = float(_np.abs(block).max()) if block.size else 0.0
        if peak > 0.0:
            # the finest point that keeps the loudest sample within 31 bits; it moves the bits of quiet
            # passages (and of a residual far below full scale) from the raw part into the predicted one
            finest = INT_MAGNITUDE_BITS - int(_np.frexp(peak)[1])
            candidates.append(min(max(finest, MIN_EXPONENT), MAX_EXPONENT))
        packets = [self._encode_at(block, e) for e in sorted(set(candidates))]
        return min(packets, key=len)

    def _encode_at(self, block: _np.ndarray, exponent: int) -> bytes:
        parts = split(block, exponent, self.mantissa_bits)
        flags, widths_packet = NO_FRACTION, b""
        derived_bits = int(parts.derived.sum())
        if parts.needed.any():
            widths_packet = _int_codec(8, self.channels).encode(parts.needed.reshape(block.shape))
            explicit_bits = int(parts.needed.sum()) + 8 * (len(widths_packet) + _LENGTH.size)
            flags = EXPLICIT if explicit_bits < derived_bits else DERIVED
        widths = parts.needed if flags == EXPLICIT else (parts.derived if flags == DERIVED else None)
        side = _side_bits(parts, widths, self.format)
        if len(side) > 64:
            import zstandard

            packed = zstandard.ZstdCompressor(level=3).compress(side)
            if len(packed) < len(side):
                side, flags = packed, flags | ZSTD_FLAG
        int_bits = max(8, int(_np.abs(parts.integer).max(initial=0)).bit_length() + 1)
        int_codec = _int_codec(int_bits, self.channels)
        int_codec.alternative_filters = self.alternative_filters
        int_packet = int_codec.encode(parts.integer.reshape(block.shape))
        out = [_HEADER.pack(VERSION, flags, exponent, int_bits), _LENGTH.pack(len(int_packet)), int_packet]
        if flags & 3 == EXPLICIT:
            out += [_LENGTH.pack(len(widths_packet)), widths_packet]
        out += [_LENGTH.pack(len(side)), side]
        return b"".join(out)

    # -- decoder ---------------------------------------------------------
    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        if not (isinstance(frames, (int, _np.integer)) and frames >= 0):
            raise CodecError(f"float: invalid frame count {frames!r}")
        frames, data = int(frames), bytes(data)
        reader = _Reader(data)
        version, flags, exponent, int_bits = reader.unpack(_HEADER)
        if version != VERSION:
            raise CodecError(f"float: unknown packet version {version}")
        mode = flags & 3
        if flags & ~(3 | ZSTD_FLAG) or mode > EXPLICIT:
            raise CodecError(f"float: corrupt packet: reserved flag bits set ({flags:#04x})")
        if not 8 <= int_bits <= 32:
            raise CodecError(f"float: corrupt packet: integer width {int_bits} (8..32)")
        integer = _int_codec(int_bits, self.channels).decode(reader.chunk(), frames).reshape(-1)
        coded_widths = None
        if mode == EXPLICIT:
            coded_widths = _int_codec(8, self.channels).decode(reader.chunk(), frames).reshape(-1)
        side = reader.chunk()
        reader.finish()
        # a chunk of samples at a time: memory stays a few bytes per sample beyond the output
        chunks = [slice(i, i + DECODE_CHUNK) for i in range(0, integer.size, DECODE_CHUNK)]
        fraction_bits = [int(self._widths(integer[c], mode, coded_widths, c).sum()) for c in chunks]
        tiny = integer == 0
        n_tiny = int(_np.count_nonzero(tiny))
        raw_dtype, raw_bits = _RAW[self.format]
        if flags & ZSTD_FLAG:
            side = _inflate(side, (n_tiny * (1 + raw_bits) + sum(fraction_bits) + 7) // 8)
        bits = _BitReader(side)
        stored = bits.read(0, _np.ones(n_tiny, dtype=_np.int64)).astype(bool)
        raw_pos = n_tiny
        fraction_pos = raw_pos + int(_np.count_nonzero(stored)) * raw_bits
        out = _np.empty(integer.size, dtype=self.dtype)
        tiny_done = 0
        for c, nbits in zip(chunks, fraction_bits):
            i = integer[c].astype(_np.int64)
            w = self._widths(integer[c], mode, coded_widths, c)
            t = tiny[c]
            chunk_stored = stored[tiny_done:tiny_done + int(_np.count_nonzero(t))]
            tiny_done += chunk_stored.size
            raw = bits.read(raw_pos, _np.full(int(_np.count_nonzero(chunk_stored)), raw_bits, dtype=_np.int64))
            raw_pos += raw.size * raw_bits
            fraction = bits.read(fraction_pos, w[~t]).astype(_np.int64)
            fraction_pos += nbits
            out[c] = _samples(i, t, w, fraction, chunk_stored, raw.astype(raw_dtype).view(self.dtype), exponent)
        bits.finish(fraction_pos)
        return out.reshape(frames, self.channels)

    def _widths(self, integer: _np.ndarray, mode: int, coded, chunk: slice) -> _np.ndarray:
        """Fraction widths (int64) of a chunk of integer parts, checked when the packet codes them."""
        magnitude = _np.abs(integer.astype(_np.int64))
        if mode == NO_FRACTION:
            return _np.zeros(magnitude.size, dtype=_np.int64)
        limit = _np.where(magnitude != 0, _np.maximum(self.mantissa_bits - _bit_length(magnitude), 0), 0)
        if mode == DERIVED:
            return limit
        widths = coded[chunk].astype(_np.int64)
        if ((widths < 0) | (widths > limit)).any():
            raise CodecError("float: corrupt packet: a fraction width exceeds the sample's precision")
        return widths


#: samples (and bit fields) the codec handles at a time
DECODE_CHUNK = 1 << 16


def _samples(integer, tiny, widths, fraction, stored, raw_values, exponent: int) -> _np.ndarray:
    """Decoded samples of one chunk (spec/codec-float.md section 5), in the raw values' format."""
    if raw_values.size and not _np.isfinite(raw_values).all():
        raise CodecError("float: corrupt packet: a raw sample is NaN or infinite")
    out = _np.zeros(integer.size, dtype=raw_values.dtype)
    coded = ~tiny
    w = widths[coded]
    magnitude = _np.abs(integer[coded])
    # below 2^P, times a power of two: exact in binary64 and in the stream's format
    value = _np.ldexp(((magnitude << w) + fraction).astype(_np.float64), -(int(exponent) + w))
    out[coded] = _np.where(integer[coded] < 0, -value, value)
    tiny_values = _np.zeros(int(_np.count_nonzero(tiny)), dtype=raw_values.dtype)
    tiny_values[stored] = raw_values
    out[tiny] = tiny_values
    return out


class _Parts:
    """A block split at a binary point: see :func:`split`."""

    def __init__(self, integer, raw, derived, needed, fraction):
        self.integer = integer  # int64, flat: trunc(x * 2^E), 0 for samples stored raw
        self.raw = raw  # raw IEEE patterns (unsigned), flat, of every sample
        self.derived = derived  # int64, flat: P - L bits below the point (0 where integer == 0)
        self.needed = needed  # int64, flat: the fewest bits that hold the fraction exactly
        self.fraction = fraction  # uint64, flat: the fraction bits, at `derived` width


def split(block: _np.ndarray, exponent: int, mantissa_bits: int) -> _Parts:
    """Integer parts, fraction bits and raw patterns of ``block`` at the binary point ``2^-exponent``.

    Exact by construction: ``|x| * 2^E`` is a power-of-two scaling of a finite float (exact in binary64
    unless it overflows, and those samples are stored raw), its floor is exact, and so is the
    subtraction of the floor (both lie in the same binade or below).  The remainder is a multiple of the
    value's ulp, ``2^(L - P)`` for a value of ``L`` integer bits, hence ``P - L`` bits hold it."""
    x = block.reshape(-1)
    raw_dtype = _np.uint32 if x.dtype == _np.float32 else _np.uint64
    with _np.errstate(over="ignore"):
        scaled = _np.ldexp(_np.abs(x.astype(_np.float64)), exponent)
    fits = scaled < float(1 << INT_MAGNITUDE_BITS)
    magnitude = _np.where(fits, _np.floor(_np.where(fits, scaled, 0.0)), 0.0)
    integer = magnitude.astype(_np.int64)
    integer = _np.where(_np.signbit(x), -integer, integer)
    coded = integer != 0
    derived = _np.where(coded, _np.maximum(mantissa_bits - _bit_length(_np.abs(integer)), 0), 0)
    remainder = _np.where(coded, scaled - magnitude, 0.0)
    fraction = _np.ldexp(remainder, derived).astype(_np.uint64)
    trailing = _trailing_zeros(fraction, derived)
    needed = derived - trailing
    return _Parts(integer, x.view(raw_dtype), derived, needed, fraction)


def _bit_length(magnitude: _np.ndarray) -> _np.ndarray:
    """Bits of non-negative integers below 2^53 (0 for 0)."""
    return _np.frexp(magnitude.astype(_np.float64))[1].astype(_np.int64)


def _trailing_zeros(values: _np.ndarray, widths: _np.ndarray) -> _np.ndarray:
    """Trailing zero bits of each value, at most its width (a zero value has ``width`` of them)."""
    v = values.astype(_np.uint64)
    lowest = v & (~v + _np.uint64(1))  # the lowest set bit (0 for 0)
    tz = _bit_length(lowest) - 1  # a power of two converts to binary64 exactly, whatever its size
    return _np.where(v == 0, widths, _np.minimum(tz, widths))


def _side_bits(parts: _Parts, widths, fmt: str) -> bytes:
    """The side bitstream: a flag per zero integer part, the raw patterns of the flagged ones, then the
    fraction of every other sample at its width (spec/codec-float.md section 4)."""
    tiny = parts.integer == 0
    raw = parts.raw[tiny]
    stored = raw != 0  # +0.0 is the one pattern not stored
    raw_bits = _RAW[fmt][1]
    values, field_widths = [stored.astype(_np.uint64)], [_np.ones(int(tiny.sum()), dtype=_np.int64)]
    values.append(raw[stored].astype(_np.uint64))
    field_widths.append(_np.full(int(stored.sum()), raw_bits, dtype=_np.int64))
    if widths is not None:
        w = widths[~tiny]
        values.append(parts.fraction[~tiny] >> (parts.derived[~tiny] - w).astype(_np.uint64))
        field_widths.append(w)
    return pack_fields(_np.concatenate(values), _np.concatenate(field_widths))


_ONES = _np.uint64(0xFFFFFFFFFFFFFFFF)


def pack_fields(values: _np.ndarray, widths: _np.ndarray) -> bytes:
    """Unsigned fields of 0..64 bits, most significant bit first, packed without gaps; zero-padded to a byte.

    Works on 64-bit words (a field touches at most two) and a chunk of fields at a time, so memory stays
    a few words per field of a chunk whatever the widths; a field's bits above its width are ignored."""
    total = int(widths.sum())
    if total == 0:
        return b""
    words = _np.zeros(total // 64 + 2, dtype=_np.uint64)
    pos = 0
    for i in range(0, len(widths), DECODE_CHUNK):
        w = widths[i:i + DECODE_CHUNK].astype(_np.int64)
        _or_fields(words, pos + _np.cumsum(w) - w, w, values[i:i + DECODE_CHUNK])
        pos += int(w.sum())
    return words.astype(">u8").tobytes()[: (total + 7) // 8]


def _or_fields(words: _np.ndarray, start: _np.ndarray, widths: _np.ndarray, values: _np.ndarray) -> None:
    keep = widths > 0
    w = widths[keep].astype(_np.uint64)
    v = values[keep].astype(_np.uint64) & (_ONES >> (_np.uint64(64) - w))
    word, offset = start[keep] // 64, (start[keep] % 64).astype(_np.uint64)
    end = offset + w  # 1..127 bits from the word's top
    inside = end <= 64
    _np.bitwise_or.at(words, word[inside], v[inside] << (_np.uint64(64) - end[inside]))
    across = ~inside
    _np.bitwise_or.at(words, word[across], v[across] >> (end[across] - _np.uint64(64)))
    _np.bitwise_or.at(words, word[across] + 1, v[across] << (_np.uint64(128) - end[across]))


class _BitReader:
    """Reads :func:`pack_fields` fields at given bit positions; the bits after the last field must be zero
    padding."""

    def __init__(self, data: bytes):
        self.size = 8 * len(data)
        padded = bytes(data) + bytes(-len(data) % 8 + 8)  # whole words, and one more for a field's second word
        self.words = _np.frombuffer(padded, dtype=">u8").astype(_np.uint64)

    def read(self, pos: int, widths: _np.ndarray) -> _np.ndarray:
        """The fields of ``widths`` (0..64 bits each) from bit ``pos`` on, a chunk of fields at a time."""
        widths = widths.astype(_np.int64)
        if pos + int(widths.sum()) > self.size:
            raise CodecError("float: corrupt packet: the side bits end early")
        out = _np.zeros(len(widths), dtype=_np.uint64)
        for i in range(0, len(widths), DECODE_CHUNK):
            w = widths[i:i + DECODE_CHUNK]
            out[i:i + DECODE_CHUNK] = self._fields(pos + _np.cumsum(w) - w, w)
            pos += int(w.sum())
        return out

    def _fields(self, start: _np.ndarray, widths: _np.ndarray) -> _np.ndarray:
        out = _np.zeros(len(widths), dtype=_np.uint64)
        keep = widths > 0
        if keep.any():
            w = widths[keep].astype(_np.uint64)
            word, offset = start[keep] // 64, (start[keep] % 64).astype(_np.uint64)
            # the 64 bits from the field's first bit on: the rest of its word, then the next word's top
            window = self.words[word] << offset
            low = self.words[word + 1] >> ((_np.uint64(64) - offset) % _np.uint64(64))
            window |= _np.where(offset > 0, low, _np.uint64(0))
            out[keep] = window >> (_np.uint64(64) - w)
        return out

    def finish(self, pos: int) -> None:
        """The fields ended at bit ``pos``: at most 7 zero bits may follow."""
        if self.size - pos >= 8 or self.read(pos, _np.array([self.size - pos]))[0]:
            raise CodecError("float: corrupt packet: bytes or non-zero padding after the side bits")


class _Reader:
    """The byte fields of a packet, each checked against the bytes left."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def unpack(self, st: struct.Struct):
        if self.pos + st.size > len(self.data):
            raise CodecError("float: corrupt packet: truncated")
        values = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return values

    def chunk(self) -> bytes:
        (n,) = self.unpack(_LENGTH)
        if self.pos + n > len(self.data):
            raise CodecError("float: corrupt packet: a part is longer than the packet")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise CodecError("float: corrupt packet: bytes after the side bits")


def _inflate(data: bytes, size: int) -> bytes:
    """zstd data whose content is at most ``size`` bytes (bounded: never more is produced)."""
    from ..zstd_bounded import TooLarge, ZstdError, inflate

    try:
        return inflate(data, size)
    except ZstdError as exc:
        raise CodecError(f"float: corrupt packet: side bits: {exc}") from None
    except TooLarge:
        raise CodecError("float: corrupt packet: the compressed side bits are too long") from None


def _int_codec(bits: int, channels: int) -> LosslessCodec:
    # methods 1 and 2 only: a float stream is readable by every 1.x reader (format 1.2 names range-coded
    # packets only in ``lossless`` streams, spec snc-format.md section 4.2)
    return LosslessCodec(format="int", bits=bits, channels=channels, residual_coding="rice")
