"""Web player benchmark (issue 21): latency, seek, and 10 listeners against ``snc-serve`` on 127.0.0.1.

A 5-minute song is built by joining corpus items (mix and true stems) and encoded ``transparent``.  The server
is ``snc-serve DIR --port P -q`` in its own process.  What the player does is replayed with HTTP requests
(httpx, bounded in number and time):

- **first audio**: the time to the first byte of the mix's first 2 s chunk, and to a playable buffer = every
  stem's and the residual's first 2 s chunk fully received (the player's stems mode fetches them at once);
- **seek**: the same five 2 s chunks from 2:30, fully received;
- **listeners**: 10 clients at once, each playing 60 s in 10 s chunks of its five streams (stems mode; every
  other listener in render mode instead: one karaoke render per chunk), each chunk fetched as soon as the
  previous one arrived; a listener has no underrun when its 60 s arrive in less than 60 s, counted from its
  first playable chunk and checked chunk by chunk against the play clock;
- the server's peak memory (VmHWM) and its CPU seconds per listener per second of audio.

Usage: python bench/web.py [--listeners 10]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import CORPUS, multitrack_items, print_table, read_int  # noqa: E402

import snc  # noqa: E402

SONG_SECONDS = 300
CHUNK = 10.0
FIRST = 2.0
PLAY_SECONDS = 60.0


def build_song(folder: Path) -> Path:
    names = ("vocals", "drums", "bass", "other")
    frames = SONG_SECONDS * 44100
    mix = np.zeros((frames, 2), np.int32)
    stems = {n: np.zeros((frames, 2), np.int32) for n in names}
    at, k = 0, 0
    items = multitrack_items()
    while at < frames:
        root = CORPUS / items[k % len(items)]["path"]
        part = read_int(root / "mix.flac")[0]
        n = min(len(part), frames - at)
        mix[at:at + n] = part[:n]
        files = sorted((root / "stems").glob("*.flac"))
        for name, path in zip(names, files[:3] + files[3:4]):
            stems[name][at:at + n] = read_int(path)[0][:n]
        for path in files[4:]:
            stems["other"][at:at + n] += read_int(path)[0][:n]
        at, k = at + n, k + 1
    out = folder / "song.snc"
    snc.encode(mix.astype(np.int16), out, stems={n: s.clip(-32768, 32767).astype(np.int16) for n, s in stems.items()},
               samplerate=44100, bits=16, preset="transparent", tags={"title": "five minutes"})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak resident MB) of process ``pid``."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks (USER_HZ = 100)
    peak = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:"))
    return cpu, peak / 1024


def main(argv=None) -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listeners", type=int, default=10)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="snc-web-") as tmpd:
        folder = Path(tmpd)
        build_song(folder)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "snc.cli.serve", str(folder), "--port", str(port), "-q"])
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(100):
                    try:
                        song = client.get("/api/songs").json()[0]
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                sid, streams = song["id"], [s["name"] for s in song["stems"]] + ["residual"]
                url = f"/api/songs/{sid}/audio"
                client.get(url, params={"stem": "mix", "duration": 1})  # warm: kernels loaded in the server
                rows = []

                t0 = time.perf_counter()
                with client.stream("GET", url, params={"stem": "mix", "duration": FIRST}) as r:
                    first_byte = None
                    for _ in r.iter_bytes():
                        first_byte = first_byte or time.perf_counter() - t0
                rows.append(["first audio byte (mix, 2 s chunk)", f"{first_byte * 1000:.0f}", "< 300"])
                rows.append(["playable buffer (5 streams x 2 s, in parallel)",
                             f"{parallel(base, url, streams, 0.0, FIRST) * 1000:.0f}", "< 300"])
                seek = parallel(base, url, streams, 150.0, FIRST)
                rows.append(["seek to 2:30 (5 streams x 2 s)", f"{seek * 1000:.0f}", "< 300"])
                rows.append(["render chunk (karaoke, 2 s)",
                             f"{timed(client, url, {'profile': 'karaoke', 'duration': FIRST}) * 1000:.0f}", ""])
            cpu0, _ = proc_stat(server.pid)
            results = listeners(base, url, streams, args.listeners)
            cpu1, peak = proc_stat(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print_table(["what", "ms", "target"], rows, title="latency, one client, 127.0.0.1")
    lrows = [[k, mode, f"{wall:.1f}", f"{PLAY_SECONDS / wall:.1f}", "yes" if under else "no"]
             for k, (mode, wall, under) in enumerate(results)]
    print_table(["listener", "mode", f"s to fetch {PLAY_SECONDS:g} s", "x realtime", "underrun"], lrows,
                title=f"{args.listeners} listeners at once (each chunk fetched when the last arrived)")
    audio = args.listeners * PLAY_SECONDS
    print(f"server peak memory {peak:.0f} MB; CPU {cpu1 - cpu0:.1f} s for {audio:.0f} s of listening = "
          f"{(cpu1 - cpu0) / audio * 100:.1f} % of a core per listener")
    return 0


def timed(client, url, params) -> float:
    t0 = time.perf_counter()
    r = client.get(url, params=params)
    r.raise_for_status()
    return time.perf_counter() - t0


def parallel(base, url, streams, start, duration) -> float:
    """Wall time to receive every stream's chunk, fetched at once (as the player does)."""
    import httpx

    done = []

    def get(name):
        with httpx.Client(base_url=base, timeout=30) as c:
            c.get(url, params={"stem": name, "start": start, "duration": duration}).raise_for_status()
        done.append(name)

    threads = [threading.Thread(target=get, args=(n,)) for n in streams]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(done) == len(streams)
    return time.perf_counter() - t0


def listeners(base, url, streams, count) -> list[tuple[str, float, bool]]:
    """Each listener plays PLAY_SECONDS from a different place: (mode, wall seconds, had an underrun)."""
    import httpx

    out = [None] * count

    def listen(k):
        mode = "render" if k % 2 else "stems"
        start0 = (k * 23) % (SONG_SECONDS - PLAY_SECONDS)
        underrun = False
        with httpx.Client(base_url=base, timeout=60) as c:
            t0 = time.perf_counter()
            clock = None  # the play clock starts when the first chunk has arrived
            at = 0.0
            while at < PLAY_SECONDS:
                if mode == "render":
                    params = {"profile": "karaoke", "start": start0 + at, "duration": CHUNK}
                    c.get(url, params=params).raise_for_status()
                else:
                    for name in streams:
                        c.get(url, params={"stem": name, "start": start0 + at, "duration": CHUNK}).raise_for_status()
                now = time.perf_counter()
                if clock is None:
                    clock = now
                elif now - clock > at:  # this chunk arrived after the previous ones had finished playing
                    underrun = True
                at += CHUNK
            out[k] = (mode, time.perf_counter() - t0, underrun)

    threads = [threading.Thread(target=listen, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return out


if __name__ == "__main__":
    sys.exit(main())
