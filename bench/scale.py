"""Library scale (issue 19): batch throughput and resume cost, and peak memory against song length.

Part 1 -- a 20-song batch.  A JSON-lines manifest of 20 songs, the corpus's items with true stems taken in
turn (16-bit 44.1 kHz, 45 s each: 15 min of audio), encoded by the command line ``snc-encode --manifest M -O DIR
-q`` (default preset, transparent) with ``-j 1``, with ``-j 2`` and with ``--dask-local 2``, each into a fresh
folder; then the ``-j 2`` run again over its finished folder (every song skipped).  Wall time of each command
(process start to exit, numba cache warm), songs per hour, aggregate x realtime, and the speed-up of ``-j 2``
over ``-j 1`` (scaling efficiency = speed-up / 2).

Part 2 -- peak memory.  Songs of 1 and 6 minutes built by concatenating corpus items (mix and stems alike),
16-bit 44.1 kHz, each encoded in a fresh process (transparent, with its true stems and with the dsp separator),
then decoded (the whole mix through ``f.blocks``) and rendered (``f.render_blocks(profile='karaoke')``) in fresh
processes; the peak resident set of each process (``VmHWM`` of ``/proc/self/status``) and its x realtime.

``--hires``: part 2 with the songs resampled to 96 kHz 24-bit as ``bench/hires.py`` makes its copies.

``--preset``: part 2's encodes with another preset (default transparent).

Usage: python bench/scale.py [--skip 1|2] [--minutes 1,6] [--hires] [--preset NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from _common import CORPUS, multitrack_items, print_table, read_int  # noqa: E402

SONGS = 20


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0


def batch(tmp: Path) -> None:
    items = multitrack_items()
    manifest = tmp / "songs.jsonl"
    audio = 0.0
    with open(manifest, "w") as fh:
        for k in range(SONGS):
            item = items[k % len(items)]
            root = CORPUS / item["path"]
            audio += sf.info(str(root / "mix.flac")).duration
            stems = {p.stem: str(p) for p in sorted((root / "stems").glob("*.flac"))}
            fh.write(json.dumps({"mix": str(root / "mix.flac"), "stems": stems, "output": f"song{k:02d}.snc"}) + "\n")
    base = [sys.executable, "-m", "snc.cli.encode", "--manifest", str(manifest), "-q"]
    runs = {}
    for label, extra, folder in (("-j 1", ["-j", "1"], "j1"), ("-j 2", ["-j", "2"], "j2"),
                                 ("--dask-local 2", ["--dask-local", "2"], "dask"),
                                 ("-j 2 rerun (all done)", ["-j", "2"], "j2")):
        runs[label] = run([*base, "-O", str(tmp / folder), *extra])
        print(f"  {label}: {runs[label]:.1f} s", flush=True)
    rows = []
    for label, wall in runs.items():
        rerun = "rerun" in label
        rows.append([label, f"{wall:.1f}", "" if rerun else f"{SONGS * 3600 / wall:.0f}",
                     "" if rerun else f"{audio / wall:.1f}",
                     "" if rerun or label == "-j 1" else f"{runs['-j 1'] / wall:.2f}"])
    print_table(["command", "wall s", "songs / hour", "x realtime", "speed-up over -j 1"], rows,
                title=f"{SONGS}-song batch ({audio / 60:.1f} min of audio, transparent, true stems), 2 cores")
    print(f"scaling efficiency of -j 2: {runs['-j 1'] / runs['-j 2'] / 2:.2f}")


MEASURE = r'''
import sys, time, json
import snc
kind, path, out, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t0 = time.perf_counter()
if kind == "encode":
    r = snc.encode(path, out, overwrite=True, **extra)
    seconds = r.frames / r.sample_rate
else:
    with snc.open(out) as f:
        seconds = f.duration
        blocks = f.blocks(65536) if kind == "decode" else f.render_blocks(65536, profile="karaoke")
        for _ in blocks:
            pass
wall = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so a child started by a big parent reports the
# parent's size; the high-water mark of this address space starts afresh
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"rss_mb": peak / 1024, "x": seconds / wall}))
'''


def measure(kind: str, path: str, out: str, extra: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, kind, path, out, json.dumps(extra)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def hires(x: np.ndarray) -> np.ndarray:
    """44.1 kHz 16-bit -> 96 kHz 24-bit, as bench/hires.py makes its copies (resample_poly 320/147, x256)."""
    from scipy.signal import resample_poly

    y = np.round(resample_poly(x.astype(np.float64), 320, 147, axis=0) * 256.0)
    return np.clip(y, -(1 << 23), (1 << 23) - 1).astype(np.int32)


def long_song(tmp: Path, minutes: float, hi_res: bool = False) -> tuple[Path, dict]:
    """A song of ``minutes`` from the corpus's items with stems in turn, four stems (missing ones silent),
    written piece by piece (an hour at 24/96 is 2 GB a signal); ``hi_res``: each piece resampled to 96 kHz
    24-bit (:func:`hires`)."""
    items = multitrack_items()
    names = ("mix", "vocals", "drums", "bass", "other")
    folder = tmp / f"long{minutes:g}{'-hires' if hi_res else ''}"
    folder.mkdir()
    rate, subtype = (96000, "PCM_24") if hi_res else (44100, "PCM_16")
    files = {n: sf.SoundFile(folder / f"{n}.wav", "w", rate, 2, subtype) for n in names}
    frames = int(minutes * 60 * 44100)
    at, k = 0, 0
    while at < frames:
        root = CORPUS / items[k % len(items)]["path"]
        mix = read_int(root / "mix.flac")[0]
        n = min(len(mix), frames - at)
        parts = {"mix": mix[:n]}
        paths = sorted((root / "stems").glob("*.flac"))
        for name, path in zip(names[1:], paths[:3] + paths[3:4]):
            parts[name] = read_int(path)[0][:n].astype(np.int32)
        for path in paths[4:]:  # fold any further stem into "other": the four still sum to the item's stems
            parts["other"] += read_int(path)[0][:n]
        for name in names:
            x = parts.get(name, np.zeros((n, 2), np.int32))
            x = hires(x) if hi_res else np.clip(x, -32768, 32767).astype(np.int16)
            files[name].write(x << 8 if hi_res else x)  # int32 holds 24-bit samples in its top bits
        at, k = at + n, k + 1
    for f in files.values():
        f.close()
    return folder / "mix.wav", {n: str(folder / f"{n}.wav") for n in names[1:]}


def memory(tmp: Path, minutes_list, hi_res: bool = False, preset: str = "transparent") -> None:
    rows = []
    for minutes in minutes_list:
        mix, stems = long_song(tmp, minutes, hi_res)
        for label, extra in (("true stems", {"stems": stems}), ("dsp separator", {"separator": "dsp"})):
            out = str(tmp / f"m{minutes:g}-{label[:3]}.snc")
            enc = measure("encode", str(mix), out, {**extra, "preset": preset})
            dec = measure("decode", str(mix), out, {})
            ren = measure("render", str(mix), out, {})
            rows.append([f"{minutes:g} min", label, f"{enc['rss_mb']:.0f}", f"{enc['x']:.1f}", f"{dec['rss_mb']:.0f}",
                         f"{dec['x']:.0f}", f"{ren['rss_mb']:.0f}", f"{ren['x']:.0f}"])
            print(f"  {minutes:g} min {label}: encode {enc}, decode {dec}, render {ren}", flush=True)
    print_table(["length", "stems", "encode peak MB", "encode x RT", "decode peak MB", "decode x RT",
                 "karaoke render peak MB", "render x RT"], rows,
                title=f"peak resident memory per process, {'24-bit 96' if hi_res else '16-bit 44.1'} kHz stereo, "
                      f"{preset} (fresh process each)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", default="", help="'1' or '2': skip that part")
    ap.add_argument("--minutes", default="1,6", help="song lengths for part 2")
    ap.add_argument("--hires", action="store_true", help="part 2 at 96 kHz 24-bit (resampled as bench/hires.py)")
    ap.add_argument("--preset", default="transparent", help="the preset of part 2's encodes")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="snc-scale-") as tmpd:
        tmp = Path(tmpd)
        if "1" not in args.skip:
            batch(tmp)
        if "2" not in args.skip:
            memory(tmp, [float(m) for m in args.minutes.split(",")], args.hires, args.preset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
