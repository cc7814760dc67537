"""snc-info: describe a .snc file (format, rate, length, preset, every stream)."""

from __future__ import annotations

import argparse
import json
import sys

from ..decode import Decoder
from ..errors import ChecksumError
from ..version import __version__
from .common import Parser, add_common_options, human_bytes, input_path, printable, run

PROG = "snc-info"


def get_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Describe a .snc file.")
    p.add_argument("input", help="the .snc file (- reads stdin)")
    p.add_argument("--json", action="store_true", help="print JSON (keys: sample_rate, frames, channels, preset, "
                   "streams[{name, role, codec, bytes, ...}], ...)")
    p.add_argument("--verify", action="store_true", help="decode everything and check the stored hashes")
    add_common_options(p, writes=False)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _provenance_text(stream: dict, show) -> str:
    """``separated by demucs (demucs 4.1.0, model htdemucs, weights 955717e8...)``."""
    detail = stream.get("provenance_detail") or {}
    text = show(stream["provenance"])
    if "separator" in detail:
        text += f" by {show(detail['separator'])}"
    parts = [show(detail["separator_version"])] if "separator_version" in detail else []
    if "model" in detail:
        parts.append(f"model {show(detail['model'])}")
    if "weights_sha256" in detail:
        parts.append(f"weights {show(detail['weights_sha256'])[:16]}...")
    return text + (f" ({', '.join(parts)})" if parts else "")


def _text(d: dict, path: str, *, full: bool = False) -> str:
    """The description for a terminal: every string from the file passes :func:`printable` (cut to 80
    characters unless ``full``)."""
    def show(value, limit=80):
        return printable(value, limit=None if full else limit)

    lines = [
        f"{show(path, None)}: SNC {show(d['format_version'])}, preset {show(d['preset'])}",
        f"  {d['sample_rate']} Hz, {d['channels']} ch, {show(d['sample_format'])} {d['bits']}-bit, "
        f"{d['duration_s']:.3f} s ({d['frames']} frames), {human_bytes(d['file_bytes'])} bytes",
        f"  {'#':>2}  {'name':<16} {'role':<10} {'codec':<9} {'bytes':>14} {'share':>7}  provenance",
    ]
    master = [d["master"]] if d.get("master") else []  # the gain every stem plays through (spec 3.7)
    for i, s in enumerate([*d["streams"], *master]):
        lines.append(f"  {i:>2}  {show(s['name']):<16} {show(s['role']):<10} {show(s['codec']):<9} "
                     f"{human_bytes(s['bytes']):>14} {100 * s['share']:6.2f}%  {_provenance_text(s, show)}")
    eq = master[0].get("codec_config", {}).get("eq") if master else None
    if isinstance(eq, list) and eq and isinstance(eq[0], list):
        lines.append(f"  master: the stems play through an EQ of {len(eq[0])} biquads per channel, then the gain")
    comp = master[0].get("codec_config", {}).get("compressor") if master else None
    if isinstance(comp, list) and len(comp) == 5 and all(isinstance(v, int) for v in comp):
        ratio = "inf" if comp[2] >= 1 << 16 else f"{(1 << 16) / ((1 << 16) - comp[2]):.2f}"
        lines.append(f"  master: a compressor on the stems' sum (ratio {ratio}:1) multiplies the gain")
    from ..render.profiles import BUILTIN

    authored = [show(n) for n in d.get("profiles", {})]
    lines.append("  profiles: " + ", ".join([*(f"{n} (authored)" for n in authored), *BUILTIN]))
    if d.get("lead"):
        lines.append(f"  lead stem: {show(d['lead'])}")
    lines += _music_lines(d.get("music") or {}, d["sample_rate"], show, full)
    if d["tags"]:
        lines.append("  tags: " + ", ".join(f"{show(k)}={show(v)}" for k, v in sorted(d["tags"].items())))
    if d["unknown_chunks"]:
        lines.append("  skipped unknown chunks: " + ", ".join(show(t) for t in d["unknown_chunks"]))
    return "\n".join(lines)


#: the cues snc-info lists (all of them with -v)
SHOWN_CUES = 4


def _clock(frame: int, rate: int) -> str:
    minutes, seconds = divmod(frame / rate, 60)
    return f"{int(minutes)}:{seconds:05.2f}"


def _music_lines(music: dict, rate: int, show, full: bool = False) -> list[str]:
    """The musical metadata in a few lines: tempo, key and ISRC; the cues (the first few unless ``full``);
    how many lines of lyrics, and of them time-synced."""
    lines = []
    facts = [f"{music['bpm']:g} bpm" if "bpm" in music else "", f"key {show(music['key'])}" if "key" in music
             else "", f"ISRC {show(music['isrc'])}" if "isrc" in music else ""]
    if any(facts):
        lines.append("  music: " + ", ".join(f for f in facts if f))
    cues = music.get("cues", [])
    if cues:
        listed = cues if full else cues[:SHOWN_CUES]
        more = f", ... ({len(cues) - len(listed)} more)" if len(listed) < len(cues) else ""
        lines.append(f"  cues ({len(cues)}): " + ", ".join(f"{_clock(c['frame'], rate)} {show(c['label'], 40)}"
                                                           for c in listed) + more)
    lyrics, synced = music.get("lyrics"), music.get("synced_lyrics", [])
    if lyrics or synced:
        counts = [f"{len(lyrics.splitlines())} lines" if lyrics else "", f"{len(synced)} synced" if synced else ""]
        lines.append("  lyrics: " + ", ".join(c for c in counts if c))
    return lines


def _escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # JSON escapes name UTF-16 code units
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def to_json(d: dict) -> str:
    """The description as JSON, faithful to the file, yet safe on a terminal: json escapes C0 controls
    only, so every other unprintable character (DEL, C1 controls such as CSI, bidi overrides) is escaped
    here too.  Outside strings JSON text has no such characters, so escaping is always valid."""
    text = json.dumps(d, indent=2, ensure_ascii=False)
    return "".join(c if c.isprintable() or c == "\n" else _escape(c) for c in text)


def _body(args) -> int:
    with input_path(args.input) as source, Decoder(source) as f:
        d = f.describe()
        if args.verify:
            d["verify"] = f.verify()
    if args.quiet:  # the exit status says it all (with --verify: whether the audio matches its hashes)
        pass
    elif args.json:
        print(to_json(d))
    else:
        print(_text(d, args.input, full=args.verbose))
        if args.verify:
            v = d["verify"]
            bad = [printable(n) for n, ok in v["streams"].items() if not ok]
            print("  verify: " + ("OK: mix and every stream match their hashes" if v["mix"] and not bad
                                  else f"FAILED (mix {'ok' if v['mix'] else 'differs'}; streams differing: {bad})"))
    if args.verify and not (d["verify"]["mix"] and all(d["verify"]["streams"].values())):
        raise ChecksumError("decoded audio does not match the stored hashes")
    return 0


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
