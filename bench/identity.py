"""Did a change move the codec's output?  Every corpus item (the mastered ones included) encoded with every
preset by an older checkout and by this one; the files, their stored hashes and every packet compared.

Byte-identical files carry every earlier size and quality figure over unchanged (bench/perceptual.py,
bench/lossless.py need not run again); a difference names the item, preset and what differs.  Each encode is
a fresh process with ``PYTHONPATH`` at its checkout, default settings (true stems where the item has them, no
separation), so the two sides differ only by their code.

Usage: ``python bench/identity.py --base OLD_CHECKOUT [--items ID,...] [--presets transparent,...]``
(an older commit's files: ``git archive COMMIT | tar -x -C /tmp/base``)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import _common

PRESETS = ("transparent", "compact", "lossless", "archival")
_ENCODE = """
import sys, pathlib, snc
root, preset, out = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
stems = {p.stem: str(p) for p in sorted((root / "stems").glob("*.flac"))} or None
snc.encode(str(root / "mix.flac"), out, stems=stems, preset=preset)
"""


def encode(code: Path, item_dir: Path, preset: str, out: Path) -> None:
    subprocess.run([sys.executable, "-c", _ENCODE, str(item_dir), preset, str(out)], check=True, cwd=out.parent,
                   env={"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin"}, capture_output=True)


def compare(old: Path, new: Path) -> tuple[bool, bool, bool]:
    """(files equal, stored mix and stream hashes equal, every packet equal), read with this checkout."""
    import snc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with snc.open(old) as fa, snc.open(new) as fb:
            ra, rb = fa._reader, fb._reader
            hashes = ra.mix_hash == rb.mix_hash and ra.stream_hashes == rb.stream_hashes
            packets = len(ra.segments) == len(rb.segments) and len(ra.streams) == len(rb.streams) and all(
                ra.read_packet(sa, i) == rb.read_packet(sb, i)
                for sa, sb in zip(ra.segments, rb.segments) for i in range(len(ra.streams)))
    return old.read_bytes() == new.read_bytes(), hashes, packets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="the older checkout (its files)")
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item of the corpus)")
    ap.add_argument("--presets", default=",".join(PRESETS))
    args = ap.parse_args(argv)
    items = [it["id"] for it in _common.manifest()["items"]]
    if args.items:
        items = [i for i in items if i in args.items.split(",")]
    rows, same = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for item in items:
            for preset in args.presets.split(","):
                old, new = Path(tmp) / f"{item}.{preset}.old.snc", Path(tmp) / f"{item}.{preset}.new.snc"
                encode(args.base.resolve(), _common.CORPUS / item, preset, old)
                encode(_common.REPO, _common.CORPUS / item, preset, new)
                files, hashes, packets = compare(old, new)
                same += files
                rows.append([item, preset, f"{old.stat().st_size:,}", f"{new.stat().st_size:,}",
                             "yes" if files else "no", "yes" if hashes else "NO", "yes" if packets else "NO"])
                old.unlink()
                new.unlink()
    _common.print_table(["item", "preset", "bytes (base)", "bytes (this)", "file equal", "hashes equal",
                         "packets equal"], rows, title=f"base {args.base}, this checkout {_common.REPO}")
    print(f"\n{same} of {len(rows)} files byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
