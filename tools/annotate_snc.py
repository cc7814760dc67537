#!/usr/bin/env python3
"""Annotated hex dump of a ``.snc`` file, chunk by chunk and field by field.

    python3 tools/annotate_snc.py song.snc [--bytes 12] [--samples 8]

Every row shows the file offset (hex), the bytes of one field (shortened when
longer than ``--bytes``), the field's type, its name and its value.  The
structures are walked with the construct schema of :mod:`snc.container.schema`
itself -- the same objects the reader and writer use -- so the dump shows
exactly what ``spec/snc-format.md`` describes.  CRCs are recomputed and marked
``ok`` or ``MISMATCH``; packet payloads of known codecs are decoded and their
first ``--samples`` sample values printed.

This is a debugging and documentation aid: it reports what it finds and keeps
going where it can, but it is not a validating reader (use ``snc-info --verify``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import construct as c

from snc.container import schema as s
from snc.errors import SncError

# what a damaged structure can raise while it is walked
_PARSE_ERRORS = (ValueError, OverflowError, RecursionError, c.ConstructError, SncError)

_INT_TYPES = {"B": "u8", "<B": "u8", "<H": "u16", "<L": "u32", "<I": "u32", "<Q": "u64", "<f": "f32", "<d": "f64"}


class Dump:
    """Prints rows: offset, hex bytes, type, field, value."""

    def __init__(self, data: bytes, max_bytes: int, out=None):
        self.data = data
        self.max_bytes = max_bytes
        self.out = out if out is not None else sys.stdout

    def hexbytes(self, start: int, end: int) -> str:
        raw = self.data[start:end]
        if len(raw) <= self.max_bytes:
            return " ".join(f"{b:02x}" for b in raw)
        shown = " ".join(f"{b:02x}" for b in raw[: self.max_bytes - 2])
        return f"{shown} .. (+{len(raw) - (self.max_bytes - 2)})"

    def row(self, start: int, end: int, ftype: str, name: str, value: str, depth: int = 1) -> None:
        hexcol = self.hexbytes(start, end)
        width = 3 * self.max_bytes + 4
        self.out.write(f"{start:06x}  {hexcol:<{width}} {ftype:<9} {'  ' * depth}{name} = {value}\n")

    def heading(self, text: str) -> None:
        self.out.write(f"\n{text}\n")


def _fmt_value(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "-inf" if v < 0 else "+inf"
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex() if len(v) <= 8 else f"0x{bytes(v)[:8].hex()}.. ({len(v)} bytes)"
    if isinstance(v, dict):
        text = json.dumps(dict((k, x) for k, x in v.items() if not k.startswith("_")), ensure_ascii=False,
                          separators=(",", ":"), sort_keys=True)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(v, str):
        return repr(v)
    return str(v)


def _leaf_type(con) -> str:
    """A short type label (u8/u16/u32/u64/f32/bytes[n]/...) for a leaf construct."""
    while isinstance(con, c.Renamed):
        con = con.subcon
    if isinstance(con, c.FormatField):
        return _INT_TYPES.get(con.fmtstr, con.fmtstr)
    if isinstance(con, (c.Enum, c.Const)):
        return _leaf_type(con.subcon)
    if isinstance(con, c.Bytes):
        return f"bytes[{con.length}]" if isinstance(con.length, int) else "bytes"
    return "bytes"


class Walker:
    """Walk a construct schema over ``data``, emitting one row per leaf field."""

    def __init__(self, dump: Dump):
        self.d = dump
        self.data = dump.data

    def walk(self, con, pos: int, end: int, name: str, ctx, depth: int):
        """Parse ``con`` at ``pos`` (not past ``end``); return (new position, value)."""
        if isinstance(con, c.Renamed):
            sub = con.subcon
            # RawCopy wrappers ("raw", "fields") are transparent in the names
            child = name if isinstance(sub, c.RawCopy) else (f"{name}.{con.name}" if name else con.name)
            return self.walk(sub, pos, end, child, ctx, depth)
        if isinstance(con, c.Struct):
            sub_ctx = c.Container(_=ctx)
            for sc in con.subcons:
                pos, value = self.walk(sc, pos, end, name, sub_ctx, depth)
                if sc.name:
                    sub_ctx[sc.name] = value
            return pos, sub_ctx
        if isinstance(con, c.RawCopy):
            start = pos
            pos, value = self.walk(con.subcon, pos, end, name, ctx, depth)
            return pos, c.Container(data=self.data[start:pos], value=value, offset1=start, offset2=pos)
        if isinstance(con, c.Array):
            count = con.count(ctx) if callable(con.count) else con.count
            items = []
            for i in range(count):
                pos, value = self.walk(con.subcon, pos, end, f"{name}[{i}]", ctx, depth)
                items.append(value)
            return pos, items
        if isinstance(con, c.StringEncoded):  # PascalString: length prefix, then the text
            prefixed = con.subcon
            pos, raw = self._prefixed(prefixed.lengthfield, pos, end, name, depth)
            text = raw.decode(con.encoding)
            self.d.row(pos - len(raw), pos, con.encoding, name, repr(text), depth)
            return pos, text
        if isinstance(con, c.Prefixed):  # u32 length, then the JSON text
            pos, raw = self._prefixed(con.lengthfield, pos, end, name, depth)
            value = con.subcon.parse(raw)
            self.d.row(pos - len(raw), pos, "json", name, _fmt_value(value), depth)
            return pos, value
        if isinstance(con, c.Checksum):
            size = con.checksumfield.sizeof()
            self._need(pos, size, end, name)
            stored = con.checksumfield.parse(self.data[pos:pos + size])
            covered = con.bytesfunc(ctx)
            want = con.hashfunc(covered)
            verdict = "ok" if stored == want else f"MISMATCH (computed 0x{want:08x})"
            self.d.row(pos, pos + size, "u32", name, f"0x{stored:08x} crc32 of {len(covered)} bytes: {verdict}",
                       depth)
            return pos + size, stored
        # a leaf: fixed size, or greedy (to the end of the enclosing body)
        try:
            size = con.sizeof()
            greedy = False
        except c.SizeofError:
            size, greedy = end - pos, True
        self._need(pos, size, end, name)
        value = con.parse(self.data[pos:pos + size])
        shown = _fmt_value(value)
        inner = con
        while isinstance(inner, c.Renamed):
            inner = inner.subcon
        if isinstance(inner, c.Enum):
            shown = f"{int(inner.subcon.parse(self.data[pos:pos + size]))} ({value})"
        elif isinstance(inner, c.Const):
            shown += " (constant)"
        elif isinstance(value, int) and name.endswith("crc"):
            shown = f"0x{value:08x}"
        elif isinstance(value, int) and name.endswith("offset"):
            shown = f"{value} (0x{value:06x})"
        ftype = "zstd" if name.endswith("meta") else ("bytes" if greedy else _leaf_type(con))
        self.d.row(pos, pos + size, ftype, name, shown, depth)
        return pos + size, value

    def _prefixed(self, lengthfield, pos, end, name, depth):
        size = lengthfield.sizeof()
        self._need(pos, size, end, name + " length")
        n = lengthfield.parse(self.data[pos:pos + size])
        self.d.row(pos, pos + size, _leaf_type(lengthfield), name + " length", str(n), depth)
        pos += size
        self._need(pos, n, end, name)
        return pos + n, self.data[pos:pos + n]

    def _need(self, pos, size, end, name):
        if pos + size > end:
            raise ValueError(f"field {name!r} at 0x{pos:x} needs {size} bytes, only {end - pos} left in the structure")


def _decode_samples(stream, payload: bytes, frames: int, limit: int) -> str | None:
    try:
        from snc.codecs import get_codec

        codec = get_codec(stream["codec_id"], dict(stream["codec_config"]))
        block = codec.decode(payload, frames)
    except Exception as exc:  # noqa: BLE001 - an annotation, never fatal
        return f"(not decoded: {exc})"
    flat = block.reshape(-1)
    values = ", ".join(str(x) for x in flat[:limit].tolist())
    more = f", ... ({flat.size} samples)" if flat.size > limit else ""
    return f"[{values}{more}]"


def annotate(data: bytes, max_bytes: int = 12, samples: int = 8, out=None) -> int:
    """Print the annotated dump of ``data``; return the number of problems found."""
    out = out if out is not None else sys.stdout
    d = Dump(data, max_bytes, out)
    w = Walker(d)
    problems = 0
    out.write(f"{'offset':<8}{'bytes':<{3 * max_bytes + 5}}{'type':<10}field = value\n")
    d.heading(f"file header at 0x000000 (file size {len(data)} bytes)")
    hdr = s.FileHeader.sizeof()
    try:
        w.walk(s.FileHeader, 0, min(hdr, len(data)), "", None, 1)
    except _PARSE_ERRORS as exc:
        out.write(f"  !! {exc}\n")
        return 1
    pos = hdr
    streams: list = []
    chunk_offsets: dict[str, list[int]] = {}
    tail = None
    while pos < len(data):
        if pos + s.CHUNK_HEADER_SIZE > len(data):
            out.write(f"\n!! {len(data) - pos} stray bytes at 0x{pos:06x} (too short for a chunk header)\n")
            return problems + 1
        ctype = bytes(data[pos:pos + 4])
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        label = ctype.decode("latin-1")
        known = ctype in s.CHUNK_TYPES
        d.heading(f"{label} chunk at 0x{pos:06x}, body {length} bytes" + ("" if known else " (unknown type: skipped)"))
        d.row(pos, pos + 4, "bytes[4]", "type", repr(label), 1)
        d.row(pos + 4, pos + 8, "u32", "length", str(length), 1)
        body_start = pos + s.CHUNK_HEADER_SIZE
        body_end = body_start + length
        if length > s.MAX_CHUNK_LENGTH or body_end + s.CHUNK_CRC_SIZE > len(data):
            out.write(f"  !! chunk runs past the end of the file or the {s.MAX_CHUNK_LENGTH}-byte limit\n")
            return problems + 1
        chunk_offsets.setdefault(label, []).append(pos)
        try:
            if ctype == b"SEGM":
                problems += _segment(w, d, body_start, body_end, streams, samples)
            elif known:
                end_pos, value = w.walk(s.CHUNK_TYPES[ctype], body_start, body_end, "", None, 2)
                if end_pos != body_end:
                    out.write(f"  !! {body_end - end_pos} bytes after the last field\n")
                    problems += 1
                if ctype == b"STRM":
                    streams.append(value)
                elif ctype == b"TAIL":
                    tail = (pos, value)
            else:
                d.row(body_start, body_end, "bytes", "body", f"{length} bytes", 2)
        except _PARSE_ERRORS as exc:
            out.write(f"  !! cannot parse the body: {str(exc).splitlines()[0]}\n")
            problems += 1
        stored = int.from_bytes(data[body_end:body_end + 4], "little")
        want = s.crc32(data[pos:body_end])
        verdict = "ok" if stored == want else f"MISMATCH (computed 0x{want:08x})"
        d.row(body_end, body_end + 4, "u32", "crc", f"0x{stored:08x} crc32 of type+length+body: {verdict}", 1)
        problems += stored != want
        pos = body_end + s.CHUNK_CRC_SIZE
    out.write("\n")
    if tail is None or tail[0] != len(data) - s.TAIL_CHUNK_SIZE:
        out.write("!! the file does not end with a TAIL chunk (a reader must scan the segments)\n")
        problems += 1
    else:
        t = tail[1]
        for what, off in (("SIDX", t.seek_index_offset), ("HASH", t.hash_offset)):
            ok = off in chunk_offsets.get(what, [])
            out.write(f"TAIL -> {what} at 0x{off:06x}: {'ok' if ok else 'NO SUCH CHUNK'}\n")
            problems += not ok
    out.write(f"{problems} problem(s) found\n")
    return problems


def _segment(w: Walker, d: Dump, body_start: int, body_end: int, streams: list, samples: int) -> int:
    problems = 0
    pos, head = w.walk(s.SegmentHeader, body_start, body_end, "", None, 2)
    fields = head.fields.value
    for entry in fields.packets:
        end = pos + entry.size
        if end > body_end:
            d.out.write(f"  !! packet of stream {entry.stream} runs past the chunk\n")
            return problems + 1
        payload = d.data[pos:end]
        ok = s.crc32(payload) == entry.crc
        problems += not ok
        stream = streams[entry.stream] if entry.stream < len(streams) else None
        who = f"stream {entry.stream}" + (f" {stream['name']!r}" if stream else "")
        d.row(pos, end, "bytes", f"payload[{entry.stream}]",
              f"{entry.size} bytes of {who}, crc {'ok' if ok else 'MISMATCH'}", 2)
        if stream is not None and samples > 0:
            decoded = _decode_samples(stream, payload, fields.frames, samples)
            d.out.write(f"{'':8}{'':<{3 * d.max_bytes + 4}} {'':<9}     decoded: {decoded}\n")
        pos = end
    if pos != body_end:
        d.out.write(f"  !! {body_end - pos} bytes after the last packet\n")
        problems += 1
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Annotated hex dump of a .snc file, chunk by chunk and field by field.")
    p.add_argument("input", help="the .snc file")
    p.add_argument("--bytes", type=int, default=12, metavar="N",
                   help="bytes shown per field before shortening (default 12, minimum 4)")
    p.add_argument("--samples", type=int, default=8, metavar="N",
                   help="decoded sample values shown per packet (default 8; 0 = none)")
    args = p.parse_args(argv)
    with open(args.input, "rb") as fh:
        data = fh.read()
    try:
        problems = annotate(data, max(4, args.bytes), args.samples)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
