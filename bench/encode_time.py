"""Encode time of whole corpus files, this checkout side by side with another one (e.g. an older commit).

For every item with stems and every preset: the file's bytes and the seconds ``snc.encode`` takes, one process
per checkout and run, the checkouts alternating run by run (so that a machine whose speed wanders treats both
alike).  Byte counts tell whether the two write the same files.

Usage: ``python bench/encode_time.py [--items ID,...] [--presets archival,transparent] [--runs 2]
[--against DIR]`` -- DIR: another checkout of this repository (``git worktree add DIR COMMIT``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, REPO, multitrack_items, print_table  # noqa: E402

#: run in a fresh interpreter with the checkout first on sys.path: each checkout's snc, imported once
_RUN = """
import io, json, sys, time
sys.path.insert(0, sys.argv[1])
import snc
for mix, stems, preset in json.loads(sys.argv[2]):
    buf = io.BytesIO()
    t0 = time.perf_counter()
    snc.encode(mix, buf, stems=stems, preset=preset)
    print(json.dumps([preset, len(buf.getvalue()), time.perf_counter() - t0]), flush=True)
"""


def run(checkout: Path, jobs: list) -> list:
    out = subprocess.run([sys.executable, "-c", _RUN, str(checkout), json.dumps(jobs)], capture_output=True,
                         text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("[")]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item with stems)")
    ap.add_argument("--presets", default="archival,transparent")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--against", default=None, metavar="DIR", help="another checkout to time alongside")
    args = ap.parse_args(argv)
    items = [it for it in multitrack_items() if not args.items or it["id"] in args.items.split(",")]
    jobs, names = [], []
    for it in items:
        root = CORPUS / it["path"]
        stems = {p.stem: str(p) for p in sorted((root / "stems").glob("*.flac"))}
        for preset in args.presets.split(","):
            jobs.append([str(root / "mix.flac"), stems, preset])
            names.append((it["id"], preset))
    checkouts = [("this", REPO)] + ([("against", Path(args.against).resolve())] if args.against else [])
    results = {label: [] for label, _ in checkouts}
    for r in range(args.runs):
        for label, path in checkouts:
            print(f"run {r + 1}/{args.runs}: {label} ({path})", flush=True)
            results[label].append(run(path, jobs))
    rows = []
    for k, (item, preset) in enumerate(names):
        row = [item, preset]
        for label, _ in checkouts:
            secs = [res[k][2] for res in results[label]]
            row += [f"{results[label][0][k][1]:,}", f"{min(secs):.2f}-{max(secs):.2f}"]
        rows.append(row)
    head = ["item", "preset"]
    for label, _ in checkouts:
        head += [f"{label} bytes", f"{label} s"]
    print_table(head, rows, title=f"snc.encode seconds per file ({args.runs} runs), corpus {CORPUS}")


if __name__ == "__main__":
    main()
