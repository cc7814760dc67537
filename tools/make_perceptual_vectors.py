#!/usr/bin/env python3
"""Write the golden packets of the ``perceptual`` codec to ``tests/fixtures/perceptual/``.

Each case is a deterministic signal (integer formulas and NumPy PCG64 integer
draws with seeds fixed below) encoded as one packet.  ``vectors.json`` records
the codec config, the frame count, the SHA-256 of the packet and of the decoded
samples (int32 little-endian, frames x channels interleaved) and which decoder
paths the packet exercises (``features``: frame kinds, mid/side, clamping, ...).

The encoder is float (scipy FFTs, libm), so re-encoding may give different,
equally valid packets on another machine or after an encoder change; the
decoder is integer-only, so the STORED packets must decode to the stored
hashes everywhere, forever.  ``tests/codecs/perceptual/test_perceptual_packets.py`` decodes them (it
never re-encodes), which pins range decoding, scale factors, dequantisation,
mid/side, the integer inverse MDCT and the output clamp.

One case is hand-built with the packet writer (``handmade_extreme_sf``): scale
factors at the edges of the legal range and ``|q| = 2^24``, which the encoder
never writes (spec/codec-perceptual.md section 4: ``e <= -62``, large ``e``,
odd negative scale factors).

Refuses to overwrite existing vectors unless ``--force``; ``--add`` writes only
the cases not stored yet (the stored packets stay as they are); ``--check``
verifies that the stored packets still decode to their hashes.

Usage: python tools/make_perceptual_vectors.py [--check | --add | --force]
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

from snc.codecs.perceptual import EncoderSettings, PerceptualCodec  # noqa: E402
from snc.codecs.registry import get_codec  # noqa: E402
from snc.errors import CodecError  # noqa: E402
from snc.kernels import coefcode as cc  # noqa: E402
from snc.kernels import mdct  # noqa: E402
from snc.kernels import perceptual_packet as pk  # noqa: E402
from snc.kernels.bands import band_edges  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "perceptual"
INDEX = "vectors.json"
KIND_NAMES = {mdct.LONG: "long", mdct.START: "start", mdct.SHORT: "short", mdct.STOP: "stop"}


# ----------------------------------------------------------------------------- deterministic signals
def triangle(n: int, period: int, amp: int, phase: int = 0) -> np.ndarray:
    """Integer triangle wave in [-amp, amp] (int64)."""
    t = (np.arange(n, dtype=np.int64) + phase) % period
    return (4 * amp * np.abs(t - period // 2)) // period - amp


def noise(n: int, amp: int, seed: int) -> np.ndarray:
    """Uniform integers in [-amp, amp] from PCG64 (identical on every platform)."""
    return np.random.default_rng(seed).integers(-amp, amp + 1, n, dtype=np.int64)


def burst(n: int, start: int, amp: int, seed: int) -> np.ndarray:
    """Silence, then a drum-like hit: integer noise + a low triangle, halving every 128 samples."""
    x = np.zeros(n, dtype=np.int64)
    m = n - start
    body = noise(m, amp, seed) // 3 + triangle(m, 245, amp // 2)
    x[start:] = body >> np.minimum(np.arange(m, dtype=np.int64) // 128, 62)
    return x


def full_scale(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def stack(*cols) -> np.ndarray:
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------- cases
def cases():
    """(name, description, bits, samples (n, C) int64, encoder settings or a prebuilt packet)."""
    n = 6000
    yield ("mono16_triangle", "16-bit mono, two triangle partials + noise, LONG frames only", 16,
           stack(triangle(n, 100, 9000) + triangle(n, 37, 2000) + noise(n, 150, 1)),
           dict(samplerate=44100, quality_db=0.0))
    common = triangle(n, 90, 8000) + noise(n, 400, 2)
    yield ("stereo16_ms", "16-bit stereo, nearly identical channels then independent ones: M/S and L/R frames", 16,
           stack(common, np.where(np.arange(n) < 3500, common + noise(n, 30, 3), triangle(n, 51, 7000))),
           dict(samplerate=44100, quality_db=0.0))
    yield ("mono16_click", "16-bit mono, silence then a drum-like hit: START, SHORT, STOP frames", 16,
           stack(burst(8192, 3000, 20000, 4)), dict(samplerate=44100, quality_db=0.0))
    hit = burst(8192, 5000, 16000, 5)
    yield ("stereo16_click_ms", "16-bit stereo, the same hit in both channels: SHORT frames with mid/side", 16,
           stack(hit, hit - hit // 8), dict(samplerate=48000, quality_db=-6.0))
    lo, hi = full_scale(24)
    sq = np.where((np.arange(4100) // 60) % 2 == 0, hi, lo).astype(np.int64)
    yield ("stereo24_fullscale_square", "24-bit full-scale square waves: overshoot clamped to the 24-bit range", 24,
           stack(sq, -sq - 1), dict(samplerate=96000, quality_db=0.0))
    yield ("mono8_noise", "8-bit white noise over the full range", 8,
           stack(noise(2000, 127, 6) - (noise(2000, 1, 7) < 0)), dict(samplerate=8000, quality_db=0.0))
    m = 1025
    yield ("ch6_20bit", "20-bit 5.1 (6 channels), 1025 frames: tones, a silent channel, noise, low-passed LFE", 20,
           stack(triangle(m, 64, 200000), triangle(m, 96, 150000), triangle(m, 48, 100000, 7),
                 np.zeros(m, np.int64), np.cumsum(noise(m, 900, 8)) // 4, noise(m, 30000, 9)),
           dict(samplerate=48000, quality_db=0.0))
    yield ("stereo16_fine", "16-bit stereo at quality -40 dB: large quantised values (escape codes)", 16,
           stack(triangle(2048, 80, 30000), triangle(2048, 33, 25000) + noise(2048, 500, 10)),
           dict(samplerate=22050, quality_db=-40.0))
    lo, hi = full_scale(32)
    yield ("mono32_coarse", "32-bit mono, full-scale extremes + tone at quality +12 dB: large scale factors", 32,
           stack(np.clip(triangle(3000, 200, 1 << 30) + noise(3000, 1 << 24, 11)
                         + np.where(np.arange(3000) % 500 < 3, hi, 0)
                         - np.where(np.arange(3000) % 500 == 250, 1 << 32, 0), lo, hi)),
           dict(samplerate=11025, quality_db=12.0))
    yield ("mono16_one_frame", "16-bit mono, a single sample", 16, np.array([[12345]], np.int64),
           dict(samplerate=44100, quality_db=0.0))
    yield ("stereo16_empty", "0 frames: the packet is the version byte", 16, np.zeros((0, 2), np.int64),
           dict(samplerate=44100, quality_db=0.0))
    yield ("stereo16_silence_tail", "16-bit stereo, silence, a tone in one channel, silence: inactive bands", 16,
           stack(np.zeros(5000, np.int64), np.where((np.arange(5000) > 2100) & (np.arange(5000) < 3000),
                                                     triangle(5000, 40, 5000), 0)),
           dict(samplerate=44100, quality_db=0.0))
    yield ("handmade_extreme_sf", "hand-built 24-bit mono: sf -200 (e <= -62), -5 (odd negative), 150 (e = 15), "
           "|q| = 2^24; never written by the encoder", 24, np.zeros((1500, 1), np.int64), handmade_extreme_sf())
    # version 2 (noise bands, spec codec-perceptual.md 4.1)
    n = 12000
    hiss = noise(n, 6000, 12) - np.roll(noise(n, 6000, 12), 1) // 2  # tilted up: loud high bands
    yield ("stereo16_noise_bands", "16-bit stereo, a tone over hiss: noise bands from 8 kHz up in LONG frames, "
           "M/S and L/R", 16,
           stack(triangle(n, 150, 6000) + hiss, triangle(n, 150, 6000) + hiss // 2 + noise(n, 900, 13)),
           dict(samplerate=44100, quality_db=6.0))
    yield ("handmade_noise_bands", "hand-built 16-bit stereo: noise bands in LONG and SHORT frames (the encoder "
           "writes LONG only), as the last band, next to coded bands, levels -200 and 120, per-channel generators", 16,
           np.zeros((3000, 2), np.int64), handmade_noise_bands())


def handmade_extreme_sf() -> bytes:
    F, nb = mdct.n_frames(1500), pk.NB_LONG
    edges = band_edges(1024)
    kinds = np.zeros(F, np.int64)
    ms = np.zeros(F, np.int64)
    sf = np.full((F, 1, nb), pk.SF_UNUSED, np.int64)
    q = np.zeros((F, 1, 1024), np.int32)
    plan = {  # band: (sf, values)
        0: (-200, [5, -7, 1, 0]),              # e = -72: X = 0
        2: (-5, [3, -3, 1, -1]),               # s & 3 = 3, s >> 2 = -2
        5: (-100, [pk.Q_LIMIT, -pk.Q_LIMIT]),  # |q| = 2^24, e = -47
        9: (150, [1]),                         # e = 15: X = MANT[2] << 15, near the transform's range
        20: (3, [2, 0, -9]),
        40: (61, [-4, 4]),
    }
    for t in range(F):
        for b, (s, vals) in plan.items():
            sf[t, 0, b] = s + t  # vary per frame (scale-factor differences)
            k0 = edges[b]
            q[t, 0, k0 : k0 + len(vals)] = np.array(vals, np.int64) * (1 if t % 2 == 0 else -1)
    buf = np.zeros(pk.bound_bytes(F, 1), np.uint8)
    nf = np.zeros_like(sf)
    n = pk.encode_packet(kinds, ms, sf, nf, q, buf)
    assert n > 0, n
    return buf[:n].tobytes(), (kinds, ms, sf, nf, q)


def handmade_noise_bands() -> bytes:
    F, nb = mdct.n_frames(3000), pk.NB_LONG
    kinds = np.array([mdct.LONG, mdct.START, mdct.SHORT, mdct.STOP][:F], np.int64)
    assert mdct.is_legal(kinds), kinds
    ms = np.array([0, 1, 0, 1][:F], np.int64)
    sf = np.full((F, 2, nb), pk.SF_UNUSED, np.int64)
    nf = np.zeros((F, 2, nb), np.int64)
    q = np.zeros((F, 2, 1024), np.int32)
    for t in range(F):
        short = kinds[t] == mdct.SHORT
        e = cc.EDGES_SHORT if short else cc.EDGES_LONG
        last = len(e) - 2
        for c in range(2):
            plan = {1: ("coded", 10), 2: ("noise", 12), 3: ("noise", 9), 5: ("coded", 4), 6: ("noise", -200),
                    last - 1: ("noise", 120 - 8 * t), last: ("noise", 30 + c)}
            for b, (what, level) in plan.items():
                sf[t, c, b] = level + c
                if what == "noise":
                    nf[t, c, b] = 1
                else:
                    blocks = 8 if short else 1
                    width = 128 if short else 1024
                    for j in range(blocks):
                        q[t, c, j * width + e[b]] = 3 - j - c
                        q[t, c, j * width + e[b] + 1] = -1
    buf = np.zeros(pk.bound_bytes(F, 2), np.uint8)
    n = pk.encode_packet(kinds, ms, sf, nf, q, buf)
    assert n > 0 and buf[0] == pk.VERSION_NOISE, n
    return buf[:n].tobytes(), (kinds, ms, sf, nf, q)


# ----------------------------------------------------------------------------- features
class _Capture:
    """Record the arguments of the packet writer while the encoder runs (what it actually coded)."""

    def __enter__(self):
        self.calls, self._orig = [], pk.encode_packet

        def spy(kinds, ms, sf, nf, q, buf):
            self.calls.append((kinds.copy(), ms.copy(), sf.copy(), nf.copy(), q.copy()))
            return self._orig(kinds, ms, sf, nf, q, buf)

        pk.encode_packet = spy
        return self

    def __exit__(self, *exc):
        pk.encode_packet = self._orig


def features(codec: PerceptualCodec, data: bytes, frames: int, coded) -> list[str]:
    """Decoder paths a packet exercises, from the values given to the packet writer."""
    feats = {f"channels{codec.channels}", f"bits{codec.bits}"}
    if frames == 0:
        return sorted(feats | {"empty"})
    if frames % 1024:
        feats.add("partial_frame")
    kinds, ms, sf, nf, q = coded
    feats |= {KIND_NAMES[int(k)] for k in np.unique(kinds)}
    noisy = nf.any(axis=(1, 2)) if nf.size else np.zeros(len(kinds), bool)
    if noisy.any():
        feats.add("noise")
        if noisy[kinds == mdct.SHORT].any():
            feats.add("noise_short")
        if codec.channels == 2 and (noisy & (ms == 1)).any():
            feats.add("noise_ms")
    if codec.channels == 2:
        feats |= {"ms"} if ms.any() else set()
        feats |= {"lr"} if not ms.all() else set()
        if (ms[kinds == mdct.SHORT] == 1).any():
            feats.add("ms_short")
    mag = int(np.abs(q.astype(np.int64)).max())
    if mag >= cc.CAP:
        feats.add("escape")
    if mag >= 1 << 16:
        feats.add("q_ge_2^16")
    nz = []
    for t in range(q.shape[0]):
        for c in range(q.shape[1]):
            short = kinds[t] == mdct.SHORT
            e = cc.EDGES_SHORT if short else cc.EDGES_LONG
            blk = q[t, c].reshape(8, 128) if short else q[t, c][None, :]
            for b in range(len(e) - 1):
                if np.any(blk[:, e[b] : e[b + 1]]):
                    nz.append(int(sf[t, c, b]))
    if nz and min(nz) < 0:
        feats.add("sf_negative")
    if nz and max(nz) >= 4 * (30 - mdct.COEF_FRAC):
        feats.add("shift_left")  # e = (sf >> 2) - 30 + COEF_FRAC >= 0
    if nz and len({s & 3 for s in nz}) == 4:
        feats.add("all_mantissas")
    wide = PerceptualCodec(bits=32, channels=codec.channels).decode(data, frames)
    if not np.array_equal(wide, codec.decode(data, frames)):
        feats.add("clamp")
    return sorted(feats)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def check() -> int:
    index = json.loads((OUT / INDEX).read_text())
    bad = 0
    for case in index["packets"]:
        data = (OUT / case["file"]).read_bytes()
        try:
            out = get_codec(case["codec_id"], case["config"]).decode(data, case["frames"])
        except CodecError as exc:
            ok, why = False, f" ({exc})"
        else:
            ok = sha(data) == case["packet_sha256"] and sha(out.astype("<i4").tobytes()) == case["samples_sha256"]
            why = "" if ok else " (hash mismatch)"
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {case['name']}{why}")
    return 1 if bad else 0


def write(force: bool, add: bool = False) -> int:
    if (OUT / INDEX).exists() and not (force or add):
        print(f"{OUT / INDEX} exists; use --force to rewrite, --add to add new cases or --check to verify",
              file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    packets = json.loads((OUT / INDEX).read_text())["packets"] if add else []
    stored = {p["name"] for p in packets}
    for name, desc, bits, x, how in cases():
        if name in stored:
            continue
        how_to_encode = {} if isinstance(how, tuple) else {k: how[k] for k in ("samplerate", "quality_db")}
        codec = PerceptualCodec(format="int", bits=bits, channels=x.shape[1], settings=EncoderSettings(**how_to_encode))
        lo, hi = full_scale(bits)
        assert x.min(initial=0) >= lo and x.max(initial=0) <= hi, name
        x = x.astype(np.int32)
        if isinstance(how, tuple):
            data, coded = how
            settings = {"handmade": True}
        else:
            with _Capture() as cap:
                data = codec.encode(x)
            coded, settings = (cap.calls[0] if cap.calls else None), dict(how)
        feats = features(codec, data, len(x), coded)
        if "handmade" in settings:
            feats = sorted(feats + ["handmade"])
        out = codec.decode(data, len(x))
        assert out.shape == x.shape and out.dtype == np.int32, name
        assert np.array_equal(out, codec.decode(data, len(x))), name
        err = (out.astype(np.float64) - x) ** 2
        snr = 10 * np.log10(max(float((x.astype(np.float64) ** 2).sum()), 1e-30) / max(float(err.sum()), 1e-30))
        (OUT / f"{name}.bin").write_bytes(data)
        packets.append({
            "name": name,
            "description": desc,
            "file": f"{name}.bin",
            "codec_id": "perceptual",
            "config": codec.get_config(),
            "frames": int(len(x)),
            "encoder": settings,
            "features": feats,
            "snr_db": round(snr, 2) if len(x) and not isinstance(how, tuple) else None,
            "packet_sha256": sha(data),
            "samples_sha256": sha(out.astype("<i4").tobytes()),
        })
        print(f"{name}: {len(x)} frames x {x.shape[1]} ch -> {len(data)} bytes; {', '.join(feats)}")
    index = {
        "about": "golden packets of the perceptual codec (spec/codec-perceptual.md); written by "
                 "tools/make_perceptual_vectors.py; tests decode them, never re-encode",
        "samples_hash": "SHA-256 of the decoded samples as int32 little-endian, frames x channels interleaved",
        "packets": packets,
    }
    (OUT / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="verify the stored vectors")
    g.add_argument("--add", action="store_true", help="write only the cases not stored yet")
    g.add_argument("--force", action="store_true", help="overwrite existing vectors")
    args = ap.parse_args()
    return check() if args.check else write(args.force, args.add)


if __name__ == "__main__":
    sys.exit(main())
