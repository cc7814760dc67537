#!/usr/bin/env python3
"""Write the golden packets of the ``lossless`` codec to ``tests/fixtures/lossless/``.

Each case is a deterministic signal encoded as one packet; ``fixtures.json``
records the codec config, the frame count, and the SHA-256 of the packet and
of the decoded samples (int32 little-endian, frames x channels interleaved).
``tests/codecs/test_lossless.py`` decodes the stored packets and checks the sample
hashes, so any change to the bitstream format is caught.

The packets were written once.  Re-running this script after an encoder change
may produce different (equally valid) packets; it refuses to overwrite
existing fixtures unless ``--force`` is given, and ``--check`` only verifies
that the stored packets still decode to their hashes.

``--append`` adds the cases that are not in ``fixtures.json`` yet (the method-2
and method-3 packets were added this way) and leaves the stored ones untouched.

Usage: python tools/make_lossless_fixtures.py [--check | --force | --append]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snc.codecs.lossless import LosslessCodec  # noqa: E402
from snc.codecs.registry import get_codec  # noqa: E402
from snc.kernels import bitio, rice  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "lossless"


def _tone(n: int, channels: int, bits: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    f = 0.02 + 0.05 * np.arange(channels)[None, :]
    x = 0.4 * np.sin(t * f) + 0.1 * np.sin(t * 5.3 * f) + rng.normal(0, 0.002, (n, channels))
    return np.round(x * 2.0 ** (bits - 1)).astype(np.int32)


def handmade_wide_rice() -> tuple[np.ndarray, bytes]:
    """A valid packet our encoder does not write: 6-bit rice parameters (k = 33, 35)."""
    rng = np.random.default_rng(6)
    x = np.clip(np.round(rng.laplace(0, 2.0**29, 64)), -(2**31), 2**31 - 1).astype(np.int64)
    buf = np.zeros(1024, np.uint8)
    st = bitio.new_state()
    for value, nbits in [(1, 8), (63, 16), (2, 2), (0, 1), (0, 3)]:  # method, n - 1, fixed, no wasted bits, order 0
        bitio.put_bits(buf, st, value, nbits)
    rice.write(buf, st, x, 64, 0, 2, 1, np.array([33, 35], np.int64))  # sel 2 (6-bit parameters), 2 partitions
    return x.astype(np.int32)[:, None], buf[: bitio.flush(buf, st)].tobytes()


def cases():
    """(name, description, config, samples, packet or None to encode the samples)."""
    ramp = np.array([100, 110, 121, 130, 142, 150, 161, 170], np.int32)
    yield (
        "spec_example",
        "the worked example of spec/codec-lossless.md section 9",
        {"format": "int", "bits": 16, "channels": 2, "block_frames": 4096, "max_order": 32},
        np.stack([ramp, ramp + np.array([0, 1] * 4, np.int32)], 1),
        None,
    )
    yield (
        "stereo16_tone",
        "16-bit stereo tone + noise, two blocks (LPC, stereo decorrelation)",
        {"format": "int", "bits": 16, "channels": 2, "block_frames": 4096, "max_order": 32},
        _tone(5000, 2, 16, 1),
        None,
    )
    yield (
        "mono24_wasted",
        "24-bit mono with 4 zero low bits (wasted bits), blocks of 512",
        {"format": "int", "bits": 24, "channels": 1, "block_frames": 512, "max_order": 32},
        (_tone(1500, 1, 20, 2) << 4),
        None,
    )
    rng = np.random.default_rng(3)
    yield (
        "ch3_32bit_extremes",
        "32-bit, 3 channels: full-scale extremes, noise and a tone",
        {"format": "int", "bits": 32, "channels": 3, "block_frames": 128, "max_order": 32},
        np.stack(
            [
                np.where(np.arange(300) % 3 == 0, 2**31 - 1, -(2**31)),
                rng.integers(-(2**31), 2**31, 300),
                _tone(300, 1, 32, 4)[:, 0] // 2,
            ],
            1,
        ).astype(np.int32),
        None,
    )
    yield (
        "mono8_noise",
        "8-bit white noise (escaped partitions / verbatim)",
        {"format": "int", "bits": 8, "channels": 1, "block_frames": 256, "max_order": 8},
        rng.integers(-128, 128, (600, 1)).astype(np.int32),
        None,
    )
    yield (
        "stereo16_silence_dc",
        "silence then DC (constant subframes), last block short",
        {"format": "int", "bits": 16, "channels": 2, "block_frames": 1024, "max_order": 32},
        np.concatenate([np.zeros((1500, 2), np.int32), np.full((700, 2), [-32768, 32767], np.int32)]),
        None,
    )
    yield (
        "ch8_tiny",
        "8 channels, 5 frames (fixed predictors on a tiny block)",
        {"format": "int", "bits": 12, "channels": 8, "block_frames": 4096, "max_order": 32},
        _tone(5, 8, 12, 5),
        None,
    )
    yield (
        "handmade_wide_rice",
        "hand-built: 32-bit mono, fixed order 0, 6-bit rice parameters k = 33 and 35",
        {"format": "int", "bits": 32, "channels": 1, "block_frames": 4096, "max_order": 32},
        *handmade_wide_rice(),
    )


def _rounding_residual(n: int, seed: int) -> np.ndarray:
    """What a mix minus its separately rounded stems looks like: white, mostly 1 and 2, a few outliers."""
    rng = np.random.default_rng(seed)
    x = np.round(1.5 + rng.uniform(-0.5, 0.5, (n, 2)) + rng.uniform(-0.5, 0.5, (n, 2)) * 0.6)
    x[rng.integers(0, n, 12), rng.integers(0, 2, 12)] = rng.integers(-40, 40, 12)
    return x.astype(np.int32)


def cases_v2():
    """Method-2 and method-3 packets (spec sections 13 and 14): name, description, config, samples,
    filter stages, the method the packet must use."""
    cfg = {"format": "int", "bits": 16, "channels": 2, "block_frames": 4096, "max_order": 32}
    yield ("stereo16_tone_m2", "method 2: 16-bit stereo tone + noise, filters 32/10 + 16/11, three blocks",
           dict(cfg, residual_coding="rice"), _tone(10000, 2, 16, 7), ((32, 10), (16, 11)), 2)
    yield ("mono24_m2_three_stages", "method 2: 24-bit mono, blocks of 1024, filters 256/13 + 32/10 + 16/11",
           {"format": "int", "bits": 24, "channels": 1, "block_frames": 1024, "max_order": 16,
            "residual_coding": "rice"},
           _tone(6000, 1, 20, 8), ((256, 13), (32, 10), (16, 11)), 2)
    yield ("stereo16_tone_m3", "method 3: 16-bit stereo tone + noise, filters 32/10 + 16/11, range-coded residuals",
           dict(cfg, block_frames=2048), _tone(6000, 2, 16, 9), ((32, 10), (16, 11)), 3)
    yield ("stereo16_rounding_m3", "method 3 without prediction: a mix's rounding residual (white, offset 1.5)",
           cfg, _rounding_residual(9000, 10), ((32, 10), (16, 11)), 3)
    envelope = 2 + 60 * np.abs(np.sin(np.arange(20000) / 40.0))[:, None]
    yield ("mono24_bursts_m3", "method 3: 24-bit mono, noise in fast bursts with wasted bits, blocks of 1000",
           {"format": "int", "bits": 24, "channels": 1, "block_frames": 1000, "max_order": 8},
           (np.random.default_rng(11).laplace(0, 1, (20000, 1)) * envelope).round().astype(np.int32) << 2, (), 3)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def check() -> int:
    index = json.loads((OUT / "fixtures.json").read_text())
    bad = 0
    for case in index["packets"]:
        data = (OUT / case["file"]).read_bytes()
        out = get_codec(case["codec_id"], case["config"]).decode(data, case["frames"])
        ok = sha(data) == case["packet_sha256"] and sha(out.astype("<i4").tobytes()) == case["samples_sha256"]
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {case['name']}")
    return 1 if bad else 0


def write(force: bool) -> int:
    if (OUT / "fixtures.json").exists() and not force:
        print(f"{OUT / 'fixtures.json'} exists; use --force to rewrite or --check to verify", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    packets = []
    for name, desc, config, x, data in cases():
        codec = LosslessCodec(**config)
        if data is None:
            data = codec.encode(x)
        out = codec.decode(data, len(x))
        assert np.array_equal(out, x), name
        (OUT / f"{name}.bin").write_bytes(data)
        packets.append(
            {
                "name": name,
                "description": desc,
                "file": f"{name}.bin",
                "codec_id": "lossless",
                "config": config,
                "frames": int(len(x)),
                "packet_sha256": sha(data),
                "samples_sha256": sha(x.astype("<i4").tobytes()),
            }
        )
        print(f"{name}: {len(x)} frames x {x.shape[1]} ch -> {len(data)} bytes")
    index = {
        "about": "golden packets of the lossless codec (spec/codec-lossless.md); "
                 "written by tools/make_lossless_fixtures.py",
        "samples_hash": "SHA-256 of the decoded samples as int32 little-endian, frames x channels interleaved",
        "packets": packets,
    }
    (OUT / "fixtures.json").write_text(json.dumps(index, indent=2) + "\n")
    return 0


def append() -> int:
    index = json.loads((OUT / "fixtures.json").read_text())
    have = {c["name"] for c in index["packets"]}
    for name, desc, config, x, filters, method in cases_v2():
        if name in have:
            continue
        codec = LosslessCodec(**config)
        codec.filters = filters
        data = codec.encode(x)
        assert data[0] == method, (name, data[0])
        assert np.array_equal(codec.decode(data, len(x)), x), name
        (OUT / f"{name}.bin").write_bytes(data)
        index["packets"].append({
            "name": name, "description": desc, "file": f"{name}.bin", "codec_id": "lossless", "config": config,
            "frames": int(len(x)), "packet_sha256": sha(data), "samples_sha256": sha(x.astype("<i4").tobytes()),
        })
        print(f"{name}: {len(x)} frames x {x.shape[1]} ch -> {len(data)} bytes (added)")
    (OUT / "fixtures.json").write_text(json.dumps(index, indent=2) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="verify the stored fixtures")
    g.add_argument("--force", action="store_true", help="overwrite existing fixtures")
    g.add_argument("--append", action="store_true", help="add the cases missing from fixtures.json")
    args = ap.parse_args()
    if args.append:
        return append()
    return check() if args.check else write(args.force)


if __name__ == "__main__":
    sys.exit(main())
