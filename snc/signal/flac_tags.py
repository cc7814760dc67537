"""The Vorbis comments of a FLAC file: the tags libsndfile does not expose (``BPM``, ``INITIALKEY``, ``ISRC``,
``LYRICS``, ...).

libsndfile reads only its fixed string fields (title, artist, ...).  The VORBIS_COMMENT block sits among the
metadata blocks before the audio, so reading it costs a few small reads and never touches the audio.
"""

from __future__ import annotations

FLAC_MAGIC = b"fLaC"
VORBIS_COMMENT = 4


def read_vorbis_comments(path) -> dict[str, str]:
    """``{lower-case name: value}`` of a FLAC file's Vorbis comments (of a name given twice, the first value);
    ``{}`` for any other file and for a damaged block: tags are a courtesy, never a reason to refuse audio."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(10)
            if head[:3] == b"ID3" and len(head) == 10:  # an ID3v2 tag some taggers put before the FLAC stream
                size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
                fh.seek(10 + size + (10 if head[5] & 0x10 else 0))
            else:
                fh.seek(0)
            if fh.read(4) != FLAC_MAGIC:
                return {}
            while len(header := fh.read(4)) == 4:
                kind, length = header[0] & 0x7F, int.from_bytes(header[1:], "big")
                if kind == VORBIS_COMMENT:
                    return _comments(fh.read(length))
                if header[0] & 0x80:  # the last metadata block
                    break
                fh.seek(length, 1)
    except OSError:
        pass
    return {}


def _comments(body: bytes) -> dict[str, str]:
    """The ``NAME=value`` entries of a VORBIS_COMMENT block (little-endian lengths: vendor string, count,
    then each entry), as far as the block holds whole entries."""
    def u32(at: int) -> int | None:
        return int.from_bytes(body[at:at + 4], "little") if at + 4 <= len(body) else None

    vendor = u32(0)
    pos = 4 + (vendor or 0)
    count = u32(pos) or 0
    pos += 4
    out: dict[str, str] = {}
    for _ in range(count):
        size = u32(pos)
        if size is None or pos + 4 + size > len(body):
            break
        name, sep, value = body[pos + 4:pos + 4 + size].decode("utf-8", "replace").partition("=")
        if sep:
            out.setdefault(name.lower(), value)
        pos += 4 + size
    return out
