"""Rice (lossless methods 1-2) against range-coded residuals (method 3, spec/codec-lossless.md section 14).

For every multitrack corpus item (full length) and every signal an archival file codes losslessly --
each true stem, the mix, and the residual ``mix - sum(stems)`` (for the mastered items the plain
difference, before any master stream) -- the bytes of the ``lossless`` codec's packets (32768 frames)
with ``residual_coding="rice"`` and ``"adaptive"``, the share of packets that took method 3, and the
codec's encode / decode time for the whole signal on one core (numba compile excluded, fastest of 2).

Usage: python bench/residual_coding.py [--match TEXT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import CORPUS, multitrack_items, one_core, print_table, read_int  # noqa: E402

from snc.codecs.lossless import LosslessCodec  # noqa: E402

PACKET = 32768
REPEATS = 2


def _timed(fn):
    best, out = float("inf"), None
    for _ in range(REPEATS):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def code(x: np.ndarray, bits: int, coding: str) -> dict:
    codec = LosslessCodec(bits=bits, channels=x.shape[1], residual_coding=coding)
    starts = range(0, len(x), PACKET)
    enc, packets = _timed(lambda: [codec.encode(np.ascontiguousarray(x[i : i + PACKET])) for i in starts])
    dec, blocks = _timed(lambda: [codec.decode(p, min(PACKET, len(x) - i)) for p, i in zip(packets, starts)])
    assert np.array_equal(np.concatenate(blocks), x), "not exact"
    return dict(bytes=sum(map(len, packets)), m3=sum(p[0] == 3 for p in packets), n=len(packets), enc=enc, dec=dec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--match", default="", help="only items whose id contains this text")
    args = ap.parse_args(argv)
    one_core()
    warm = np.zeros((64, 2), np.int32)
    for coding in ("rice", "adaptive"):  # compile outside the timings
        c = LosslessCodec(bits=16, channels=2, residual_coding=coding)
        c.decode(c.encode(warm), 64)
    rows, totals = [], {"rice": 0, "adaptive": 0}
    for item in multitrack_items():
        if args.match not in item["id"]:
            continue
        root = CORPUS / item["path"]
        mix, rate, bits = read_int(root / "mix.flac")
        stems = {n: read_int(root / "stems" / f"{n}.flac")[0] for n in item["stems"]}
        residual = mix.astype(np.int64) - sum(s.astype(np.int64) for s in stems.values())
        signals = {**stems, "mix": mix, "residual": residual.astype(np.int32)}
        for name, x in signals.items():
            width = bits + 1 if name == "residual" else bits  # a difference of two full-scale signals
            r, a = code(x, width, "rice"), code(x, width, "adaptive")
            totals["rice"] += r["bytes"]
            totals["adaptive"] += a["bytes"]
            seconds = len(x) / rate
            rows.append([item["id"], name, f"{r['bytes']:,}", f"{a['bytes']:,}", f"{a['bytes'] / r['bytes']:.4f}",
                         f"{a['m3']}/{a['n']}", f"{seconds / r['enc']:.0f} / {seconds / a['enc']:.0f}",
                         f"{seconds / r['dec']:.0f} / {seconds / a['dec']:.0f}"])
            print(f"  {item['id']} {name}: {a['bytes'] / r['bytes']:.4f}", flush=True)
    rows.append(["all", "", f"{totals['rice']:,}", f"{totals['adaptive']:,}",
                 f"{totals['adaptive'] / max(totals['rice'], 1):.4f}", "", "", ""])
    print()
    print_table(["item", "signal", "rice bytes", "adaptive bytes", "ratio", "method-3 packets",
                 "encode x RT rice / adaptive", "decode x RT rice / adaptive"], rows,
                title="lossless codec: Rice residuals (methods 1-2) vs range-coded residuals (method 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
