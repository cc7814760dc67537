"""Interop benchmark (issue 20): .snc -> NI Stems (.stem.mp4) for every corpus item.

For every item of the shared corpus: the item encoded with ``snc.encode(mix.flac, out, stems={name: flac},
preset=P)`` (its true stems; the mixed-only items as their mix alone), then exported with
``snc.interop.stems_mp4.export_stem_mp4`` as ALAC and as AAC (256 kbit/s): export wall time (decode, slot
folding, encoding and muxing; the sum check excluded), the ``.stem.mp4`` size next to the ``.snc`` size and to
FLAC -8 of the mix plus FLAC -8 of every stem (measured in this run with the installed flac), and, read back
from the written file with PyAV, max |sum(stems) - master| in 16-bit units and the master-to-difference ratio
(inf when exact).

Usage: python bench/interop.py [--preset archival] [--match TEXT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, flac8_bytes, has_stems, manifest, print_table  # noqa: E402

import snc  # noqa: E402
from snc.interop.stems_mp4 import export_stem_mp4  # noqa: E402
from snc.interop.stems_mp4_read import sum_error  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="archival", help="the preset of the .snc files exported (default archival)")
    ap.add_argument("--match", default="", help="only items whose id contains this")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="snc-interop-") as tmpd:
        tmp = Path(tmpd)
        for item in manifest()["items"]:
            if args.match not in item["id"]:
                continue
            root = CORPUS / item["path"]
            stem_paths = sorted((root / "stems").glob("*.flac")) if has_stems(item) else []
            flac = flac8_bytes(root / "mix.flac") + sum(flac8_bytes(p) for p in stem_paths)
            src = tmp / f"{item['id']}.snc"
            snc.encode(str(root / "mix.flac"), src, stems={p.stem: str(p) for p in stem_paths} or None,
                       preset=args.preset, separator="none")
            row = [item["id"], len(stem_paths), f"{src.stat().st_size:,}", f"{flac:,}"]
            for codec in ("alac", "aac"):
                out = tmp / f"{item['id']}-{codec}.stem.mp4"
                t0 = time.perf_counter()
                report = export_stem_mp4(src, out, codec=codec, check=False)
                seconds = time.perf_counter() - t0
                worst, snr = sum_error(out)
                row += [f"{report.file_bytes:,}", f"{report.file_bytes / flac:.3f}", f"{seconds:.1f}",
                        str(worst), "inf" if snr == float("inf") else f"{snr:.1f}"]
            rows.append(row)
            print("  " + " | ".join(map(str, row)), flush=True)
    print_table(["item", "stems", f"snc {args.preset} B", "FLAC mix+stems B",
                 "ALAC B", "ALAC x FLAC", "ALAC export s", "ALAC max |sum-master|", "ALAC dB",
                 "AAC B", "AAC x FLAC", "AAC export s", "AAC max |sum-master|", "AAC dB"], rows,
                title=f".snc ({args.preset}) -> .stem.mp4; sizes in bytes; sum errors in 16-bit units")
    return 0


if __name__ == "__main__":
    sys.exit(main())
