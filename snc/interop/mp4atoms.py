"""The few ISO base media file (MP4) boxes an NI Stems file needs beyond what FFmpeg's muxer writes.

An NI Stems file (``.stem.mp4``) is an MP4 whose first audio track is the master and the next four the stems,
with a JSON manifest in the box ``moov/udta/stem`` (its payload is the UTF-8 JSON, no version or flags) and
only the master's track enabled.  FFmpeg writes the tracks; this module adds the manifest and the cover
(``moov/udta/meta/ilst/covr``, as iTunes-style metadata holds it) and sets the tracks' enabled flags.

Boxes (ISO/IEC 14496-12, 4.2): a 32-bit big-endian size (including the 8-byte header), a four-character
type, then the payload; size 1 means a 64-bit size follows the type, size 0 "to the end of the file".  The
``tkhd`` box is a full box: a version byte, 24 bits of flags (bit 0: enabled, 1: in movie, 2: in preview),
then fields.  Growing ``moov`` moves whatever follows it, so when it comes before the media data the chunk
offsets (``stco``, ``co64``) are moved by as much.

Not a general MP4 editor: it reads what it needs and rewrites ``moov`` only.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InputError

#: boxes whose payload is a sequence of boxes, among those this module walks (``meta`` is a full box:
#: 4 bytes of version and flags before its children)
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"ilst", b"edts", b"dinf"}
FULL_CONTAINERS = {b"meta"}
TKHD_ENABLED, TKHD_IN_MOVIE, TKHD_IN_PREVIEW = 1, 2, 4


@dataclass
class Box:
    """A box in a byte string: its type, where it starts, its header's and its whole length."""

    kind: bytes
    start: int
    header: int
    size: int

    @property
    def payload(self) -> slice:
        return slice(self.start + self.header, self.start + self.size)

    @property
    def end(self) -> int:
        return self.start + self.size


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes one after another in ``data[start:end]``; a box that overruns its parent is an InputError."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                raise InputError("MP4: truncated box header")
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise InputError(f"MP4: box {kind!r} at byte {at} overruns its parent")
        yield Box(kind, at, header, size)
        at += size


def children(data: bytes, box: Box) -> Iterator[Box]:
    skip = 4 if box.kind in FULL_CONTAINERS else 0
    return boxes(data, box.start + box.header + skip, box.end)


def find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> Box | None:
    """The first box at ``path`` (types from the top), as Mixxx's reader walks to ``moov/udta/stem``."""
    for box in boxes(data, start, end):
        if box.kind == path[0]:
            if len(path) == 1:
                return box
            skip = 4 if box.kind in FULL_CONTAINERS else 0
            return find(data, path[1:], box.start + box.header + skip, box.end)
    return None


def make_box(kind: bytes, payload: bytes) -> bytes:
    if len(payload) + 8 >= 1 << 32:
        raise InputError(f"MP4: box {kind!r} too large")
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def stem_manifest(data: bytes) -> bytes | None:
    """The payload of ``moov/udta/stem`` (the NI Stems JSON manifest), or None."""
    box = find(data, [b"moov", b"udta", b"stem"])
    return None if box is None else data[box.payload]


def add_stems_boxes(data: bytes, manifest: bytes, *, enabled_tracks: int = 1,
                    cover: tuple[bytes, str] | None = None) -> bytes:
    """``data`` (a whole MP4 file) with ``moov/udta/stem`` = ``manifest`` (replacing one that is there), only
    the first ``enabled_tracks`` tracks enabled, and ``cover`` = (image bytes, mime) as ``covr`` in
    ``moov/udta/meta/ilst`` when given."""
    moov = find(data, [b"moov"])
    if moov is None:
        raise InputError("MP4: no moov box")
    parts = []
    track = 0
    udta_seen = False
    for box in children(data, moov):
        raw = data[box.start:box.end]
        if box.kind == b"trak":
            raw = _with_track_flags(raw, enabled=track < enabled_tracks)
            track += 1
        elif box.kind == b"udta":
            raw = _udta(data, box, manifest, cover)
            udta_seen = True
        parts.append(raw)
    if not udta_seen:
        parts.append(_udta(data, None, manifest, cover))
    new_moov = make_box(b"moov", b"".join(parts))
    delta = len(new_moov) - moov.size
    if delta and any(b.kind == b"mdat" and b.start > moov.start for b in boxes(data)):
        new_moov = _moved_chunks(new_moov, delta)
    return data[:moov.start] + new_moov + data[moov.end:]


def _udta(data: bytes, udta: Box | None, manifest: bytes, cover) -> bytes:
    """A ``udta`` box: what ``udta`` held (None: nothing) but its ``stem`` box, the cover put into its ``meta``,
    and ``stem`` = ``manifest`` last."""
    old = list(children(data, udta)) if udta is not None else []
    kept = [data[b.start:b.end] for b in old if b.kind != b"stem" and not (cover is not None and b.kind == b"meta")]
    if cover is not None:
        kept.append(_meta_with_cover(data, next((b for b in old if b.kind == b"meta"), None), cover))
    return make_box(b"udta", b"".join(kept) + make_box(b"stem", manifest))


def _meta_with_cover(data: bytes, meta: Box | None, cover: tuple[bytes, str]) -> bytes:
    """A ``meta`` box (iTunes style: ``hdlr`` mdir, ``ilst``) with ``covr`` set, the rest of ``meta`` kept."""
    image, mime = cover
    kind = {"image/jpeg": 13, "image/png": 14}.get(mime)
    if kind is None:
        raise InputError(f"MP4 cover: {mime} is neither image/jpeg nor image/png")
    covr = make_box(b"covr", make_box(b"data", struct.pack(">II", kind, 0) + image))
    if meta is None:
        hdlr = make_box(b"hdlr", bytes(8) + b"mdirappl" + bytes(9))
        return make_box(b"meta", bytes(4) + hdlr + make_box(b"ilst", covr))
    parts, has_ilst = [], False
    for b in children(data, meta):
        raw = data[b.start:b.end]
        if b.kind == b"ilst":
            items = [data[c.start:c.end] for c in children(data, b) if c.kind != b"covr"]
            raw = make_box(b"ilst", b"".join(items) + covr)
            has_ilst = True
        parts.append(raw)
    if not has_ilst:
        parts.append(make_box(b"ilst", covr))
    return make_box(b"meta", data[meta.start + meta.header: meta.start + meta.header + 4] + b"".join(parts))


def _with_track_flags(trak: bytes, enabled: bool) -> bytes:
    """``trak`` with its ``tkhd`` flags: in movie and preview, enabled or not (same length)."""
    tkhd = find(trak, [b"trak", b"tkhd"])
    if tkhd is None:
        raise InputError("MP4: a track without tkhd")
    flags = TKHD_IN_MOVIE | TKHD_IN_PREVIEW | (TKHD_ENABLED if enabled else 0)
    at = tkhd.start + tkhd.header + 1
    return trak[:at] + flags.to_bytes(3, "big") + trak[at + 3:]


def track_flags(data: bytes) -> list[int]:
    """Each track's ``tkhd`` flags, in order (what a player reads to pick the enabled track)."""
    moov = find(data, [b"moov"])
    out = []
    for trak in (b for b in children(data, moov) if b.kind == b"trak"):
        tkhd = find(data, [b"tkhd"], trak.start + trak.header, trak.end)
        out.append(int.from_bytes(data[tkhd.start + tkhd.header + 1: tkhd.start + tkhd.header + 4], "big"))
    return out


def _moved_chunks(moov: bytes, delta: int) -> bytes:
    """``moov`` with every chunk offset (``stco``, ``co64``) moved by ``delta`` bytes."""
    out = bytearray(moov)

    def walk(start: int, end: int) -> None:
        for box in boxes(out, start, end):
            if box.kind in CONTAINERS:
                walk(box.start + box.header, box.end)
            elif box.kind in (b"stco", b"co64"):
                wide = box.kind == b"co64"
                at = box.start + box.header + 4
                count = struct.unpack_from(">I", out, at)[0]
                fmt, step = (">Q", 8) if wide else (">I", 4)
                for k in range(count):
                    pos = at + 4 + k * step
                    value = struct.unpack_from(fmt, out, pos)[0] + delta
                    if not wide and value >= 1 << 32:
                        raise InputError("MP4: a chunk offset no longer fits 32 bits")
                    struct.pack_into(fmt, out, pos, value)

    top = next(boxes(out))
    walk(top.start + top.header, top.end)
    return bytes(out)
