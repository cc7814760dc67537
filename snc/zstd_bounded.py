"""zstd decompression with an output bound: the size a zstd frame declares is not trusted, so the output is read
in pieces and refused beyond a limit (``zstandard.decompress`` and construct's ``Compressed`` have no bound)."""

from __future__ import annotations

import zstandard

ZstdError = zstandard.ZstdError


class TooLarge(Exception):
    """The data expands beyond the limit it was given."""


def inflate(data: bytes, limit: int) -> bytes:
    """``data`` (one or more zstd frames) decompressed, at most ``limit`` bytes: raises :class:`ZstdError` for
    corrupt data and :class:`TooLarge` (after producing ``limit + 1`` bytes, never more) beyond the limit."""
    out = bytearray()
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        while len(out) <= limit:
            piece = reader.read(min(1 << 16, limit + 1 - len(out)))
            if not piece:
                break
            out += piece
    if len(out) > limit:
        raise TooLarge(limit)
    return bytes(out)
