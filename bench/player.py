"""Player benchmark (issue 16, item 10): is every block of ``f.player(blocksize=1024)`` ready in time?

A corpus item (default midi_openmsx_5432gone, the one with the most stems) is encoded once with its true stems,
``preset='transparent'`` (cached in the temp folder), then played through ``f.player(blocksize=N)`` on one core
(``bench/_common.one_core``) in several scenarios, each timing every block as the ``set()`` before it plus the
``read()`` that returns it -- what an audio callback would wait for:

- ``none``: no ``set()`` (the steady state);
- ``gains``: ``set(gains={stem: dB})`` before every block, the dB of one stem changing each time;
- ``mute``: ``set(mute=[stem])`` before every block, the stem cycling through the stems;
- ``solo``: ``set(solo=[stem])`` likewise;
- ``profile``: ``set(profile=P)`` before every block, P cycling through the built-in profiles;
- ``binaural``: a binaural player, ``set(layout="binaural", gains=...)`` before every block.

Printed per scenario: the worst, 99th percentile and median block time (ms), the block's own duration (the
budget: 23.2 ms at 1024 frames, 44.1 kHz), how many blocks went over it, and the load: the time spent in
``set()`` + ``read()`` over the audio's duration (100 % = the audio thread never idle).  The first block of a
run (the player's start-up) is reported apart.

Blocks are asked for in real time, as an audio device would (each when the previous one's duration has passed
since the start), so the player's decoding thread gets the time a real player leaves it; ``--unpaced`` asks
for them back to back instead (a throughput figure: a player that runs ahead of its decoding waits for it).

Usage: ``python bench/player.py [--item ID] [--blocksize 1024] [--seconds 45] [--scenarios none,gains,...]
[--unpaced]``
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.one_core()

import snc  # noqa: E402
from snc.render.profiles import BUILTIN  # noqa: E402

SCENARIOS = ("none", "gains", "mute", "solo", "profile", "binaural")


def encoded(item: dict) -> bytes:
    """The item encoded with its true stems (transparent), cached in the temp folder."""
    cache = Path(tempfile.gettempdir()) / f"snc-bench-player-{item['id']}-{snc.__version__}.snc"
    if cache.exists():
        return cache.read_bytes()
    mix, rate, bits = _common.read_int(_common.CORPUS / item["path"] / "mix.flac")
    stems = {p.stem: _common.read_int(p)[0] for p in sorted((_common.CORPUS / item["path"] / "stems").glob("*.flac"))}
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset="transparent")
    cache.write_bytes(buf.getvalue())
    return buf.getvalue()


def changes(scenario: str, stems: list[str]):
    """The keyword arguments of the set() before block ``i`` (None: no set())."""
    profiles = list(BUILTIN)
    if scenario == "none":
        return lambda i: None
    if scenario == "gains":
        return lambda i: {"gains": {stems[0]: -12.0 + (i % 25)}}
    if scenario == "mute":
        return lambda i: {"mute": [stems[i % len(stems)]]}
    if scenario == "solo":
        return lambda i: {"solo": [stems[i % len(stems)]]}
    if scenario == "profile":
        return lambda i: {"profile": profiles[i % len(profiles)]}
    if scenario == "binaural":
        return lambda i: {"layout": "binaural", "gains": {stems[0]: -12.0 + (i % 25)}}
    raise SystemExit(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")


def run(data: bytes, scenario: str, blocksize: int, seconds: float, paced: bool) -> dict:
    with snc.open(io.BytesIO(data)) as f:
        frames = min(f.frames, int(seconds * f.samplerate))
        change = changes(scenario, f.stems)
        start = {"layout": "binaural"} if scenario == "binaural" else {}
        t0 = time.perf_counter()
        player = f.player(blocksize=blocksize, **start)
        times, done, i = [], 0, 0
        wall0 = time.perf_counter()
        while done < frames:
            if paced and i:
                time.sleep(max(0.0, wall0 + done / f.samplerate - time.perf_counter()))
            t = time.perf_counter()
            kwargs = change(i) if i else None  # the first block plays what the player was made with
            if kwargs is not None:
                player.set(**kwargs)
            block = player.read()
            times.append(time.perf_counter() - t)
            if block is None:
                break
            done += len(block)
            i += 1
        player.close()
        budget = blocksize / f.samplerate
        steady = np.array(times[1:]) * 1000.0
        return {"scenario": scenario, "first": (wall0 - t0 + times[0]) * 1000.0,
                "worst": steady.max(), "p99": np.percentile(steady, 99), "median": np.median(steady),
                "budget": budget * 1000.0, "over": int(np.sum(steady > budget * 1000.0)), "blocks": len(steady),
                "load": 100.0 * sum(times[1:]) / (done / f.samplerate)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--item", default="midi_openmsx_5432gone")
    ap.add_argument("--blocksize", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=45.0, help="how much of the item to play")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--unpaced", action="store_true", help="ask for blocks back to back, not in real time")
    args = ap.parse_args(argv)
    item = next((it for it in _common.multitrack_items() if it["id"] == args.item), None)
    if item is None:
        raise SystemExit(f"no multitrack item {args.item!r} in the corpus")
    data = encoded(item)
    rows = []
    for scenario in args.scenarios.split(","):
        r = run(data, scenario, args.blocksize, args.seconds, not args.unpaced)
        rows.append([r["scenario"], f"{r['worst']:.1f}", f"{r['p99']:.1f}", f"{r['median']:.2f}", f"{r['budget']:.1f}",
                     f"{r['over']}/{r['blocks']}", f"{r['first']:.0f}", f"{r['load']:.1f}%"])
    _common.print_table(["set() every block", "worst ms", "p99 ms", "median ms", "budget ms", "over budget",
                         "start ms", "load"], rows,
                        title=f"player, {args.item}, transparent + true stems, blocksize {args.blocksize}, "
                              f"{args.seconds:g} s, one core, {'unpaced' if args.unpaced else 'paced in real time'}")


if __name__ == "__main__":
    main()
