"""Leave-one-out for the perceptual tuning (issue 18 part 4): is a tuned constant fitted to the items it was
chosen on?

For each tuned constant below, every multitrack item of the corpus (true stems, full 45 s, 16-bit 44.1 kHz)
is encoded at every value of a grid around the table's value (``snc.encode.tuning.PERCEPTUAL_TUNING[preset]``
with that one field replaced), and scored: bytes / ``flac -8`` of the mix, mix STOI (pystoi) and ViSQOL
(visqol-python audio mode) as in ``bench/perceptual.py``.

The choice rule, one for every constant and every set of items: among the grid values at which every item of
the set meets the preset's targets (transparent: STOI >= 0.996 and ViSQOL >= 4.6; compact: ViSQOL >= 4.4),
the one with the fewest bytes (mean ratio to FLAC); if no value meets them on every item, the one that meets
them on the most items, the finer one on a tie.  Then, per item: the value chosen on the *other* items only
(leave-one-out), and that item's result at it.  A constant fitted to one item shows as a held-out item that
misses its targets at its leave-one-out value, or as leave-one-out values that wander with the item left out.

Usage: python bench/loo.py [--constants transparent.quality_db,...] [--items id,...] [--jobs 2]
       [--cache FILE.json]  (results are cached per encode: a rerun scores only what is missing)
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import quality as q  # noqa: E402
from _common import CORPUS, flac8_bytes, multitrack_items, print_table, read_int  # noqa: E402

#: (preset, field) -> (grid, finer direction: -1 when a smaller value codes finer).  The grids step by the
#: tuning's own resolution around the table's value, two steps each way
CONSTANTS = {
    ("transparent", "quality_db"): ((7.0, 8.0, 9.0, 10.0, 11.0), -1),
    ("transparent", "speech_snr_db"): ((15.0, 17.0, 19.0, 21.0, 23.0), +1),
    ("compact", "quality_db"): ((16.0, 18.0, 20.0, 22.0, 24.0), -1),
}
TARGETS = {"transparent": {"stoi": 0.996, "visqol": 4.6}, "compact": {"visqol": 4.4}}


def run_one(item_id: str, item_path: str, preset: str, field: str, value: float) -> dict:
    """Encode one item with one constant replaced, decode, score (in a worker process)."""
    import snc
    from snc.encode import tuning

    root = CORPUS / item_path
    mix, rate, bits = read_int(root / "mix.flac")
    stems = {p.stem: read_int(p)[0] for p in sorted((root / "stems").glob("*.flac"))}
    saved = tuning.PERCEPTUAL_TUNING[preset]
    tuning.PERCEPTUAL_TUNING[preset] = dataclasses.replace(saved, **{field: value})
    try:
        buf = io.BytesIO()
        snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset=preset)
    finally:
        tuning.PERCEPTUAL_TUNING[preset] = saved
    buf.seek(0)
    with snc.open(buf) as f:
        decoded = f.read()
    ref = mix.astype(np.float64) / float(1 << (bits - 1))
    return {"bytes": len(buf.getvalue()), "stoi": q.stoi(ref, decoded, rate) if preset == "transparent" else None,
            "visqol": q.visqol(ref, decoded, rate)}


def meets(result: dict, preset: str) -> bool:
    return all(result[k] is not None and result[k] >= v for k, v in TARGETS[preset].items())


def choose(grid, finer: int, results: dict, items: list[str], preset: str, flac: dict) -> float:
    """The choice rule of the module docstring over ``items``."""
    def score(value):
        rows = [results[(i, value)] for i in items]
        met = sum(meets(r, preset) for r in rows)
        size = float(np.mean([r["bytes"] / flac[i] for i, r in zip(items, rows)]))
        return met, size

    full = [v for v in grid if score(v)[0] == len(items)]
    if full:
        return min(full, key=lambda v: score(v)[1])
    return max(grid, key=lambda v: (score(v)[0], finer * v))


def cells(r: dict, flac_bytes: int, preset: str) -> list[str]:
    return [f"{r['bytes'] / flac_bytes:.3f}", "" if r["stoi"] is None else f"{r['stoi']:.4f}", f"{r['visqol']:.3f}",
            "yes" if meets(r, preset) else "NO"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--constants", default=",".join(f"{p}.{f}" for p, f in CONSTANTS),
                    help="comma-separated preset.field")
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item with stems)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/snc_loo_cache.json", help="JSON file of finished encodes")
    args = ap.parse_args(argv)
    items = [it for it in multitrack_items() if not args.items or it["id"] in args.items.split(",")]
    wanted = [tuple(c.split(".")) for c in args.constants.split(",")]
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    flac = {it["id"]: flac8_bytes(CORPUS / it["path"] / "mix.flac") for it in items}
    from snc.encode.tuning import PERCEPTUAL_TUNING

    todo = [(it, p, f, v) for p, f in wanted for v in CONSTANTS[(p, f)][0] for it in items
            if f"{it['id']}|{p}|{f}|{v}" not in cache]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, 2))) as pool:
        futures = {pool.submit(run_one, it["id"], it["path"], p, f, v): f"{it['id']}|{p}|{f}|{v}"
                   for it, p, f, v in todo}
        for n, fut in enumerate(as_completed(futures), 1):
            key = futures[fut]
            cache[key] = fut.result()
            cache_path.write_text(json.dumps(cache, indent=1, sort_keys=True))
            print(f"  [{n}/{len(todo)}] {key}: {cache[key]} ({time.perf_counter() - t0:.0f} s)", flush=True)

    ids = [it["id"] for it in items]
    for preset, field in wanted:
        grid, finer = CONSTANTS[(preset, field)]
        results = {(i, v): cache[f"{i}|{preset}|{field}|{v}"] for i in ids for v in grid}
        table_value = getattr(PERCEPTUAL_TUNING[preset], field)
        all_items = choose(grid, finer, results, ids, preset, flac)
        rows = []
        for i in ids:
            loo = choose(grid, finer, results, [j for j in ids if j != i], preset, flac)
            at_loo, at_table = results[(i, loo)], results[(i, table_value)]

            rows.append([i, f"{loo:g}", *cells(at_loo, flac[i], preset), *cells(at_table, flac[i], preset)])
        print()
        print_table(["held-out item", "LOO value", "x FLAC", "STOI", "ViSQOL", "meets", "x FLAC @table",
                     "STOI @table", "ViSQOL @table", "meets @table"], rows,
                    title=f"{preset}.{field}: table {table_value:g}, chosen on all items {all_items:g}, grid "
                          f"{', '.join(f'{v:g}' for v in grid)}; targets {TARGETS[preset]}")
        sweep = [[f"{v:g}", *(f"{results[(i, v)]['bytes'] / flac[i]:.3f}"
                              + ("" if meets(results[(i, v)], preset) else "*") for i in ids)] for v in grid]
        print_table([field, *ids], sweep, title="x FLAC per value (* = misses the targets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
