"""A streaming RIFF/WAVE writer: WAVE_FORMAT_EXTENSIBLE masks, tags, RF64 and pipes.

**Why WAV is written here, not by soundfile.**  python-soundfile cannot set a channel map
(libsndfile's ``SFC_SET_CHANNEL_MAP_INFO`` is not exposed), and libsndfile's WAVEX default masks
label 8 channels as 7.1 "wide" (front-centre pairs) and 12 channels as unknown; it cannot write a
WAV stream to a pipe with "unknown length" sizes, nor promote a file that outgrows 4 GiB to RF64
(it has only the opposite, RF64 downgrade).  A WAVE header is about 100 bytes of fixed fields, so
the writer is :class:`WavWriter`:

* ``WAVE_FORMAT_PCM`` for 8- and 16-bit mono/stereo (what every reader takes), otherwise
  ``WAVE_FORMAT_EXTENSIBLE`` (cbSize 22, valid bits, channel mask, KSDATAFORMAT_SUBTYPE_PCM or
  _IEEE_FLOAT), as Microsoft requires for more than two channels or more than 16 bits; 8-bit
  samples are unsigned (offset 128), as WAVE defines them.
* a ``fact`` chunk with the frame count for EXTENSIBLE files (non-PCM format tag).
* tags in a ``LIST``/``INFO`` chunk before the data (UTF-8, NUL-terminated, as ffmpeg writes).
* to a seekable file, a ``JUNK`` chunk reserved after the header (EBU Tech 3306); sizes are patched
  on close, and a file whose data outgrows the 32-bit RIFF sizes becomes RF64 (``JUNK`` -> ``ds64``).
* to a pipe (``path == "-"``, stdout not seekable), the RIFF and data sizes are 0xFFFFFFFF, "read to
  the end", as ffmpeg writes WAV to a pipe; libsndfile, ffmpeg and sox read such streams.  stdout
  redirected to a regular file is treated as seekable and gets the true sizes.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Mapping

import numpy as _np

_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE = 0x0001, 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the format tag followed by the fixed GUID tail.
_GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_SUBFORMAT_PCM = struct.pack("<I", 1) + _GUID_TAIL
_SUBFORMAT_FLOAT = struct.pack("<I", 3) + _GUID_TAIL
_UNKNOWN_SIZE = 0xFFFFFFFF
# RIFF sizes are 32-bit; past this the file is rewritten as RF64.  A module constant so that tests
# can exercise the RF64 path without writing 4 GiB.
RIFF_LIMIT = 0xFFFFFFFF
_DS64_BODY = 28  # riff size, data size, sample count (3 x u64) + table length (u32)

WAV_INFO_IDS = {
    "title": b"INAM", "artist": b"IART", "album": b"IPRD", "date": b"ICRD", "genre": b"IGNR",
    "comment": b"ICMT", "copyright": b"ICOP", "tracknumber": b"ITRK", "software": b"ISFT",
}


def container_bits(fmt) -> int:
    """Bits per sample in the file: the next whole byte for integers, 32/64 for floats."""
    return -(-fmt.bits // 8) * 8 if fmt.sample_format == "int" else fmt.bits


def pcm_bytes(block: _np.ndarray, fmt) -> bytes:
    """Little-endian WAVE sample bytes: integers left-justified in their container, 8-bit unsigned."""
    if fmt.sample_format != "int":
        return _np.ascontiguousarray(block, dtype="<f4" if fmt.sample_format == "float32" else "<f8").tobytes()
    width = container_bits(fmt) // 8
    x = block.astype(_np.int64) << (width * 8 - fmt.bits)
    if width == 1:
        return (x + 128).astype(_np.uint8).tobytes()
    if width == 3:
        return _np.ascontiguousarray(x.astype("<i4")).view(_np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return _np.ascontiguousarray(x, dtype="<i2" if width == 2 else "<i4").tobytes()


class WavWriter:
    """A streaming RIFF/WAVE writer (see the module docstring for the layout of the bytes).

    ``seekable=False`` writes "unknown length" sizes and never seeks; otherwise the sizes are
    patched by :meth:`close`, and the file becomes RF64 if the data outgrew the RIFF limit.
    """

    def __init__(self, out, fmt, *, mask: int, tags: Mapping[str, str] | None = None, seekable: bool = True):
        self._out, self._fmt, self._seekable = out, fmt, seekable
        self.frames = 0
        self._data_bytes = 0
        self._extensible = fmt.sample_format != "int" or fmt.bits not in (8, 16) or fmt.channels > 2
        self._block_align = fmt.channels * container_bits(fmt) // 8
        self._base = out.tell() if seekable else 0
        self._write_header(mask, tags or {})

    def _write_header(self, mask: int, tags: Mapping[str, str]) -> None:
        fmt, bits = self._fmt, container_bits(self._fmt)
        size = _UNKNOWN_SIZE if not self._seekable else 0
        parts = [b"RIFF", struct.pack("<I", size), b"WAVE"]
        if self._seekable:
            self._junk_at = self._base + 12
            parts += [b"JUNK", struct.pack("<I", _DS64_BODY), bytes(_DS64_BODY)]
        common = struct.pack("<HIIHH", fmt.channels, fmt.sample_rate, fmt.sample_rate * self._block_align,
                             self._block_align, bits)
        if self._extensible:
            sub = _SUBFORMAT_PCM if fmt.sample_format == "int" else _SUBFORMAT_FLOAT
            body = struct.pack("<H", _WAVE_FORMAT_EXTENSIBLE) + common + struct.pack("<HHI", 22, fmt.bits, mask) + sub
        else:
            body = struct.pack("<H", _WAVE_FORMAT_PCM) + common
        parts += [b"fmt ", struct.pack("<I", len(body)), body]
        self._fact_at = None
        if self._extensible and self._seekable:
            self._fact_at = self._base + sum(map(len, parts)) + 8
            parts += [b"fact", struct.pack("<I", 4), struct.pack("<I", 0)]
        parts.append(info_chunk(tags))
        parts += [b"data", struct.pack("<I", size)]
        header = b"".join(parts)
        self._data_size_at = self._base + len(header) - 4
        self._out.write(header)

    def write(self, block: _np.ndarray) -> None:
        data = pcm_bytes(block, self._fmt)
        self._out.write(data)
        self.frames += len(block)
        self._data_bytes += len(data)

    def close(self) -> None:
        """Pad the data to an even length and, when seekable, write the true sizes."""
        if self._data_bytes % 2:
            self._out.write(b"\x00")
        if not self._seekable:
            self._out.flush()
            return
        end = self._out.tell()
        riff_size = end - self._base - 8
        if riff_size <= RIFF_LIMIT and self._data_bytes <= RIFF_LIMIT:
            self._patch(self._base + 4, struct.pack("<I", riff_size))
            self._patch(self._data_size_at, struct.pack("<I", self._data_bytes))
            if self._fact_at is not None:
                self._patch(self._fact_at, struct.pack("<I", self.frames))
        else:
            self._patch(self._base, b"RF64" + struct.pack("<I", _UNKNOWN_SIZE))
            self._patch(self._junk_at, b"ds64" + struct.pack("<I", _DS64_BODY)
                        + struct.pack("<QQQI", riff_size, self._data_bytes, self.frames, 0))
            self._patch(self._data_size_at, struct.pack("<I", _UNKNOWN_SIZE))
            if self._fact_at is not None:
                self._patch(self._fact_at, struct.pack("<I", _UNKNOWN_SIZE))
        self._out.seek(end)
        self._out.flush()

    def _patch(self, offset: int, data: bytes) -> None:
        self._out.seek(offset)
        self._out.write(data)


def info_chunk(tags: Mapping[str, str]) -> bytes:
    """A LIST/INFO chunk: one NUL-terminated UTF-8 sub-chunk per tag, each padded to an even size."""
    items = []
    for key, value in tags.items():
        text = value.encode("utf-8") + b"\x00"
        items.append(WAV_INFO_IDS[key] + struct.pack("<I", len(text)) + text + b"\x00" * (len(text) % 2))
    if not items:
        return b""
    body = b"INFO" + b"".join(items)
    return b"LIST" + struct.pack("<I", len(body)) + body


def patchable(out) -> bool:
    """stdout redirected to a regular file we may seek in (not appending): write the true sizes."""
    try:
        fd = out.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not out.seekable() or out.tell() != 0:
            return False
        import fcntl

        return not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND
    except (OSError, ValueError, ImportError, AttributeError):
        return False
