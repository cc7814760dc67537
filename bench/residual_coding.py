"""Rice (lossless methods 1-2) against range-coded residuals (method 3, spec/codec-lossless.md section 14).

For every multitrack corpus item (full length) and every signal an archival file codes losslessly --
each true stem, the mix, and the residual ``mix - sum(stems)`` (for the mastered items the plain
difference, before any master stream) -- the bytes of the ``lossless`` codec's packets (32768 frames)
with ``residual_coding="rice"`` and ``"adaptive"``, the share of packets that took method 3, and the
codec's encode / decode time for the whole signal on one core (numba compile excluded, fastest of 2).

``--mean-shift-loo`` chooses the one constant of the value coder, the speed of its running mean
(``snc.kernels.adaptive_residual.MEAN_SHIFT``, spec 14.3): every candidate is compiled in a copy of the
package in a temporary directory, every item's lossless bytes (all its signals above) are measured, and the
value with the fewest bytes over all items is reported next to the one chosen on the other items only
(leave-one-out) and the held-out item's cost at it.

Usage: python bench/residual_coding.py [--match TEXT] [--mean-shift-loo [1,2,3,4,5]]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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


def item_signals(item):
    """``{name: (int32 array, bits)}``: the stems, the mix and the residual of a corpus item."""
    root = CORPUS / item["path"]
    mix, rate, bits = read_int(root / "mix.flac")
    stems = {n: read_int(root / "stems" / f"{n}.flac")[0] for n in item["stems"]}
    residual = mix.astype(np.int64) - sum(s.astype(np.int64) for s in stems.values())
    # a difference of two full-scale signals takes one more bit
    return rate, {**{n: (s, bits) for n, s in stems.items()}, "mix": (mix, bits),
                  "residual": (residual.astype(np.int32), bits + 1)}


def item_bytes(match: str) -> dict:
    """Lossless bytes (default codec settings) of every signal of every item, summed per item."""
    out = {}
    for item in multitrack_items():
        if match in item["id"]:
            _, signals = item_signals(item)
            out[item["id"]] = sum(code_bytes(x, bits) for x, bits in signals.values())
    return out


def code_bytes(x: np.ndarray, bits: int) -> int:
    codec = LosslessCodec(bits=bits, channels=x.shape[1])
    return sum(len(codec.encode(np.ascontiguousarray(x[i : i + PACKET]))) for i in range(0, len(x), PACKET))


def mean_shift_loo(values: list[int], match: str) -> int:
    src = Path(__file__).resolve().parents[1] / "snc"
    results = {}
    for value in values:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(src, Path(tmp) / "snc", ignore=shutil.ignore_patterns("__pycache__"))
            kernel = Path(tmp) / "snc" / "kernels" / "adaptive_residual.py"
            text, n = re.subn(r"(?m)^MEAN_SHIFT = \d+$", f"MEAN_SHIFT = {value}", kernel.read_text())
            assert n == 1, "MEAN_SHIFT not found"
            kernel.write_text(text)
            # the copy must come first on sys.path, also before the checkout _common puts there
            program = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import _common; "
                       f"sys.path.insert(0, {tmp!r}); import snc, residual_coding as bench; "
                       f"assert snc.__file__.startswith({tmp!r}), snc.__file__; "
                       f"print(json.dumps(bench.item_bytes({match!r})))")
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
            run = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True,
                                 check=True)
            results[value] = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"  MEAN_SHIFT = {value}: {sum(results[value].values()):,} bytes", flush=True)
    items = list(results[values[0]])
    total = {v: sum(r.values()) for v, r in results.items()}
    rows = [["all items", min(total, key=total.get), "", "", ""]]
    for item in items:
        others = {v: total[v] - results[v][item] for v in values}
        chosen = min(others, key=others.get)
        own = min(values, key=lambda v: results[v][item])
        rows.append([item, chosen, f"{results[chosen][item]:,}", own,
                     f"+{(results[chosen][item] / results[own][item] - 1) * 100:.2f} %"])
    print()
    print_table(["held out", "MEAN_SHIFT chosen on the others", "its bytes", "its own best", "cost"], rows,
                title="leave-one-out of the running mean's speed (lossless bytes of stems, mix and residual)")
    print()
    print_table(["MEAN_SHIFT", *items, "all"],
                [[v, *(f"{results[v][i]:,}" for i in items), f"{total[v]:,}"] for v in values],
                title="bytes per item")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--match", default="", help="only items whose id contains this text")
    ap.add_argument("--mean-shift-loo", nargs="?", const="1,2,3,4,5", metavar="VALUES",
                    help="leave-one-out choice of MEAN_SHIFT over these values")
    args = ap.parse_args(argv)
    if args.mean_shift_loo:
        return mean_shift_loo([int(v) for v in args.mean_shift_loo.split(",")], args.match)
    one_core()
    warm = np.zeros((64, 2), np.int32)
    for coding in ("rice", "adaptive"):  # compile outside the timings
        c = LosslessCodec(bits=16, channels=2, residual_coding=coding)
        c.decode(c.encode(warm), 64)
    rows, totals = [], {"rice": 0, "adaptive": 0}
    for item in multitrack_items():
        if args.match not in item["id"]:
            continue
        rate, signals = item_signals(item)
        for name, (x, width) in signals.items():
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
