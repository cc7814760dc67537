"""Longer adaptive filter cascades for the ``lossless`` codec (spec/codec-lossless.md section 13): bytes and speed.

Method 2 lets a packet name its own cascade (up to three sign-LMS stages of 16..512 taps), and a decoder runs
whatever the packet names.  The codec's default, ``(32, 10), (16, 11)``, keeps decoding above issue 3's 100x
realtime.  Monkey's Audio's stronger modes put a long stage first (``-c3000``: 256 taps; ``-c4000``: 1024 and
256), which follows the long periodicities of tonal music.  This bench codes every true stem and every mix
of the corpus (full length, 32768-frame packets, one core) with each candidate cascade and with the
per-packet smaller of the default and the candidate (what an encoder that tries both writes), and reports
bytes against the default and decode speed.

The candidate is chosen on all songs at once (fewest total bytes, best-of-both); the ``leave-one-out`` table
then chooses it on the other songs only (items sharing stems count as one song) and gives the held-out
song's cost against its own best.

Usage: python bench/cascade.py [--match TEXT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import CORPUS, manifest, one_core, print_table, read_int  # noqa: E402

from snc.codecs.lossless import LONG_FILTERS, LosslessCodec  # noqa: E402

PACKET = 32768
CANDIDATES = {
    "default": LosslessCodec.filters,
    "256": ((256, 13), (32, 10), (16, 11)),
    "512": ((512, 14), (32, 10), (16, 11)),
    "512+256": ((512, 15), (256, 13), (16, 11)),
}


def signals(match: str):
    """``(song, name, int32 array, bits)`` for every stem (once per song) and every mix of the corpus."""
    seen = set()
    for item in manifest()["items"]:
        if match and match not in item["id"]:
            continue
        root = CORPUS / item["path"]
        song = item["path"].split("_compressed")[0].split("_limited")[0].split("_mastered")[0]
        mix, _, bits = read_int(root / "mix.flac")
        yield song, f"{item['id']}/mix", mix.astype(np.int32), bits
        if song in seen:
            continue
        seen.add(song)
        for path in sorted((root / "stems").glob("*.flac")) if (root / "stems").is_dir() else ():
            x, _, bits = read_int(path)
            yield song, f"{item['id']}/{path.stem}", x.astype(np.int32), bits


def coded(x: np.ndarray, bits: int, filters) -> tuple[list[int], float]:
    """Packet sizes and the fastest of two decodes (seconds) of ``x`` with the cascade ``filters``."""
    codec = LosslessCodec(bits=bits, channels=x.shape[1])
    codec.filters = filters
    starts = range(0, len(x), PACKET)
    packets = [codec.encode(np.ascontiguousarray(x[i : i + PACKET])) for i in starts]
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        out = [codec.decode(p, min(PACKET, len(x) - i)) for p, i in zip(packets, starts)]
        best = min(best, time.perf_counter() - t)
    assert np.array_equal(np.concatenate(out), x), "not exact"
    return [len(p) for p in packets], best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--match", default="", help="only items whose id contains this text")
    args = ap.parse_args(argv)
    one_core()
    warm = np.zeros((4096, 2), dtype=np.int32)
    for filters in CANDIDATES.values():
        coded(warm, 16, filters)
    rows, per_song = [], {}
    for song, name, x, bits in signals(args.match):
        sizes, speed = {}, {}
        for key, filters in CANDIDATES.items():
            sizes[key], seconds = coded(x, bits, filters)
            speed[key] = len(x) / 44100 / seconds
        base = sum(sizes["default"])
        song_bytes = per_song.setdefault(song, {})
        row = [name, f"{base:,}"]
        for key in CANDIDATES:
            if key == "default":
                continue
            both = sum(min(a, b) for a, b in zip(sizes["default"], sizes[key]))
            song_bytes[key] = song_bytes.get(key, 0) + both
            row += [f"{sum(sizes[key]) / base:.4f}", f"{both / base:.4f}", f"{speed[key]:.0f}"]
        song_bytes["default"] = song_bytes.get("default", 0) + base
        rows.append(row + [f"{speed['default']:.0f}"])
        print(" ".join(rows[-1]), flush=True)
    keys = [k for k in CANDIDATES if k != "default"]
    head = ["signal", "default bytes"]
    for key in keys:
        head += [f"{key} / default", "best of both / default", f"{key} decode x RT"]
    print_table(head + ["default decode x RT"], rows,
                title="lossless codec: a long cascade, alone and per packet against the default")
    total = {k: sum(s[k] for s in per_song.values()) for k in CANDIDATES}
    print("\ntotal bytes: " + ", ".join(f"{k} {v:,} ({v / total['default']:.4f})" for k, v in total.items()))
    chosen = min(keys, key=lambda k: total[k])
    loo = [["all songs", chosen, "", "", ""]]
    for song, s in per_song.items():
        pick = min(keys, key=lambda k: total[k] - s[k])
        own = min(keys, key=lambda k: s[k])
        loo.append([song, pick, f"{s[pick]:,}", own, f"{100 * (s[pick] / s[own] - 1):+.2f} %"])
    print_table(["held out", "chosen on the others", "its bytes (best of both)", "its own best", "cost"], loo,
                title="leave-one-out choice of the long cascade")
    print(f"\nthe codec's LONG_FILTERS (the archival preset's): {LONG_FILTERS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
