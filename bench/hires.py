"""Hi-res input (issue 18 part 2): does a 96 kHz / 24-bit copy of the same music cost about what the 16-bit
44.1 kHz original costs, at the same quality?

For every corpus item with true stems (the mastered ones included) and every preset: the original (16-bit
44.1 kHz mix and stems) and a hi-res copy of it, each encoded with ``snc.encode`` (true stems, default settings).
The hi-res copy: every signal (mix and each stem, separately) resampled 44.1 -> 96 kHz with
``scipy.signal.resample_poly(x, 320, 147)`` (its default Kaiser-windowed polyphase filter) in float64, scaled by
2^8 to 24-bit units and rounded to integers -- what a 24/96 master of the same music holds: no content above
22 kHz beyond the filter's leakage, and a rounding floor 48 dB below 16-bit's.

Printed per item and preset: bytes of both files and their ratio (target <= 1.3 at transparent and compact),
and the decoded mix's ViSQOL of both against their own inputs (``bench/quality.visqol``: mono downmix resampled
to 48 kHz; target: within 0.05).  Lossless presets: both bit-exact, and the ratio against ``flac -8`` of each
mix (how wasted bits and ultrasonic content are handled, next to FLAC).

Usage: ``python bench/hires.py [--items ID,...] [--presets transparent,...] [--seconds S]``
(``--seconds``: the first S seconds of each item; default the whole 45 s)
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import quality as q  # noqa: E402
from _common import CORPUS, flac8_bytes_of, multitrack_items, print_table, read_int  # noqa: E402

import snc  # noqa: E402

PRESETS = ("transparent", "compact", "lossless", "archival")
HIRES_RATE, HIRES_BITS = 96000, 24


def to_hires(x: np.ndarray) -> np.ndarray:
    """16-bit 44.1 kHz integers -> 24-bit 96 kHz integers (module docstring)."""
    from scipy.signal import resample_poly

    y = resample_poly(x.astype(np.float64), 320, 147, axis=0) * 256.0
    return np.clip(np.round(y), -(1 << 23), (1 << 23) - 1).astype(np.int32)


def encode(mix, stems, rate, bits, preset) -> tuple[int, np.ndarray, bool]:
    """(file bytes, decoded mix as floats at full scale 1, bit-exact)."""
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset=preset)
    buf.seek(0)
    with snc.open(buf) as f:
        native = f.read(dtype="native")
    return report.file_bytes, native / float(1 << (bits - 1)), bool(np.array_equal(native, mix))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item with stems)")
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--seconds", type=float, default=None, help="first S seconds of each item")
    args = ap.parse_args(argv)
    items = [it for it in multitrack_items() if not args.items or it["id"] in args.items.split(",")]
    presets = args.presets.split(",")
    rows = []
    for item in items:
        root = CORPUS / item["path"]
        mix, rate, bits = read_int(root / "mix.flac")
        stems = {p.stem: read_int(p)[0] for p in sorted((root / "stems").glob("*.flac"))}
        if args.seconds:
            n = int(args.seconds * rate)
            mix, stems = mix[:n], {k: v[:n] for k, v in stems.items()}
        hi_mix, hi_stems = to_hires(mix), {k: to_hires(v) for k, v in stems.items()}
        flac_lo, flac_hi = flac8_bytes_of(mix, rate, bits), flac8_bytes_of(hi_mix, HIRES_RATE, HIRES_BITS)
        for preset in presets:
            lo_bytes, lo_dec, lo_exact = encode(mix, stems, rate, bits, preset)
            hi_bytes, hi_dec, hi_exact = encode(hi_mix, hi_stems, HIRES_RATE, HIRES_BITS, preset)
            if preset in ("lossless", "archival"):
                quality = f"exact {'yes' if lo_exact and hi_exact else 'NO'}"
                vs_flac = f"{lo_bytes / flac_lo:.3f} / {hi_bytes / flac_hi:.3f}"
            else:
                v_lo = q.visqol(mix / float(1 << (bits - 1)), lo_dec, rate)
                v_hi = q.visqol(hi_mix / float(1 << 23), hi_dec, HIRES_RATE)
                quality = f"{v_lo:.3f} / {v_hi:.3f} ({v_hi - v_lo:+.3f})"
                vs_flac = f"{lo_bytes / flac_lo:.3f} / {hi_bytes / flac_hi:.3f}"
            ratio = hi_bytes / lo_bytes
            met = "" if preset not in ("transparent", "compact") or ratio <= 1.3 else " *"
            rows.append([item["id"], preset, f"{lo_bytes:,}", f"{hi_bytes:,}", f"{ratio:.2f}{met}", quality, vs_flac])
            print(f"  {item['id']} {preset}: {lo_bytes:,} -> {hi_bytes:,} B ({ratio:.2f}x), {quality}", flush=True)
    print()
    print_table(["item", "preset", "16/44.1 bytes", "24/96 bytes", "24/96 / 16/44.1", "ViSQOL 16/44.1 / 24/96",
                 "x FLAC -8 16/44.1 / 24/96"], rows,
                title="hi-res copy vs original (* over the 1.3 target at transparent/compact)")


if __name__ == "__main__":
    main()
