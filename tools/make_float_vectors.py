"""Write the golden vectors of the ``float`` codec into spec/vectors/valid/ -- once.

Like tools/make_vectors.py (whose hashing and README code this reuses), the expected hashes come from
the input audio, not from decoding.  Each file is archival, so every stream is exact.

Usage: python tools/make_float_vectors.py [--force]   (refuses to overwrite without --force)
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from make_vectors import ROOT, encode_bytes, expected_hashes, sha, write_json, write_readme  # noqa: E402


def music(frames: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 44100.0
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    return (np.stack([x * (1 - 0.3 * c) for c in range(channels)], axis=1)
            + 0.01 * rng.standard_normal((frames, channels)))


def adversarial_float32() -> np.ndarray:
    """Five 1024-frame segments, one per packet kind: real float audio (derived widths), 20-bit audio in
    float and 16-bit audio in float (no fraction bits), silence with -0.0 and subnormals (zstd side bits),
    and extreme values (beyond full scale, too large for a 31-bit integer part, tiny, zeros).  The
    float64 residual of float-float32-2stems.snc has explicit widths."""
    n = 1024
    real = music(n, 2, 11).astype(np.float32)
    twenty = (np.round(music(n, 2, 12) * 2 ** 19) / 2 ** 19).astype(np.float32)
    silence = np.zeros((n, 2), np.float32)
    silence[::97, 0] = -0.0
    silence[500, 1] = np.float32(1e-45)
    silence[700, 0] = np.float32(-3e-39)
    sixteen = (np.round(music(n, 2, 13) * 32767) / 32768).astype(np.float32)
    rng = np.random.default_rng(14)
    extreme = (rng.standard_normal((n, 2)) * 2.0).astype(np.float32)
    # moderate enough that the stored statistics stay ordinary numbers (a 3.4e38 sample gives +771 dBTP)
    extreme[:8, 0] = [2e4, -3e4, 256.0, -255.99998, 1.0000001, -0.0, 1e-40, 2.0 ** -23]
    return np.concatenate([real, twenty, silence, sixteen, extreme])


def vectors():
    yield ("float-float32-kinds.snc", "float codec: float32 stereo mix, 5 segments of 1024 (real float, 20-bit in "
           "float, silence with -0.0 and subnormals, 16-bit in float, extreme values)",
           dict(mix=adversarial_float32(), samplerate=44100, segment_frames=1024), "float32", 32)
    rng = np.random.default_rng(15)
    a = music(3000, 2, 16).astype(np.float32)
    b = (rng.standard_normal((3000, 2)) * 0.05).astype(np.float32)
    mix = np.tanh(1.2 * (a.astype(np.float64) + b)).astype(np.float32)
    yield ("float-float32-2stems.snc", "float codec: float32 mix of 2 float32 stems through a tanh master; "
           "float64 residual (explicit widths)", dict(mix=mix, stems={"a": a, "b": b}, samplerate=44100,
                                                       segment_frames=1024), "float32", 32)
    x = music(2000, 1, 17)
    x[:6, 0] = [5e-324, -2.2250738585072014e-308, 3e4, -0.0, 0.0, 1.0 + 2.0 ** -52]
    yield ("float-float64-mono.snc", "float codec: float64 mono mix with subnormals, 3e4, -0.0",
           dict(mix=x, samplerate=48000), "float64", 64)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--force", action="store_true", help="overwrite existing vectors (a format change!)")
    args = p.parse_args(argv)
    folder = ROOT / "valid"
    expected = json.loads((folder / "expected.json").read_text())
    for name, desc, kw, fmt, bits in vectors():
        if (folder / name).exists() and not args.force:
            print(f"{folder / name} exists; vectors are golden: use --force only for a deliberate change",
                  file=sys.stderr)
            return 1
        kw = dict(kw)
        mix, stems = kw.pop("mix"), kw.pop("stems", None)
        (folder / name).write_bytes(encode_bytes(mix, stems, **kw))
        expected[name] = dict(description=desc, **expected_hashes(mix, stems, fmt, bits))
        # the exact mix sums from +0.0 (snc-format.md 3.1), so a -0.0 of the mix decodes as +0.0; the
        # streams keep theirs
        expected[name]["mix_sha256"] = sha(mix + 0.0, fmt)
        if not stems:  # the residual M - (+0.0 + M) is -0.0 there, as spec 3.2 computes it
            expected[name]["streams_sha256"]["residual"] = sha(mix.astype(np.float64) - (0.0 + mix), "float64")
    write_json(folder / "expected.json", expected)
    write_readme("valid")
    print(f"wrote float vectors to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
