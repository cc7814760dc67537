"""Write the conformance vectors in spec/vectors/{valid,uncommon,faulty}/ -- once.

Vectors are golden files: written by this script, then checked forever by
tests/container/test_vectors.py.  The expected hashes are computed from the *input*
audio this script generated (not by decoding the files), so a decoder is
checked against the truth, not against itself.

Usage: python tools/make_vectors.py [--force]   (refuses to overwrite without --force)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import sys
from pathlib import Path
from unittest import mock

import numpy as np

import snc
from snc.container import schema as s
from snc.container.hashing import canonical_bytes
from snc.demo import synthesize_song

ROOT = Path(__file__).resolve().parents[1] / "spec" / "vectors"


def sha(block: np.ndarray, fmt: str) -> str:
    return hashlib.sha256(canonical_bytes(block, fmt)).hexdigest()


def expected_hashes(mix, stems, fmt, bits):
    """Hashes of what a decoder must produce: the mix, each stem, and the residual."""
    residual_fmt = "int" if fmt == "int" else "float64"
    if stems:
        if fmt == "int":
            residual = mix.astype(np.int64) - sum(v.astype(np.int64) for v in stems.values())
        else:
            acc = np.zeros(mix.shape)
            for v in stems.values():
                acc += v
            residual = mix.astype(np.float64) - acc
    else:
        residual = np.zeros(mix.shape, dtype=np.int64 if fmt == "int" else np.float64)
        stems = {"mix": mix}
    out = {name: sha(v, fmt) for name, v in stems.items()}
    out["residual"] = sha(residual, residual_fmt)
    return {"mix_sha256": sha(mix, fmt), "streams_sha256": out, "frames": int(len(mix)),
            "channels": int(mix.shape[1])}


def encode_bytes(mix, stems=None, **kw) -> bytes:
    buf = io.BytesIO()
    kw.setdefault("preset", "archival")
    snc.encode(mix, buf, stems=stems, **kw)
    return buf.getvalue()


def chunks(data: bytes):
    """(type, offset, length) of every chunk."""
    pos = 12
    while pos < len(data):
        ctype, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        yield ctype, pos, length
        pos += 12 + length


def rebuild(data: bytes, fn) -> bytes:
    """Rebuild every chunk as fn(type, body) -> body or None (drop), with valid CRCs."""
    out = bytearray(data[:12])
    for ctype, pos, length in chunks(data):
        body = fn(ctype, data[pos + 8:pos + 8 + length])
        if body is not None:
            out += s.build_chunk(ctype, body)
    return bytes(out)


def rng_song(seed, frames, channels, bits, nstems):
    rng = np.random.default_rng(seed)
    hi = (1 << (bits - 1)) - 1
    stems = {f"part{k}": (np.sin(np.arange(frames)[:, None] * (0.01 + 0.003 * k) + np.arange(channels))
                          * hi / (nstems + 1)).round().astype(np.int32) for k in range(nstems)}
    total = sum(v.astype(np.int64) for v in stems.values()) if stems else np.zeros((frames, channels), np.int64)
    mix = np.clip(np.round(np.tanh(total / hi * 1.5) * hi) + rng.integers(-2, 3, total.shape), -hi - 1, hi)
    return mix.astype(np.int32), stems


def valid_vectors():
    song = synthesize_song(duration=1.0, samplerate=44100, seed=7)
    yield ("lossless-stereo16-4stems.snc",
           "synthetic mastered song, 1 s, 44.1 kHz stereo 16-bit, 4 stems, lossless codec",
           dict(mix=song.mix, stems=song.stems, samplerate=44100, bits=16), "int", 16)
    mix, stems = rng_song(1, 3000, 2, 16, 2)
    yield ("pcm-stereo16-2stems.snc", "two stems + residual with the pcm codec, 3000 frames, 4 segments of 1024",
           dict(mix=mix, stems=stems, samplerate=48000, bits=16, codec="pcm", segment_frames=1024), "int", 16)
    mix, stems = rng_song(2, 5000, 1, 24, 3)
    yield ("lossless-mono24-96k.snc", "mono 24-bit at 96 kHz, 3 stems, lossless codec",
           dict(mix=mix, stems=stems, samplerate=96000, bits=24, segment_frames=2048), "int", 24)
    mix, _ = rng_song(3, 4000, 2, 16, 0)
    yield ("mix-only.snc", "no stems (--separator none): the mix is one stem named 'mix', the residual is silent",
           dict(mix=mix, samplerate=44100, bits=16), "int", 16)
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((2000, 2)) * 0.1).astype(np.float32)
    b = (rng.standard_normal((2000, 2)) * 0.1).astype(np.float32)
    fmix = np.tanh(a.astype(np.float64) + b).astype(np.float32)
    yield ("float32-2stems.snc", "float32 mix and stems (pcm), float64 residual",
           dict(mix=fmix, stems={"a": a, "b": b}, samplerate=44100), "float32", 32)


def master_song():
    """3 stems over 4 segments of 1024 frames: two with the mix the plain sum (unity packets), two through a
    gain that falls and rises, as a compressor's (knot packets)."""
    rng = np.random.default_rng(11)
    frames = 4096
    t = np.arange(frames)
    stems = {}
    for k, name in enumerate(("drums", "bass", "vocals")):
        tone = np.sin(2 * np.pi * (0.004 + 0.003 * k) * t)[:, None] * [4000.0, 3000.0]
        stems[name] = np.round(tone + rng.normal(0, 300, (frames, 2))).astype(np.int32)
    total = sum(v.astype(np.float64) for v in stems.values())
    gain = np.where(t < 2048, 1.0, 1.3 - 0.4 * np.sin(np.pi * (t - 2048) / 2048.0))
    mix = np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)
    mix[:2048] = np.clip(total[:2048], -32768, 32767).astype(np.int32)
    return mix, stems


def spec_gain(knots, frames: int, shift: int) -> np.ndarray:
    """The gain of spec section 18.5, one sample at a time in Python integers (not snc's code)."""
    b = 1 << shift
    out = np.empty((frames, knots.shape[1]), dtype=np.int64)
    for t in range(frames):
        j, r = t >> shift, t & (b - 1)
        for c in range(knots.shape[1]):
            out[t, c] = (int(knots[j, c]) * (b - r) + int(knots[j + 1, c]) * r + b // 2) >> shift
    return out


def master_vector():
    """``(name, description, bytes, expected)`` of the master-stream vector: the knots are the encoder's
    choice, everything else is computed from them and the input by the spec's formulas (sections 3.7, 18.5)."""
    from snc.encode.master import fit_master
    from snc.encode.options import EncodeOptions

    mix, stems = master_song()
    kw = dict(samplerate=44100, bits=16, segment_frames=1024)
    plan = fit_master(mix, stems, EncodeOptions(preset="archival", **kw))
    data = encode_bytes(mix, stems, **kw)
    expected = spec_master_expected(mix, stems, plan, 1024)
    kinds = "".join("u" if k is None else "k" for k in plan.knots)
    desc = (f"master stream (format 1.1): 3 stems, 4 segments of 1024 frames, gain packets {kinds} "
            f"(u = unity, k = knots every {1 << plan.codec.knot_shift} frames)")
    return "master-stereo16-3stems.snc", desc, data, expected


def spec_eq(x, sections) -> list[int]:
    """A stem's channel through the master's EQ, spec section 3.7 equation "EQ", in Python integers."""
    def clamp(v):
        return min(max(v, -(2**31 - 1)), 2**31 - 1)

    u = [clamp(int(v) << 6) for v in x]
    for b0, b1, b2, a1, a2 in sections:
        v, u1, u2, v1, v2 = [], 0, 0, 0, 0
        for u0 in u:
            out = clamp((b0 * u0 + b1 * u1 + b2 * u2 - a1 * v1 - a2 * v2 + (1 << 23)) >> 24)
            v.append(out)
            u2, u1, v2, v1 = u1, u0, v1, out
        u = v
    return u


def spec_played(g, stem, eq) -> np.ndarray:
    """A stem's segment as it plays in the mix through the gain ``g`` and the EQ ``eq`` (rows per channel, or
    None), spec section 3.7, in Python integers."""
    if eq is None:
        return (g * stem.astype(np.int64) + (1 << 13)) >> 14
    out = np.empty(stem.shape, dtype=np.int64)
    for c in range(stem.shape[1]):
        f = spec_eq(stem[:, c], [[int(v) for v in row] for row in eq[c]])
        out[:, c] = [(int(gv) * fv + (1 << 19)) >> 20 for gv, fv in zip(g[:, c], f)]
    return out


def spec_tables() -> tuple[list[int], list[int]]:
    """The compressor's tables LT and ET (spec section 3.7), from Python's decimal module at 50 digits."""
    from decimal import ROUND_HALF_UP, Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec, ctx.rounding = 50, ROUND_HALF_UP
        ln2 = Decimal(2).ln()
        lt = [int(((1 + Decimal(j) / 1024).ln() / ln2 * 65536).to_integral_value()) for j in range(1025)]
        et = [int(((-Decimal(j) / 1024 * ln2).exp() * (1 << 30)).to_integral_value()) for j in range(1025)]
    return lt, et


def spec_log2q(x: int, lt: list[int]) -> int:
    e = x.bit_length() - 1
    m = x >> (e - 16) if e >= 16 else x << (16 - e)
    f = m - 65536
    j, r = f >> 6, f & 63
    return e * 65536 + lt[j] + (((lt[j + 1] - lt[j]) * r + 32) >> 6)


def spec_exp2q(y: int, et: list[int]) -> int:
    n = y >> 16
    if n >= 31:
        return 0
    f = y & 65535
    j, r = f >> 6, f & 63
    return (et[j] + (((et[j + 1] - et[j]) * r + 32) >> 6)) >> n


def spec_compressor(x: np.ndarray, params) -> list[int]:
    """The compressor's Q30 gain per frame of ``x`` (int, (frames, channels): the stems' sum as it enters the
    gain), spec section 3.7 equation "COMP", in Python integers."""
    threshold, knee, slope, attack, release = (int(v) for v in params)
    lt, et = spec_tables()
    out, level = [], 0
    for row in x:
        a = min(sum(abs(int(v)) for v in row), 2**25 - 1)
        p = (a * a) >> 4
        level += ((p - level) * (attack if p > level else release)) >> 16
        y = 0
        if level >= 1:
            o = ((spec_log2q(level, lt) + 4 * 65536) >> 1) - threshold
            if (knee == 0 and o > 0) or (knee > 0 and 2 * o >= knee):
                y = (o * slope) >> 16
            elif knee > 0 and 2 * o > -knee:
                y = (((2 * o + knee) ** 2 // (8 * knee)) * slope) >> 16
        out.append(spec_exp2q(y, et))
    return out


def spec_compressed_gain(g, stems, eq, params) -> np.ndarray:
    """``G'`` of a segment (spec 3.7): the knots' ``g`` through the compressor on the stems' sum."""
    total = np.zeros(stems[0].shape, dtype=object)
    for stem in stems:
        for c in range(stem.shape[1]):
            if eq is None:
                total[:, c] += [int(v) for v in stem[:, c]]
            else:
                f = spec_eq(stem[:, c], [[int(v) for v in row] for row in eq[c]])
                total[:, c] += [(v + 32) >> 6 for v in f]
    comp = spec_compressor(total, params)
    return np.array([[(int(gv) * cv + (1 << 29)) >> 30 for gv in row] for row, cv in zip(g, comp)], dtype=np.int64)


def spec_master_expected(mix, stems, plan, seg: int) -> dict:
    """The expected hashes of a file with the master stream ``plan`` (the encoder's knots and EQ), segments of
    ``seg`` frames: the gain, the stems as they play and the residual by the spec's formulas."""
    gains, residual = [], []
    for index, knots in enumerate(plan.knots):
        lo, hi = index * seg, min(len(mix), (index + 1) * seg)
        g = (np.full((hi - lo, mix.shape[1]), 1 << 14, dtype=np.int64) if knots is None
             else spec_gain(knots, hi - lo, plan.codec.knot_shift))
        gains.append(g)
        if plan.codec.compressor is not None:
            g = spec_compressed_gain(g, [v[lo:hi] for v in stems.values()], plan.codec.eq, plan.codec.compressor)
        played = sum(spec_played(g, v[lo:hi], plan.codec.eq) for v in stems.values())
        residual.append(mix[lo:hi].astype(np.int64) - played)
    return dict(mix_sha256=sha(mix, "int"), frames=len(mix), channels=mix.shape[1],
                streams_sha256={**{n: sha(v, "int") for n, v in stems.items()},
                                "residual": sha(np.concatenate(residual), "int"),
                                "master": sha(np.concatenate(gains), "int")})


def eq_master_vector():
    """``(name, description, bytes, expected)`` of the format-1.3 vector: a mix through a +4 dB peak at 100 Hz
    and then a falling and rising gain; the EQ's coefficients and the knots are the encoder's choice, the
    hashes are computed from them and the input by the spec's formulas (sections 3.7, 18.5)."""
    from scipy.signal import lfilter

    from snc.encode.master import fit_master
    from snc.encode.options import EncodeOptions

    rng = np.random.default_rng(13)
    frames, seg = 8192, 2048
    t = np.arange(frames)
    stems = {name: np.round(np.sin(2 * np.pi * f * t)[:, None] * [a, 0.8 * a]
                            + rng.normal(0, 300, (frames, 2))).astype(np.int32)
             for name, f, a in (("drums", 0.0023, 5000.0), ("bass", 0.0011, 6000.0), ("keys", 0.013, 3000.0))}
    a_lin, w = 10 ** (4 / 40), 2 * np.pi * 100 / 44100
    alpha = np.sin(w) / 1.4
    b = np.array([1 + alpha * a_lin, -2 * np.cos(w), 1 - alpha * a_lin])
    a = np.array([1 + alpha / a_lin, -2 * np.cos(w), 1 - alpha / a_lin])
    total = lfilter(b / a[0], a / a[0], sum(v.astype(np.float64) for v in stems.values()), axis=0)
    gain = 1.2 - 0.3 * np.sin(np.pi * t / frames)
    mix = np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)
    kw = dict(samplerate=44100, bits=16, segment_frames=seg)
    plan = fit_master(mix, stems, EncodeOptions(preset="archival", **kw))
    assert plan is not None and plan.codec.eq is not None
    data = encode_bytes(mix, stems, **kw)
    assert data[9] == 3, data[9]
    expected = spec_master_expected(mix, stems, plan, seg)
    eq = plan.codec.eq
    kinds = "".join("u" if k is None else "k" for k in plan.knots)
    desc = (f"format 1.3: the master stream with an EQ of {len(eq[0])} sections per channel, 3 stems, 4 segments "
            f"of {seg} frames, gain packets {kinds}")
    return "master-eq-stereo16-3stems.snc", desc, data, expected


def compressor_master_vector():
    """``(name, description, bytes, expected)`` of the format-1.4 vector: a mix through a feed-forward RMS
    compressor (4:1, 5 ms attack, 100 ms release, floating point) and a slow gain; the compressor's integers
    and the knots are the encoder's choice, the hashes are computed from them and the input by the spec's
    formulas (sections 3.7, 18.5)."""
    from snc.encode.master import fit_master
    from snc.encode.options import EncodeOptions

    rng = np.random.default_rng(14)
    frames, seg, rate = 12288, 4096, 44100
    t = np.arange(frames)
    stems = {}
    for k, (name, f) in enumerate((("drums", 0.0031), ("bass", 0.0013), ("keys", 0.011))):
        env = 0.3 + 0.7 * np.sin(np.pi * t / (2500 + 1300 * k)) ** 2
        stems[name] = np.round(np.sin(2 * np.pi * f * t)[:, None] * [6000.0, 4800.0] * env[:, None]
                               + rng.normal(0, 200, (frames, 2))).astype(np.int32)
    total = sum(v.astype(np.float64) for v in stems.values())
    power, smooth, level = np.abs(total).sum(axis=1) ** 2, 0.0, np.empty(frames)
    for i, p in enumerate(power):
        smooth += (p - smooth) * (1 / (0.005 * rate) if p > smooth else 1 / (0.1 * rate))
        level[i] = smooth
    over = np.maximum(0.5 * np.log2(np.maximum(level, 1.0)) - np.log2(5000.0), 0.0)
    gain = 2.0 ** (-0.75 * over) * (1.4 - 0.2 * np.sin(np.pi * t / frames))
    mix = np.clip(np.round(gain[:, None] * total), -32768, 32767).astype(np.int32)
    kw = dict(samplerate=rate, bits=16, segment_frames=seg)
    plan = fit_master(mix, stems, EncodeOptions(preset="archival", **kw))
    assert plan is not None and plan.codec.compressor is not None
    data = encode_bytes(mix, stems, **kw)
    assert data[9] == 4, data[9]
    expected = spec_master_expected(mix, stems, plan, seg)
    kinds = "".join("u" if k is None else "k" for k in plan.knots)
    desc = (f"format 1.4: the master stream with a compressor {list(plan.codec.compressor)}, 3 stems, 3 segments "
            f"of {seg} frames, gain packets {kinds}")
    return "master-compressor-stereo16-3stems.snc", desc, data, expected


def range_coded_vector():
    """``(name, description, bytes, expected)`` of the format-1.2 vector: 3 stems rounded on their own and a
    mix rounded from their exact sum, so the residual is a rounding residual (white, offset ~1.5) that the
    encoder range codes without prediction (lossless method 3, spec codec-lossless.md section 14)."""
    from snc.container.reader import ContainerReader

    rng = np.random.default_rng(12)
    frames = 6000
    t = np.arange(frames)[:, None]
    exact = {name: np.sin(2 * np.pi * f * t + [0.0, 0.7]) * a + rng.normal(0, 40, (frames, 2))
             for name, f, a in (("drums", 0.011, 5000.0), ("bass", 0.002, 7000.0), ("keys", 0.007, 4000.0))}
    stems = {n: np.round(v).astype(np.int32) for n, v in exact.items()}
    mix = np.clip(np.round(sum(exact.values()) + 1.5), -32768, 32767).astype(np.int32)
    data = encode_bytes(mix, stems, samplerate=44100, bits=16, segment_frames=2048)
    reader = ContainerReader(io.BytesIO(data))
    methods = {reader.read_packet(seg, i)[0] for seg in reader.segments for i in range(len(reader.streams))}
    assert data[9] == 2 and 3 in methods, (data[9], methods)  # version 1.2; the packets' method bytes
    desc = ("format 1.2: 3 stems + the rounding residual of their exact sum (offset 1.5), 3 segments of 2048, "
            "lossless packets of methods " + ", ".join(str(m) for m in sorted(methods)))
    return "range-coded-stereo16-3stems.snc", desc, data, expected_hashes(mix, stems, "int", 16)


def add_valid() -> None:
    """New valid vectors only (the master stream's, the range coder's, the master EQ's and compressor's):
    golden files already written are never rewritten."""
    path = ROOT / "valid" / "expected.json"
    expected = json.loads(path.read_text())
    for name, desc, data, want in (master_vector(), range_coded_vector(), eq_master_vector(),
                                   compressor_master_vector()):
        if not (ROOT / "valid" / name).exists():
            (ROOT / "valid" / name).write_bytes(data)
            expected[name] = dict(description=desc, **want)
            print(f"wrote valid/{name} ({len(data)} bytes)")
    write_json(path, expected)
    write_readme("valid")


def uncommon_vectors():
    mix, stems = rng_song(5, 1, 2, 16, 1)
    yield ("one-frame.snc", "a single frame", dict(mix=mix, stems=stems, samplerate=8000, bits=16), "int", 16, None)
    mix, stems = rng_song(6, 700, 8, 8, 2)
    yield ("eight-channels-8bit.snc", "8 channels of 8-bit samples at 8 kHz",
           dict(mix=mix, stems=stems, samplerate=8000, bits=8, segment_frames=256), "int", 8, None)
    mix, stems = rng_song(7, 900, 2, 16, 12)
    yield ("twelve-stems.snc", "12 stems", dict(mix=mix, stems=stems, samplerate=22050, bits=16), "int", 16, None)
    mix, stems = rng_song(8, 600, 2, 16, 2)
    stems = dict(zip(["Gesang 🎤", "ドラム"], stems.values()))
    yield ("unicode-names-tags-picture.snc", "non-ASCII stem names and tags, a PICT chunk (front cover)",
           dict(mix=mix, stems=stems, samplerate=44100, bits=16,
                tags={"title": "Ünïcödé — 測試", "artist": "Ｓ"},
                pictures=[dict(picture_type=3, mime="image/png", description="cover", data=b"\x89PNG\r\n\x1a\n")]),
           "int", 16, None)
    mix, stems = rng_song(9, 800, 2, 16, 2)

    def add_unknown_chunk(data):
        first_seg = next(pos for t, pos, _ in chunks(data) if t == b"SEGM")
        # an unknown chunk in the header region moves every later offset: rebuild the index by hand
        extra = s.build_chunk(b"XTRA", b"private data a reader must skip")
        return fix_offsets(data[:first_seg] + extra + data[first_seg:], len(extra))

    yield ("unknown-chunk.snc", "an unknown 'XTRA' chunk in the header region, which readers skip",
           dict(mix=mix, stems=stems, samplerate=44100, bits=16, segment_frames=256), "int", 16, add_unknown_chunk)

    def drop_tail(data):
        return data[:-s.TAIL_CHUNK_SIZE]

    yield ("no-tail.snc", "the TAIL chunk is missing: a reader finds the segments by scanning",
           dict(mix=mix, stems=stems, samplerate=44100, bits=16, segment_frames=256), "int", 16, drop_tail)

    def minor_version_with_extra_fields(data):
        out = bytearray(rebuild(data, lambda t, b: b + b"\x00\x01\x02\x03" if t in (b"INFO", b"STRM") else b))
        out[9] = 7  # version 1.7: fields appended to INFO and STRM, which a 1.0 reader ignores
        grown = len(out) - len(data)
        return fix_offsets(bytes(out), grown)

    yield ("minor-version-extra-fields.snc", "format version 1.7 with 4 unknown bytes appended to INFO and STRM bodies",
           dict(mix=mix, stems=stems, samplerate=44100, bits=16, segment_frames=256), "int", 16,
           minor_version_with_extra_fields)


def fix_offsets(data: bytes, shift: int) -> bytes:
    """After the header region grew by ``shift`` bytes, rewrite SIDX and TAIL offsets."""
    def fn(ctype, body):
        if ctype == b"SIDX":
            sidx = s.SeekIndexBody.parse(body)
            return s.SeekIndexBody.build(dict(count=sidx.count, entries=[
                dict(start_frame=e.start_frame, offset=e.offset + shift) for e in sidx.entries]))
        if ctype == b"TAIL":
            tail = s.TailBody.parse(body)
            return s.TailBody.build(dict(seek_index_offset=tail.seek_index_offset + shift,
                                         hash_offset=tail.hash_offset + shift))
        return body
    return rebuild(data, fn)


# ---------------------------------------------------------------------------
# Crafted files: CRC-valid, written with the writer and the schema, that claim extreme sizes or
# carry hostile fields (spec section "Security Considerations").  Also used by tests/decode/test_bounded_decode.py.


def crafted_file(*, streams: int = 3, channels: int = 1, segment_frames: int = 64, frames: int | None = None,
                 codec: str = "lossless", packet=None, stream_changes=None, meta=None) -> bytes:
    """A valid file of silent streams (``packet(segment, stream, good_bytes) -> bytes`` may replace packets;
    ``stream_changes`` are StreamInfo attributes set on every stem)."""
    from snc.codecs import get_codec
    from snc.container.hashing import SignalHasher
    from snc.container.model import FileInfo, StreamInfo
    from snc.container.writer import SncWriter

    frames = segment_frames if frames is None else frames
    coder = get_codec(codec, {"format": "int", "bits": 16, "channels": channels})
    infos = [StreamInfo(f"s{k}", "other", channels, codec, coder.get_config(), index=k, mean_square_db=-20.0,
                        **(stream_changes or {})) for k in range(streams - 1)]
    infos.append(StreamInfo("residual", "residual", channels, codec, coder.get_config(), index=streams - 1))
    info = FileInfo(8000, frames, channels, "int", 16, "archival", segment_frames, streams)
    buf = io.BytesIO()
    mix_h, stream_h = SignalHasher("int"), [SignalHasher("int") for _ in range(streams)]
    silent = {}
    # the writer refuses oversize packets; a hostile file need not, so its bound is lifted here
    with mock.patch.object(s, "PACKET_OVERHEAD", 1 << 20), SncWriter(buf, info, infos, meta=meta) as w:
        for index, start in enumerate(range(0, frames, segment_frames)):
            n = min(segment_frames, frames - start)
            if n not in silent:
                silent[n] = coder.encode(np.zeros((n, channels), np.int32))
            packets = [silent[n] if packet is None else packet(index, k, silent[n]) for k in range(streams)]
            w.write_segment(n, packets)
            zeros = np.zeros((n, channels), np.int32)
            for h in (mix_h, *stream_h):
                h.update(zeros)
        w.close(mix_h.digest(), [h.digest() for h in stream_h])
    return buf.getvalue()


def patch_info(data: bytes, **changes) -> bytes:
    """Rewrite INFO fields (the writer refuses out-of-range values, a hostile file need not)."""
    def fn(ctype, body):
        if ctype != b"INFO":
            return body
        info = s.InfoBody.parse(body)
        return s.InfoBody.build({**{k: v for k, v in info.items() if not k.startswith("_")}, **changes})
    return rebuild(data, fn)


def patch_json_field(data: bytes, field: str, text: bytes) -> bytes:
    """Swap the JSON text of ``field`` (codec_config or provenance_detail) of stream 0 for ``text``."""
    def fn(ctype, body):
        if ctype != b"STRM" or not body.startswith(b"\x00\x00"):
            return body
        st = s.StreamBody.parse(body)
        old = json.dumps(dict(st[field]), separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
        prefix = struct.pack("<I", len(old)) + old
        assert body.count(prefix) == 1
        return body.replace(prefix, struct.pack("<I", len(text)) + text)
    return rebuild(data, fn)


def meta_chunk_file(data: bytes, text: bytes) -> bytes:
    """Insert a META chunk whose zstd frame holds ``text`` (compressed: a few kB for megabytes)."""
    import zstandard

    meta = s.build_chunk(b"META", zstandard.ZstdCompressor(level=19).compress(text))
    first_strm_end = next(pos + 12 + ln for t, pos, ln in chunks(data) if t == b"STRM")
    return fix_offsets(data[:first_strm_end] + meta + data[first_strm_end:], len(meta))


def max_segment_file(streams: int = s.MAX_STREAMS, segments: int = 3) -> bytes:
    """The largest segment the limits allow, 2^23 samples: 64 streams x 8 channels x 16384 frames, or with
    fewer streams longer segments, up to 2^20 samples per packet (8 streams x 8 channels x 131072 frames)."""
    frames = min(s.MAX_SEGMENT_SAMPLES // (streams * s.MAX_CHANNELS), s.MAX_PACKET_SAMPLES // s.MAX_CHANNELS)
    return crafted_file(streams=streams, channels=s.MAX_CHANNELS, segment_frames=frames, frames=segments * frames)


def crafted_vectors():
    """(name, description, bytes, error, raised by, message[, extra expected keys]) of the crafted faulty files."""
    big = crafted_file(streams=s.MAX_STREAMS, channels=s.MAX_CHANNELS, segment_frames=16384)
    yield ("segment-samples-over-cap.snc", "64 streams x 8 channels x 2^20-frame segments: 2^29 samples per "
           "segment, 64 times the limit", patch_info(big, segment_frames=1 << 20, frames=1 << 20),
           "FormatError", "open", "exceeds 8388608 samples")
    small = crafted_file()
    yield ("packet-samples-over-cap.snc", "2 streams x 8 channels x 2^19-frame segments: within the samples per "
           "segment, but 4 M samples per packet", patch_info(crafted_file(streams=2, channels=8), channels=8,
                                                              segment_frames=1 << 19, frames=1 << 19),
           "FormatError", "open", "exceeds 1048576 samples per packet")
    yield ("too-many-segments.snc", "INFO announces 4 M segments of 64 frames in a file of a few hundred bytes "
           "(a seek index of 4 M entries would follow)", patch_info(small, frames=(1 << 22) * 64),
           "TruncatedError", "open", "announces 4194304 segments")
    yield ("sample-rate-1.snc", "sample rate 1 Hz", patch_info(small, sample_rate=1), "FormatError", "open",
           "sample_rate 1 out of range")
    yield ("meta-deep-json.snc", "META JSON nested 100000 levels deep (a recursion bomb)",
           meta_chunk_file(small, b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"), "FormatError", "open",
           "nested deeper than 32")
    yield ("meta-many-values.snc", "META JSON of 4 M empty objects (a few kB compressed, gigabytes as objects)",
           meta_chunk_file(small, b'{"a":[' + b"{}," * (1 << 22) + b"{}]}"), "FormatError", "open",
           "more than 65536 values")
    yield ("codec-config-nan.snc", "stream 0's codec_config holds the non-standard JSON literal NaN",
           patch_json_field(small, "codec_config", b'{"bits":16,"channels":1,"format":"int","x":NaN}'),
           "FormatError", "open", "non-standard literal NaN")
    yield ("packet-oversize.snc", "segment 1, stream 0: a 3000-byte packet for 64 mono frames (CRC valid)",
           crafted_file(codec="pcm", frames=192, packet=lambda seg, k, good: bytes(3000) if (seg, k) == (1, 0)
                        else good), "FormatError", "read", "exceeds the 2048 bytes",
           {"concealed": [["s0", 64, 64]]})
    yield ("packet-short-pcm.snc", "segment 2, stream 1: a pcm packet 2 bytes short (CRC valid): a codec error",
           crafted_file(codec="pcm", frames=192, packet=lambda seg, k, good: good[:-2] if (seg, k) == (2, 1)
                        else good), "CodecError", "read", "pcm: packet has 126 bytes",
           {"concealed": [["s1", 128, 64]]})


def faulty_vectors():
    mix, stems = rng_song(10, 1000, 2, 16, 2)
    base = encode_bytes(mix, stems, samplerate=44100, bits=16, segment_frames=256)
    pcm = encode_bytes(mix, stems, samplerate=44100, bits=16, segment_frames=256, codec="pcm")
    seg = [pos for t, pos, _ in chunks(base) if t == b"SEGM"]
    pcm_seg = [pos for t, pos, _ in chunks(pcm) if t == b"SEGM"]

    def flip(data, pos, mask=0x01):
        out = bytearray(data)
        out[pos] ^= mask
        return bytes(out)

    yield "bad-magic.snc", "first byte changed", flip(base, 0, 0xFF), "FormatError", "open", "bad magic"
    yield ("future-major-version.snc", "version 2.0", base[:8] + b"\x02" + base[9:], "UnsupportedError", "open",
           "version 2.0")
    yield ("truncated-in-segment.snc", "cut inside the second segment", base[:seg[1] + 40], "TruncatedError", "open",
           "past the end")
    yield "header-only.snc", "only the 12-byte file header", base[:12], "TruncatedError", "open", "file ends"
    yield "info-crc.snc", "one bit of the INFO body flipped", flip(base, 12 + 8 + 2), "ChecksumError", "open", \
        "INFO chunk at byte 12: CRC mismatch"
    yield ("packet-crc.snc", "one bit of a pcm packet payload flipped (segment 1, stream 0)",
           flip(pcm, pcm_seg[1] + 8 + s.SEGMENT_FIXED_SIZE + 3 * s.PACKET_ENTRY_SIZE + 4 + 5), "ChecksumError", "read",
           "segment 1", {"concealed": [["part0", 256, 256]]})
    yield ("huge-chunk-length.snc", "INFO chunk claims 4 GiB",
           base[:16] + struct.pack("<I", 0xFFFFFFF0) + base[20:], "FormatError", "open", "limit")
    bomb = s.build_chunk(b"META", s.MetaBody.build({"meta": {}})[:0] +
                         __import__("zstandard").ZstdCompressor().compress(b" " * (s.MAX_META_JSON + 1)))
    first_strm_end = next(pos + 12 + ln for t, pos, ln in chunks(base) if t == b"STRM")
    yield "zstd-bomb-meta.snc", "META expands past the 16 MiB bound", \
        fix_offsets(base[:first_strm_end] + bomb + base[first_strm_end:], len(bomb)), "FormatError", "open", \
        "limit"
    yield ("no-residual.snc", "the residual stream's role changed to 'other'",
           rebuild(base, lambda t, b: b.replace(b"\x08residual\x08residual", b"\x08residual\x05other")
                   if t == b"STRM" else b), "FormatError", "open", "exactly one residual")
    yield ("unknown-codec.snc", "stream 0 uses codec 'zzzzzzzz', which this version does not know",
           rebuild(base, lambda t, b: b.replace(b"\x08lossless", b"\x08zzzzzzzz", 1)
                   if t == b"STRM" and b.startswith(b"\x00\x00") else b), "UnsupportedError", "read",
           "unknown codec 'zzzzzzzz'")
    yield ("stream-count-mismatch.snc", "INFO announces 4 streams, 3 STRM chunks follow",
           rebuild(base, lambda t, b: b[:20] + struct.pack("<H", 4) + b[22:] if t == b"INFO" else b),
           "FormatError", "open", "INFO announces 4 streams")
    master = master_vector()[2]
    yield ("two-masters.snc", "the master vector with stem 'drums' given the role 'master' too (spec 3.7)",
           rebuild(master, lambda t, b: b.replace(b"\x05drums\x05drums", b"\x05drums\x06master", 1)
                   if t == b"STRM" else b), "FormatError", "open", "master stream must be the only one")
    yield "not-snc-wav.snc", "a WAV file", b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(28), \
        "FormatError", "open", "not an SNC file"
    yield from crafted_vectors()


INTROS = {
    "valid": "Files every conforming reader MUST decode. `expected.json` gives, per file, the SHA-256 of the "
             "decoded mix and of every decoded stream (canonical bytes of spec section \"HASH chunk\"), computed "
             "from the audio the generator fed to the encoder, not by decoding.",
    "uncommon": "Valid files that exercise rarely used corners of the format: readers MUST decode them to the "
                "hashes in `expected.json`.",
    "faulty": "Damaged or hostile files. A reader MUST reject each one with a clear error and MUST NOT crash, "
              "hang or allocate more than the format's limits allow. `expected.json` names the error class of "
              "the reference reader (`snc.<error>`), whether opening the file or reading its audio raises it, and a "
              "phrase of its message (so a vector cannot pass by failing for another reason). A damaged packet "
              "(`concealed` in `expected.json`: stream, first frame, frames) is an error for a strict reader "
              "(`snc.open(..., strict=True)`, `snc-decode --strict`); by default the reference reader conceals it "
              "(silence for that stream and segment, a warning) and decodes the rest. The crafted files (written "
              "by `crafted_vectors` in the generator) claim extreme sizes or carry hostile fields; each must fail "
              "within the memory bound of spec section 21.",
}


def write_readme(folder: str) -> None:
    expected = json.loads((ROOT / folder / "expected.json").read_text())
    lines = [f"# {folder} vectors", "", INTROS[folder], "",
             "Generated once by `tools/make_vectors.py`; checked by `tests/container/test_vectors.py`. Golden: never "
             "regenerate them for a code change -- a change in these bytes is a format change.", "",
             "| file | what it tests |" + (" error | raised by |" if folder == "faulty" else ""),
             "|---|---|" + ("---|---|" if folder == "faulty" else "")]
    for name, e in sorted(expected.items()):
        extra = ""
        if folder == "faulty":
            when = e["raised_by"] + (" (strict; concealed by default)" if e.get("concealed") else "")
            extra = f" `{e['error']}` | {when} |"
        lines.append(f"| `{name}` | {e['description']} |{extra}")
    (ROOT / folder / "README.md").write_text("\n".join(lines) + "\n")


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def add_faulty() -> None:
    """New faulty vectors only: golden files already written are never rewritten."""
    path = ROOT / "faulty" / "expected.json"
    expected = json.loads(path.read_text())
    for name, desc, data, error, when, message, *extra in faulty_vectors():
        entry = dict(description=desc, error=error, raised_by=when, message=message, **dict(*extra))
        if (ROOT / "faulty" / name).exists():
            expected[name].update({k: v for k, v in entry.items() if k not in expected[name]})
            continue
        (ROOT / "faulty" / name).write_bytes(data)
        expected[name] = entry
        print(f"wrote faulty/{name} ({len(data)} bytes)")
    write_json(path, expected)
    write_readme("faulty")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--force", action="store_true", help="overwrite existing vectors (a format change!)")
    p.add_argument("--readmes-only", action="store_true", help="rewrite only the README of each folder")
    p.add_argument("--add-faulty", action="store_true",
                   help="write only the faulty vectors not yet present (the existing ones stay untouched) and "
                        "the expected keys the generator adds to existing entries")
    p.add_argument("--add-valid", action="store_true",
                   help="write only the valid vectors added since the first run (master stream, range coder)")
    args = p.parse_args(argv)
    if args.readmes_only:
        for folder in INTROS:
            write_readme(folder)
        return 0
    if args.add_faulty:
        add_faulty()
        return 0
    if args.add_valid:
        add_valid()
        return 0
    for sub in ("valid", "uncommon", "faulty"):
        folder = ROOT / sub
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.glob("*.snc")) and not args.force:
            print(f"{folder} already holds vectors; they are golden: use --force only for a deliberate change",
                  file=sys.stderr)
            return 1

    expected = {}
    for name, desc, kw, fmt, bits in valid_vectors():
        kw = dict(kw)
        mix, stems = kw.pop("mix"), kw.pop("stems", None)
        (ROOT / "valid" / name).write_bytes(encode_bytes(mix, stems, **kw))
        expected[name] = dict(description=desc, **expected_hashes(mix, stems, fmt, bits))
    write_json(ROOT / "valid" / "expected.json", expected)

    expected = {}
    for name, desc, kw, fmt, bits, post in uncommon_vectors():
        kw = dict(kw)
        mix, stems = kw.pop("mix"), kw.pop("stems", None)
        data = encode_bytes(mix, stems, **kw)
        (ROOT / "uncommon" / name).write_bytes(post(data) if post else data)
        expected[name] = dict(description=desc, **expected_hashes(mix, stems, fmt, bits))
    write_json(ROOT / "uncommon" / "expected.json", expected)

    expected = {}
    for name, desc, data, error, when, message, *extra in faulty_vectors():
        (ROOT / "faulty" / name).write_bytes(data)
        expected[name] = dict(description=desc, error=error, raised_by=when, message=message, **dict(*extra))
    write_json(ROOT / "faulty" / "expected.json", expected)
    for folder in INTROS:
        write_readme(folder)
    print(f"wrote vectors to {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
