"""The embedded demo: synthesise a mastered multitrack song, encode it, decode it, prove it exact.

Run ``python -m snc.demo [--out DIR] [--seconds S]``.  Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import __version__, encode
from .. import open as snc_open
from ..errors import SncError
from ..signal.audio_io import AudioFormat, to_native, write_audio
from .synth import synthesize_song


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m snc.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", help="keep the demo files in this directory (default: a temporary directory)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the synthetic song (default: 10)")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(out: Path, seconds: float, seed: int, keep: bool) -> bool:
    print(f"SNC {__version__} demo: synthesising a {seconds:g} s song (drums, bass, chords, voice-like lead; "
          f"EQ + compressor + limiter on the mix)")
    song = synthesize_song(duration=seconds, seed=seed)
    paths = song.write(out)
    wav_mix = paths["mix"].stat().st_size
    wav_all = sum(p.stat().st_size for p in paths.values())
    residual = song.mix.astype(np.int64) - sum(s.astype(np.int64) for s in song.stems.values())
    res_db = 10 * np.log10(np.mean(residual.astype(float) ** 2) / np.mean(song.mix.astype(float) ** 2))
    print(f"  wrote {len(paths)} WAV files to {out} (mix {wav_mix:,} bytes; mix + stems {wav_all:,} bytes); "
          f"mastering residual is {res_db:.1f} dB below the mix")

    snc_path = out / "song.snc"
    stems = {name: p for name, p in paths.items() if name != "mix"}
    print("  (the first run compiles the codec's numba kernels, about a minute; later runs use the cache)")
    t0 = time.perf_counter()
    report = encode(paths["mix"], snc_path, stems=stems, preset="archival", verify=True, overwrite=True,
                    tags={"title": "SNC demo song", "artist": "snc.demo.synth"})
    elapsed = time.perf_counter() - t0
    print(f"\nencoded {snc_path.name}: {report.file_bytes:,} bytes = {report.file_bytes / wav_mix:.3f} x the mix WAV, "
          f"{report.file_bytes / wav_all:.3f} x mix + stems WAVs ({elapsed:.2f} s incl. verify)")
    print(f"  {'stream':<10} {'codec':<9} {'bytes':>10} {'share':>7}")
    for s in report.streams:
        print(f"  {s['name']:<10} {s['codec']:<9} {s['bytes']:>10,} {100 * s['bytes'] / report.file_bytes:6.1f}%")

    with snc_open(snc_path) as f:
        t0 = time.perf_counter()
        decoded = f.read(dtype="native")
        dec_s = time.perf_counter() - t0
        mix_exact = np.array_equal(decoded, song.mix)
        stems_exact = all(np.array_equal(f.read(stem=n, dtype="native"), s) for n, s in song.stems.items())
        fmt = AudioFormat(f.samplerate, f.channels, "int", f.info.bits)
        karaoke = f.read(mute=["vocals"])
        write_audio(out / "decoded_mix.wav", decoded, fmt)
        write_audio(out / "karaoke.wav", to_native(karaoke, fmt), fmt)
    print(f"\ndecoded the mix in {dec_s:.3f} s ({seconds / dec_s:.0f}x realtime): "
          f"mix {'BIT-EXACT' if mix_exact else 'DIFFERS'}, stems {'BIT-EXACT' if stems_exact else 'DIFFER'}, "
          f"verify {'OK' if report.verified else 'FAILED'}")
    print(f"  wrote decoded_mix.wav and karaoke.wav (vocals muted) to {out}")
    if keep:
        print(f"\ntry: snc-info {snc_path}\n     snc-decode {snc_path} -o remix.wav --solo vocals --solo drums")
    else:
        print("\n(the files were in a temporary directory; rerun with --out DIR to keep them)")
    return mix_exact and stems_exact and bool(report.verified)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            return 0 if run(out, args.seconds, args.seed, keep=True) else 1
        with tempfile.TemporaryDirectory(prefix="snc-demo-") as tmp:
            return 0 if run(Path(tmp), args.seconds, args.seed, keep=False) else 1
    except SncError as exc:
        print(f"snc.demo: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
