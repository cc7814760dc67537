"""Mutation fuzzer for the reader and decoders: any exception that is not an SncError is a bug.

Takes the valid and uncommon conformance vectors, applies random mutations
(bit flips, byte runs, truncation, chunk-length edits, duplicated or dropped
spans) and decodes everything through the public API.  A mutated file that
decodes without an error must still pass its hashes (else the CRCs missed a
change).  Failing inputs are saved to ``--out`` for a regression test.

Usage: python tools/fuzz_snc.py [--seconds 60] [--seed 0] [--out fuzz-crashes/]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import snc

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(6))
        pos = int(rng.integers(len(b))) if b else 0
        if kind == 0 and b:  # bit flip
            b[pos] ^= 1 << int(rng.integers(8))
        elif kind == 1 and b:  # random byte run
            n = int(rng.integers(1, 9))
            b[pos:pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif kind == 2:  # truncate
            del b[pos:]
        elif kind == 3 and len(b) > 8:  # plausible-looking 32-bit length somewhere
            b[pos:pos + 4] = int(rng.choice([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, len(b)])).to_bytes(4, "little")
        elif kind == 4 and b:  # duplicate a span
            n = int(rng.integers(1, 64))
            b[pos:pos] = b[pos:pos + n]
        elif kind == 5 and b:  # drop a span
            del b[pos:pos + int(rng.integers(1, 64))]
    return bytes(b)


class SilentCorruption(Exception):
    """A damaged file decoded without an error but to audio that fails its own hashes."""


def exercise(data: bytes) -> None:
    with snc.open(io.BytesIO(data)) as f:
        f.describe()
        f.read(dtype="native")
        for name in f.stems:
            f.read(stem=name, frames=100, start=min(f.frames, 50))
        f.read(mute=f.stems[:1])
        result = f.verify()
        if not (result["mix"] and all(result["streams"].values())):
            raise SilentCorruption(f"decoded without error but verify() says {result}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="fuzz-crashes")
    args = p.parse_args(argv)
    seeds = [f.read_bytes() for folder in ("valid", "uncommon") for f in sorted((VECTORS / folder).glob("*.snc"))]
    seeds = [s for s in seeds if len(s) < 100_000]  # small files give more iterations per second
    rng = np.random.default_rng(args.seed)
    end = time.monotonic() + args.seconds
    runs = rejected = crashes = 0
    while time.monotonic() < end:
        data = mutate(seeds[int(rng.integers(len(seeds)))], rng)
        runs += 1
        try:
            exercise(data)
        except snc.SncError:
            rejected += 1
        except Exception:  # noqa: BLE001 - finding these is the point
            crashes += 1
            out = Path(args.out)
            out.mkdir(exist_ok=True)
            path = out / f"crash-{args.seed}-{runs}.snc"
            path.write_bytes(data)
            print(f"CRASH {path}:\n{traceback.format_exc()}", file=sys.stderr)
    print(f"{runs} inputs, {rejected} rejected with SncError, {runs - rejected - crashes} decoded, {crashes} crashes")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
