"""snc-info: describe a .snc file (format, rate, length, preset, every stream)."""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..decoder import SncFile
from ..errors import ChecksumError
from .common import Parser, human_bytes, run

PROG = "snc-info"


def get_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Describe a .snc file.")
    p.add_argument("input", help="the .snc file")
    p.add_argument("--json", action="store_true", help="print JSON (keys: sample_rate, frames, channels, preset, "
                   "streams[{name, role, codec, bytes, ...}], ...)")
    p.add_argument("--verify", action="store_true", help="decode everything and check the stored hashes")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _printable(value) -> str:
    """File text is untrusted (spec section 21): no control characters on the terminal, bounded length."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _provenance_text(stream: dict) -> str:
    """``separated by demucs (demucs 4.1.0, model htdemucs, weights 955717e8...)``."""
    detail = stream.get("provenance_detail") or {}
    text = stream["provenance"]
    if "separator" in detail:
        text += f" by {_printable(detail['separator'])}"
    parts = [_printable(detail["separator_version"])] if "separator_version" in detail else []
    if "model" in detail:
        parts.append(f"model {_printable(detail['model'])}")
    if "weights_sha256" in detail:
        parts.append(f"weights {_printable(detail['weights_sha256'])[:16]}...")
    return text + (f" ({', '.join(parts)})" if parts else "")


def _text(d: dict, path: str) -> str:
    lines = [
        f"{path}: SNC {d['format_version']}, preset {d['preset']}",
        f"  {d['sample_rate']} Hz, {d['channels']} ch, {d['sample_format']} {d['bits']}-bit, "
        f"{d['duration_s']:.3f} s ({d['frames']} frames), {human_bytes(d['file_bytes'])} bytes",
        f"  {'#':>2}  {'name':<16} {'role':<10} {'codec':<9} {'bytes':>14} {'share':>7}  provenance",
    ]
    for i, s in enumerate(d["streams"]):
        lines.append(f"  {i:>2}  {s['name']:<16} {s['role']:<10} {s['codec']:<9} {human_bytes(s['bytes']):>14} "
                     f"{100 * s['share']:6.2f}%  {_provenance_text(s)}")
    from ..render.profiles import BUILTIN

    authored = [_printable(n) for n in d.get("profiles", {})]
    lines.append("  profiles: " + ", ".join([*(f"{n} (authored)" for n in authored), *BUILTIN]))
    if d.get("lead"):
        lines.append(f"  lead stem: {_printable(d['lead'])}")
    if d["tags"]:
        lines.append("  tags: " + ", ".join(f"{k}={v}" for k, v in sorted(d["tags"].items())))
    if d["unknown_chunks"]:
        lines.append("  skipped unknown chunks: " + ", ".join(d["unknown_chunks"]))
    return "\n".join(lines)


def _body(args) -> int:
    with SncFile(args.input) as f:
        d = f.describe()
        if args.verify:
            d["verify"] = f.verify()
    if args.json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
    else:
        print(_text(d, args.input))
        if args.verify:
            v = d["verify"]
            bad = [n for n, ok in v["streams"].items() if not ok]
            print("  verify: " + ("OK: mix and every stream match their hashes" if v["mix"] and not bad
                                  else f"FAILED (mix {'ok' if v['mix'] else 'differs'}; streams differing: {bad})"))
    if args.verify and not (d["verify"]["mix"] and all(d["verify"]["streams"].values())):
        raise ChecksumError("decoded audio does not match the stored hashes")
    return 0


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
