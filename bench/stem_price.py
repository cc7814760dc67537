"""The price of the stems: how many times the bytes of Opus coding the mix alone a ``transparent`` SNC file
costs at the same ViSQOL (issue 18: median <= 1.6x, stretch 1.3x).

For every corpus item with true stems (the mastered ones included): ``snc.encode(mix, stems=true stems,
preset='transparent')`` -> its bitrate (file bytes * 8 / duration) and the decoded mix's ViSQOL; Opus on the mix
alone (``bench/quality.opus_roundtrip``: ``opusenc --bitrate N --vbr``, decoded sample-aligned) at each of
``--bitrates`` -> Opus's rate-ViSQOL curve (measured bitrate from the .opus file's bytes).  The Opus bitrate at
SNC's ViSQOL is interpolated linearly in ViSQOL between the two measured points around it (log bitrate); where
no Opus point reaches SNC's ViSQOL the price is "above" (Opus never gets there at these rates), where every Opus
point is above it, "below" (SNC is under the lowest rate's quality).  Price = SNC kbps / Opus kbps there.

ViSQOL: ``bench/quality.visqol`` (mono downmix at 48 kHz).  Items run in up to ``--jobs`` worker processes.

Usage: ``python bench/stem_price.py [--items ID,...] [--bitrates 96,128,160,192,256,320] [--jobs 2]``
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as q  # noqa: E402
from _common import CORPUS, multitrack_items, print_table, read_int  # noqa: E402

BITRATES = (96, 128, 160, 192, 256, 320)


def opus_kbps_at(visqol: float, curve: list[tuple[float, float]]) -> float | str:
    """Opus's bitrate at ``visqol`` on its measured ``(kbps, visqol)`` curve (module docstring), or
    ``"above"`` / ``"below"`` when the curve does not reach / starts above it."""
    points = sorted(curve)
    if all(v < visqol for _, v in points):
        return "above"
    if points[0][1] >= visqol:
        return "below"
    for (r0, v0), (r1, v1) in zip(points, points[1:]):
        if v0 < visqol <= v1:
            f = (visqol - v0) / (v1 - v0)
            return math.exp(math.log(r0) + f * (math.log(r1) - math.log(r0)))
    return "above"  # the curve dips after reaching it: only a later point counts as reaching


def measure(item: dict, bitrates: tuple[int, ...]) -> dict:
    import snc

    root = CORPUS / item["path"]
    mix, rate, bits = read_int(root / "mix.flac")
    stems = {p.stem: read_int(p)[0] for p in sorted((root / "stems").glob("*.flac"))}
    seconds = len(mix) / rate
    ref = mix / float(1 << (bits - 1))
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset="transparent")
    buf.seek(0)
    with snc.open(buf) as f:
        snc_visqol = q.visqol(ref, f.read(), rate)
    curve = []
    for kbps in bitrates:
        decoded, opus_bytes = q.opus_roundtrip(ref, rate, kbps)
        curve.append((opus_bytes * 8 / seconds / 1000, q.visqol(ref, decoded, rate)))
    return dict(id=item["id"], snc_kbps=report.file_bytes * 8 / seconds / 1000, snc_visqol=snc_visqol, curve=curve)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item with stems)")
    ap.add_argument("--bitrates", default=",".join(map(str, BITRATES)))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    reason = q.visqol_unavailable()
    if reason:
        raise SystemExit(f"ViSQOL cannot run here: {reason}")
    items = [it for it in multitrack_items() if not args.items or it["id"] in args.items.split(",")]
    bitrates = tuple(int(b) for b in args.bitrates.split(","))
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, 2)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(measure, items, [bitrates] * len(items)))
    rows, prices = [], []
    for r in results:
        at = opus_kbps_at(r["snc_visqol"], r["curve"])
        price = r["snc_kbps"] / at if isinstance(at, float) else at
        if isinstance(price, float):
            prices.append(price)
        curve = ", ".join(f"{k:.0f}:{v:.3f}" for k, v in r["curve"])
        rows.append([r["id"], f"{r['snc_kbps']:.1f}", f"{r['snc_visqol']:.3f}",
                     f"{at:.1f}" if isinstance(at, float) else at,
                     f"{price:.2f}" if isinstance(price, float) else price, curve])
    print_table(["item", "SNC kbps", "SNC ViSQOL", "Opus kbps at that ViSQOL", "x Opus", "Opus kbps:ViSQOL"], rows,
                title="transparent SNC (true stems) against Opus on the mix alone at equal ViSQOL")
    if prices:
        print(f"\nmedian x Opus over {len(prices)} items with a price: {statistics.median(prices):.2f} "
              f"(target <= 1.6, stretch 1.3); {len(results) - len(prices)} items above/below the Opus curve")


if __name__ == "__main__":
    main()
