"""Front-door benchmark (issue 16): start-up, CLI wall time next to flac/opusenc, first-run compile, player
blocks, peak memory.

Parts (all on one 45 s multitrack corpus item, default ``midi_openmsx_5432gone``; every CLI run is a fresh
``python -m snc.cli.*`` process with ``PYTHONPATH`` at the measured checkout, so its code is what is timed):

a. ``python -c "import snc"`` against ``python -c "import numpy, soundfile"``: median wall time of 5 fresh
   interpreters each (interleaved), and their ratio (target <= 3).
b. CLI wall time, median of 3 (after one untimed run, so numba's cache is warm): ``snc-info``, ``snc-decode``
   (the mix to .flac), ``snc-encode`` (default preset, the item's true stems) and ``snc-encode --separator
   none``; in the same run ``flac -d``, ``flac -8`` and ``opusenc --bitrate 128`` of the same mix (a column is
   skipped, with a note, when the tool is missing).
c. First run, each with a fresh, empty ``NUMBA_CACHE_DIR``: ``snc-info``, ``snc-decode`` of a transparent and
   of an archival file, ``snc-encode`` (true stems) transparent and archival; compile time = cold - warm
   (wall and CPU; CPU is the steadier figure on a shared machine), and whether the run said so on stderr.
d. Player: ``f.player(blocksize=1024)`` over the whole file with a ``set()`` before every block, cycling
   ``set(gains={stem: -6})``, ``set(mute=[stem])``, ``set(profile="night")``; each ``read()`` timed (and
   ``set()`` + ``read()``): max, p99, median against the block's duration (target: max read < block).
   Six untimed blocks first (one of each change, twice), then ``seek(0)``: first-use costs are not a block's.
e. Peak memory (``/usr/bin/time -f %M``, else the child's ``ru_maxrss``) of ``snc-decode`` of the item, and of each
   crafted file (``--crafted PATH...``; default: ``spec/vectors/faulty/*.snc`` of the measured checkout) with
   its outcome (target < 500 MB).

Speeds are per core (``_common.one_core``: the bench and its children are pinned to one CPU).

Usage: ``python bench/frontdoor.py [--item ID] [--code CHECKOUT] [--crafted PATH ...] [--skip a,b,c,d,e]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.one_core()

DEFAULT_ITEM = "midi_openmsx_5432gone"
BLOCKSIZE = 1024
IMPORT_RUNS = 5
CLI_RUNS = 3
IMPORT_RATIO_TARGET = 3.0
CRAFTED_MB_TARGET = 500.0
CHILD_TIMEOUT_S = 600.0


@dataclass
class Child:
    """One finished child process: exit code, wall and CPU seconds, peak RSS (MB), first stderr line."""
    code: int
    wall: float
    cpu: float
    rss_mb: float
    stderr: str

    @property
    def first_line(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1][:100] if lines else ""


#: GNU time reports the peak RSS of the command alone; a child's own ru_maxrss would start from the bench's
#: size, since Linux carries the forked parent's high-water mark over the exec
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run_child(cmd: list[str], env: dict, *, timeout: float = CHILD_TIMEOUT_S) -> Child:
    """Run ``cmd`` to completion: wall time, CPU (wait4: it and its reaped descendants) and peak RSS.

    The child runs in a scratch folder: ``python -c``/``-m`` put the working directory first on sys.path,
    and a checkout there would shadow the one under test."""
    with tempfile.TemporaryDirectory() as cwd, tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        prefix = [GNU_TIME, "-f", "%M", "-o", rss.name] if GNU_TIME else []
        t0 = time.perf_counter()
        proc = subprocess.Popen(prefix + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            err = proc.stderr.read().decode(errors="replace")
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            proc.stderr.close()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from waiting again
        text = rss.read().strip().splitlines()
        rss_kb = int(text[-1]) if GNU_TIME and text and text[-1].isdigit() else usage.ru_maxrss
    return Child(proc.returncode, wall, usage.ru_utime + usage.ru_stime, rss_kb / 1024.0, err)


class Bench:
    def __init__(self, code: Path, tmp: Path, item: dict):
        self.code = code
        self.tmp = tmp
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])}
        folder = _common.CORPUS / item["path"]
        self.mix = folder / "mix.flac"
        self.stems = {p.stem: p for p in sorted((folder / "stems").glob("*.flac"))}
        self.snc = tmp / "item.snc"
        self.wav = tmp / "mix.wav"
        self.results: dict[str, float] = {}

    # -- commands -----------------------------------------------------------------------------------
    def snc_cmd(self, tool: str, *args) -> list[str]:
        return [sys.executable, "-m", f"snc.cli.{tool}", *map(str, args)]

    def stem_args(self) -> list[str]:
        return ["--stems", *(f"{name}={path}" for name, path in self.stems.items())]

    def encode_cmd(self, out: Path, *extra, quiet: bool = True) -> list[str]:
        """snc-encode of the item's mix: ``extra`` options, or else the true stems (``quiet``: ``-q``, which
        also silences the first-run compile message that part c looks for)."""
        return self.snc_cmd("encode", self.mix, "-o", out, *(["-q"] if quiet else []), *(extra or self.stem_args()))

    def timed(self, label: str, cmd: list[str], out: Path | None, env=None) -> Child:
        if out is not None and out.exists():
            out.unlink()
        child = run_child(cmd, env or self.env)
        if child.code != 0:
            raise SystemExit(f"{label} failed ({child.code}): {child.first_line}")
        return child

    def prepare(self) -> None:
        self.timed("snc-encode", self.encode_cmd(self.snc), self.snc)  # also warms numba's cache
        if shutil.which("flac"):
            self.timed("flac -d", ["flac", "-d", "-f", "-s", "-o", str(self.wav), str(self.mix)], None)
        else:
            import soundfile as sf

            data, rate = sf.read(str(self.mix), dtype="int16")
            sf.write(str(self.wav), data, rate, subtype="PCM_16")

    # -- a. import time ---------------------------------------------------------------------------
    def part_a(self) -> None:
        runs = {"snc": [], "numpy+soundfile": []}
        codes = {"snc": "import snc", "numpy+soundfile": "import numpy, soundfile"}
        for _ in range(IMPORT_RUNS):
            for name, code in codes.items():
                runs[name].append(self.timed(name, [sys.executable, "-c", code], None).wall)
        med = {name: statistics.median(t) for name, t in runs.items()}
        ratio = med["snc"] / med["numpy+soundfile"]
        self.results["import_ratio"] = ratio
        _common.print_table(["import", f"median of {IMPORT_RUNS} (s)", "min (s)", "max (s)"],
                            [[n, f"{med[n]:.3f}", f"{min(t):.3f}", f"{max(t):.3f}"] for n, t in runs.items()]
                            + [["ratio snc / numpy+soundfile", f"{ratio:.2f}", "", ""]],
                            title="\n(a) import time, fresh interpreters")

    # -- b. CLI wall time -------------------------------------------------------------------------
    def part_b(self) -> None:
        out_flac, out_snc, out_wav = self.tmp / "out.flac", self.tmp / "out.snc", self.tmp / "out.wav"
        jobs = [
            ("snc-info", self.snc_cmd("info", self.snc), None),
            ("snc-decode -> .flac", self.snc_cmd("decode", self.snc, "-o", out_flac), out_flac),
            ("snc-encode (transparent, true stems)", self.encode_cmd(out_snc), out_snc),
            ("snc-encode --separator none", self.encode_cmd(out_snc, "--separator", "none"), out_snc),
        ]
        notes = []
        if shutil.which("flac"):
            jobs += [("flac -d", ["flac", "-d", "-f", "-s", "-o", str(out_wav), str(self.mix)], out_wav),
                     ("flac -8", ["flac", "-8", "-f", "-s", "-o", str(out_flac), str(self.wav)], out_flac)]
        else:
            notes.append("flac not installed: flac -d / flac -8 skipped")
        if shutil.which("opusenc"):
            jobs.append(("opusenc --bitrate 128", ["opusenc", "--quiet", "--bitrate", "128", str(self.wav),
                                                   str(self.tmp / "out.opus")], self.tmp / "out.opus"))
        else:
            notes.append("opusenc not installed: skipped")
        rows = []
        for label, cmd, out in jobs:
            self.timed(label, cmd, out)  # warm-up: file cache, numba cache
            runs = [self.timed(label, cmd, out) for _ in range(CLI_RUNS)]
            wall = statistics.median(c.wall for c in runs)
            self.results[f"wall:{label}"] = wall
            rows.append([label, f"{wall:.2f}", f"{statistics.median(c.cpu for c in runs):.2f}",
                         f"{max(c.rss_mb for c in runs):.0f}"])
        _common.print_table(["command", f"wall s (median of {CLI_RUNS})", "CPU s", "peak RSS MB"], rows,
                            title=f"\n(b) CLI on {self.mix.parent.name} (45 s, warm cache)")
        for note in notes:
            print(f"note: {note}")

    # -- c. first-run compile ---------------------------------------------------------------------
    def part_c(self) -> None:
        out_flac, out_snc = self.tmp / "cold.flac", self.tmp / "cold.snc"
        archival = self.tmp / "archival.snc"
        self.timed("snc-encode --preset archival", self.encode_cmd(archival, *self.stem_args(), "--preset",
                                                                   "archival"), archival)
        rows = []
        for label, cmd, out in [
            ("snc-info", self.snc_cmd("info", self.snc), None),
            ("snc-decode (transparent file)", self.snc_cmd("decode", self.snc, "-o", out_flac), out_flac),
            ("snc-decode (archival file)", self.snc_cmd("decode", archival, "-o", out_flac), out_flac),
            ("snc-encode (transparent, true stems)", self.encode_cmd(out_snc, quiet=False), out_snc),
            ("snc-encode --preset archival", self.encode_cmd(out_snc, *self.stem_args(), "--preset", "archival",
                                                             quiet=False), out_snc),
        ]:
            with tempfile.TemporaryDirectory(dir=self.tmp) as cache:
                cold = self.timed(label, cmd, out, env={**self.env, "NUMBA_CACHE_DIR": cache})
                warm = self.timed(label, cmd, out, env={**self.env, "NUMBA_CACHE_DIR": cache})
            said = "yes" if "compiling codec kernels" in cold.stderr else "no"
            self.results[f"compile:{label}"] = cold.wall - warm.wall
            rows.append([label, f"{cold.wall:.1f}", f"{warm.wall:.1f}", f"{cold.wall - warm.wall:.1f}",
                         f"{cold.cpu - warm.cpu:.1f}", said])
        _common.print_table(["command", "cold wall s", "warm wall s", "compile wall s", "compile CPU s",
                             "announced"], rows, title="\n(c) first run, fresh NUMBA_CACHE_DIR")

    # -- d. player blocks -------------------------------------------------------------------------
    def part_d(self) -> None:
        sys.path.insert(0, str(self.code))
        import snc

        rows = []
        with snc.open(self.snc) as f:
            stem = f.stems[0]
            changes = [{"gains": {stem: -6.0}}, {"mute": [stem]}, {"profile": "night"}]
            block_ms = 1000.0 * BLOCKSIZE / f.samplerate
            for paced in (True, False):
                reads, both = _player_pass(f, changes, paced)
                mode = "paced" if paced else "unpaced"
                for label, times in [("read()", reads), ("set() + read()", both)]:
                    ms = 1000.0 * np.asarray(times)
                    rows.append([mode, label, f"{ms.max():.1f}", f"{np.percentile(ms, 99):.1f}",
                                 f"{np.median(ms):.2f}", f"{block_ms:.1f}", int((ms > block_ms).sum()), len(ms)])
                self.results[f"player_max_ms:{mode}"] = 1000.0 * max(reads)
                self.results[f"player_both_max_ms:{mode}"] = 1000.0 * max(both)
        self.results["block_ms"] = block_ms
        _common.print_table(["blocks asked", "timed", "max ms", "p99 ms", "median ms", "block ms", "over", "blocks"],
                            rows, title=f"\n(d) player, blocksize {BLOCKSIZE}, a set() before every block "
                                        "(paced: each block asked for at its real-time deadline, as a sound card "
                                        "does; unpaced: back to back, faster than real time)")

    # -- e. peak memory ---------------------------------------------------------------------------
    def part_e(self, crafted: list[Path]) -> None:
        rows = []
        child = self.timed("snc-decode", self.snc_cmd("decode", self.snc, "-o", self.tmp / "mem.flac"),
                           self.tmp / "mem.flac")
        rows.append([f"{self.mix.parent.name} (45 s)", f"{child.rss_mb:.0f}", f"{child.wall:.1f}", "exit 0"])
        worst = None
        for path in crafted:
            out = self.tmp / "crafted.wav"
            if out.exists():
                out.unlink()
            child = run_child(self.snc_cmd("decode", path, "-o", out), self.env)
            outcome = f"exit {child.code}" + (f": {child.first_line}" if child.code else "")
            rows.append([path.name, f"{child.rss_mb:.0f}", f"{child.wall:.1f}", outcome])
            worst = max(worst or 0.0, child.rss_mb)
        if worst is not None:
            self.results["crafted_max_mb"] = worst
        _common.print_table(["snc-decode of", "peak RSS MB", "wall s", "outcome"], rows,
                            title="\n(e) peak memory (max RSS of the child)")

    # -- targets ----------------------------------------------------------------------------------
    def targets(self) -> None:
        rows = []
        r = self.results
        if "import_ratio" in r:
            ok = r["import_ratio"] <= IMPORT_RATIO_TARGET
            rows.append(["import snc / import numpy, soundfile", f"{r['import_ratio']:.2f}",
                         f"<= {IMPORT_RATIO_TARGET:g}", "yes" if ok else "NO"])
        for mode in ("paced", "unpaced"):
            if f"player_max_ms:{mode}" not in r:
                continue
            target = mode == "paced"  # the target is a real-time player's; unpaced is shown for what it costs
            for key, label in ((f"player_max_ms:{mode}", "read()"), (f"player_both_max_ms:{mode}", "set() + read()")):
                rows.append([f"worst player block, {mode}, {label} (ms)", f"{r[key]:.1f}",
                             f"< {r['block_ms']:.1f}" if target else "(no target)",
                             ("yes" if r[key] < r["block_ms"] else "NO") if target else "-"])
        if "crafted_max_mb" in r:
            rows.append(["crafted decode, peak RSS (MB)", f"{r['crafted_max_mb']:.0f}", f"< {CRAFTED_MB_TARGET:g}",
                         "yes" if r["crafted_max_mb"] < CRAFTED_MB_TARGET else "NO"])
        _common.print_table(["target", "measured", "goal", "met"], rows, title="\ntargets")



def _player_pass(f, changes: list[dict], paced: bool) -> tuple[list[float], list[float]]:
    """Seconds of each ``read()`` and of ``set()`` + ``read()`` over the whole file, a set() before every block.
    Six untimed blocks first (first-use costs are not a block's), then ``seek(0)``.  ``paced``: each block is
    asked for when the previous one has played out, so the player's decoding thread has the time a real
    player leaves it."""
    with f.player(blocksize=BLOCKSIZE) as player:
        for change in changes * 2:
            player.set(**change)
            player.read()
        player.seek(0)
        reads, both = [], []
        k, done = 0, 0
        start = time.perf_counter()
        while True:
            if paced:
                time.sleep(max(0.0, start + done / f.samplerate - time.perf_counter()))
            t0 = time.perf_counter()
            player.set(**changes[k % len(changes)])
            t1 = time.perf_counter()
            block = player.read()
            t2 = time.perf_counter()
            if block is None:
                break
            reads.append(t2 - t1)
            both.append(t2 - t0)
            done += len(block)
            k += 1
    return reads, both

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--item", default=DEFAULT_ITEM, help=f"corpus item id (default {DEFAULT_ITEM})")
    ap.add_argument("--code", type=Path, default=_common.REPO,
                    help="the snc checkout to measure (default: this one); e.g. an older commit's export")
    ap.add_argument("--crafted", type=Path, nargs="*", default=None,
                    help="files to decode for part e (default: spec/vectors/faulty/*.snc of --code)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip, e.g. c,e")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    items = {it["id"]: it for it in _common.manifest()["items"]}
    if args.item not in items:
        raise SystemExit(f"unknown item {args.item!r}; items: {', '.join(items)}")
    crafted = args.crafted if args.crafted is not None else sorted((args.code / "spec/vectors/faulty").glob("*.snc"))
    crafted = [path.resolve() for path in crafted]  # the children run in a scratch folder
    print(f"snc at {args.code.resolve()}, item {args.item}, python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args.code.resolve(), Path(tmp), items[args.item])
        if "a" not in skip:
            bench.part_a()
        if skip >= {"b", "c", "d", "e"}:
            bench.targets()
            return 0
        bench.prepare()
        if "b" not in skip:
            bench.part_b()
        if "c" not in skip:
            bench.part_c()
        if "d" not in skip:
            bench.part_d()
        if "e" not in skip:
            bench.part_e(crafted)
        bench.targets()
    return 0


if __name__ == "__main__":
    sys.exit(main())
