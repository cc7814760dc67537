"""Opus anchor table for issue 4: how many bits Opus needs on the *mix alone* for a given quality.

For every mix of the shared corpus (``manifest.json``: multitrack and mixed items) and every bitrate
(default 64, 96, 128, 192, 256 kbps), ``opusenc --bitrate N --vbr`` of the mix, decoded with
``opusdec --rate 48000 --float`` and resampled back, sample-aligned (``bench/quality.opus_roundtrip``):

- Opus bytes (the whole .opus file) / FLAC -8 bytes of the same audio, the FLAC size measured in this run
  with ``bench/_common.flac8_bytes`` (the installed flac);
- measured bitrate = Opus file bytes * 8 / duration;
- STOI (pystoi, mean of the per-channel values at the file's rate), ViSQOL (visqol-python audio mode on the
  mono downmix at 48 kHz, MOS-LQO) and SNR of the decoded mix against the original (``bench/quality``).

Prints a Markdown table per bitrate, then per item the lowest of these bitrates at which STOI >= 0.996 (and
Opus/FLAC and ViSQOL there).  Full 45 s files by default; ``--excerpt START DUR`` measures a fixed excerpt
instead (the table titles say which).  ViSQOL is printed as "n/a (reason)" when visqol-python cannot run.

Usage: python bench/opus_anchors.py [--excerpt START DUR] [--bitrates 64,96,...] [--jobs N] [--items id,...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import quality as q  # noqa: E402
import soundfile as sf  # noqa: E402
from _common import CORPUS, flac8_bytes, has_stems, manifest, print_table, read_int  # noqa: E402

BITRATES = (64, 96, 128, 192, 256)
STOI_TARGET = 0.996


def load(item: dict, excerpt: tuple[float, float] | None) -> tuple[np.ndarray, int, int, int]:
    """(float64 mix at full scale 1.0, rate, bits, FLAC -8 bytes of exactly that audio)."""
    path = CORPUS / item["path"] / "mix.flac"
    data, rate, bits = read_int(path)
    if excerpt is None:
        fl = flac8_bytes(path)
    else:
        start, dur = int(round(excerpt[0] * rate)), int(round(excerpt[1] * rate))
        data = data[start:start + dur]
        if len(data) < dur:
            raise SystemExit(f"{item['id']}: excerpt {excerpt} runs past the end of the file")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "excerpt.wav"
            sf.write(wav, data << (32 - bits), rate, subtype=f"PCM_{bits}")
            fl = flac8_bytes(wav)
    x = data.astype(np.float64) / float(1 << (bits - 1))
    return x, rate, bits, fl


def measure_item(item: dict, bitrates: tuple[int, ...], excerpt, use_visqol: bool) -> dict:
    t0 = time.perf_counter()
    x, rate, _bits, fl = load(item, excerpt)
    dur = len(x) / rate
    rows = {}
    for kbps in bitrates:
        y, nbytes = q.opus_roundtrip(x, rate, kbps)
        rows[kbps] = dict(
            bytes=nbytes,
            ratio=nbytes / fl,
            kbps=nbytes * 8 / dur / 1000,
            stoi=q.stoi(x, y, rate),
            visqol=q.visqol(x, y, rate) if use_visqol else None,
            snr=q.snr_db(x, y),
        )
    return dict(id=item["id"], kind=item["kind"], flac=fl, dur=dur, rows=rows, secs=time.perf_counter() - t0)


def _fmt_visqol(v, reason):
    return f"{v:.3f}" if v is not None else f"n/a ({reason})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--excerpt", nargs=2, type=float, metavar=("START", "DUR"),
                    help="measure DUR seconds from START instead of the full files")
    ap.add_argument("--bitrates", default=",".join(map(str, BITRATES)), help="comma-separated kbps")
    ap.add_argument("--items", default="", help="comma-separated item ids (default: all mixes)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="items measured in parallel")
    args = ap.parse_args(argv)

    bitrates = tuple(int(b) for b in args.bitrates.split(","))
    items = [it for it in manifest()["items"] if has_stems(it) or it["kind"] == "mixed"]
    if args.items:
        wanted = set(args.items.split(","))
        items = [it for it in items if it["id"] in wanted]
    excerpt = tuple(args.excerpt) if args.excerpt else None
    span = (f"{excerpt[1]:g} s excerpt from {excerpt[0]:g} s" if excerpt else "full files")

    reason = q.visqol_unavailable()
    use_visqol = reason is None
    if not use_visqol:
        print(f"ViSQOL not available: {reason}", flush=True)

    # Workers are spawned, not forked: a fork after numba's parallel runtime has started (visqol-python uses
    # parallel=True kernels) deadlocks the child.  Each worker gets its share of the cores for numba threads.
    jobs = max(1, min(args.jobs, len(items)))
    os.environ.setdefault("NUMBA_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
        futs = [ex.submit(measure_item, it, bitrates, excerpt, use_visqol) for it in items]
        results = [f.result() for f in futs]
    wall = time.perf_counter() - t0

    for kbps in bitrates:
        rows = []
        for r in results:
            m = r["rows"][kbps]
            rows.append([r["id"], str(m["bytes"]), str(r["flac"]), f"{m['ratio']:.3f}", f"{m['kbps']:.1f}",
                         f"{m['stoi']:.4f}", _fmt_visqol(m["visqol"], reason), f"{m['snr']:.1f}"])
        print()
        print_table(["item", "Opus bytes", "FLAC -8 bytes", "Opus/FLAC", "kbps (measured)", "STOI", "ViSQOL",
                     "SNR dB"], rows,
                    title=f"### Opus `--bitrate {kbps} --vbr` on the mix ({span}, 44.1 kHz stereo 16-bit)")

    rows = []
    for r in results:
        hit = next((k for k in bitrates if r["rows"][k]["stoi"] >= STOI_TARGET), None)
        if hit is None:
            best = max(bitrates, key=lambda k: r["rows"][k]["stoi"])
            rows.append([r["id"], f"> {max(bitrates)}", "-", "-", "-",
                         f"(best {r['rows'][best]['stoi']:.4f} at {best})"])
        else:
            m = r["rows"][hit]
            rows.append([r["id"], str(hit), f"{m['kbps']:.1f}", f"{m['ratio']:.3f}",
                         _fmt_visqol(m["visqol"], reason), f"{m['stoi']:.4f}"])
    print()
    print_table(["item", f"min kbps for STOI >= {STOI_TARGET}", "kbps (measured)", "Opus/FLAC", "ViSQOL", "STOI"],
                rows, title=f"### Lowest tested Opus bitrate reaching STOI >= {STOI_TARGET} ({span}; "
                            f"tested {', '.join(map(str, bitrates))} kbps)")
    print(f"\n{len(results)} mixes x {len(bitrates)} bitrates in {wall:.0f} s wall ({jobs} jobs); "
          f"corpus {CORPUS}")


if __name__ == "__main__":
    main()
