"""Float (and other odd) input with every preset: float WAV, MP3, Ogg, float arrays, 8-bit, >24-bit,
and the lossless ``float`` codec (spec/codec-float.md)."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
import soundfile as sf

import snc
from snc.codecs import get_codec
from snc.codecs.floating import EXPLICIT, ZSTD_FLAG, FloatCodec, split
from snc.codecs.lossless import LosslessCodec
from snc.codecs.perceptual import PerceptualCodec
from snc.errors import CodecError

PRESETS = ("archival", "lossless", "transparent", "compact")
RATE = 22050
_UINT = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}


def bits_of(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(_UINT[x.dtype])


def music(seconds: float = 1.0, channels: int = 2, seed: int = 0, level: float = 0.4) -> np.ndarray:
    """A few partials with vibrato and a little noise: float64 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(level / (k + 1) * np.sin(2 * np.pi * 220 * (k + 1) * t + 3 * np.sin(2 * np.pi * 5 * t)) for k in range(4))
    out = np.stack([x * (1 - 0.2 * c) for c in range(channels)], axis=1)
    return out + 0.002 * rng.standard_normal(out.shape)


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    err = got.astype(np.float64) - ref
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum(err * err))


def roundtrip(codec, x):
    packet = codec.encode(x)
    return packet, codec.decode(packet, x.shape[0])


# -- the float codec ----------------------------------------------------------------------------------

def finite_random_floats(dtype, shape, seed):
    """Uniformly random bit patterns (every exponent, sign, subnormals), non-finite ones replaced."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, np.iinfo(_UINT[np.dtype(dtype)]).max, size=shape, dtype=_UINT[np.dtype(dtype)],
                       endpoint=True)
    x = raw.view(dtype)
    return np.where(np.isfinite(x), x, dtype(0.25)).astype(dtype)


SPECIALS = [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, -5.877472e-39, 2.0 ** -23, -(2.0 ** -24), 2.0 ** -23 * 1.5,
            1.0, -1.0, 0.99999994, -1.0000001, 1.05, 255.99998, 256.0, -300.5, 3.4028235e38, -3.4028235e38,
            1.0 / 3.0, 2.0 ** 8 - 2.0 ** -15]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_codec_is_bit_exact_on_adversarial_values(dtype):
    codec = FloatCodec(format=np.dtype(dtype).name, channels=2)
    specials = np.array(SPECIALS, dtype=dtype)
    cases = [finite_random_floats(dtype, (3000, 2), seed=1), np.stack([specials, specials[::-1]], axis=1),
             np.zeros((700, 2), dtype), np.full((500, 2), -0.0, dtype), np.zeros((0, 2), dtype)]
    if dtype is np.float64:  # float64 subnormals and values beyond float32's range
        cases.append(np.array([[5e-324, -2.2e-308], [1e300, -1e-300], [np.nextafter(1.0, 2.0), -0.1]]))
    for x in cases:
        _, y = roundtrip(codec, x)
        assert y.dtype == dtype and y.shape == x.shape
        assert np.array_equal(bits_of(y), bits_of(x))


def test_split_is_exact_and_fraction_fits_the_derived_width():
    x = finite_random_floats(np.float32, (4000, 1), seed=2)
    for exponent in (-5, 0, 23, 40, 127):
        parts = split(x, exponent, 24)
        coded = parts.integer != 0
        assert (parts.fraction[coded] < (np.uint64(1) << parts.derived[coded].astype(np.uint64))).all()
        value = np.ldexp(np.abs(parts.integer[coded]).astype(np.float64)
                         + np.ldexp(parts.fraction[coded].astype(np.float64), -parts.derived[coded]), -exponent)
        assert np.array_equal(value, np.abs(x.reshape(-1)[coded].astype(np.float64)))


def test_float_codec_is_registered_and_configured_like_the_others():
    codec = get_codec("float", {"format": "float64", "channels": 3})
    assert isinstance(codec, FloatCodec) and codec.lossless and codec.get_config() == {"format": "float64",
                                                                                        "channels": 3}
    for bad in ({"format": "int", "bits": 16, "channels": 1}, {"format": "float32", "channels": 9},
                {"format": "float32", "channels": 1, "bits": 32}, {"format": "float32"}):
        with pytest.raises(CodecError):
            get_codec("float", bad)


def test_float_codec_refuses_non_finite_input():
    with pytest.raises(CodecError, match="NaN or infinite"):
        FloatCodec(format="float32").encode(np.array([[1.0], [np.inf]], np.float32))


def test_integer_content_costs_what_the_integer_codec_costs():
    pcm16 = np.round(music(2.0) * 32767).astype(np.int32)
    as_float = (pcm16 / 32768.0).astype(np.float32)  # a float WAV holding 16-bit audio
    int_bytes = len(LosslessCodec(format="int", bits=16, channels=2, residual_coding="rice").encode(pcm16))
    packet, y = roundtrip(FloatCodec(format="float32", channels=2), as_float)
    assert np.array_equal(bits_of(y), bits_of(as_float))
    assert len(packet) <= int_bytes * 1.01 + 32, (len(packet), int_bytes)
    assert len(packet) < 0.3 * as_float.nbytes


def test_float32_values_in_a_float64_stream_use_explicit_widths():
    # the residual of a float32 mix is float64 holding far fewer significant bits than 53
    x = (music(1.0) * 0.01).astype(np.float32).astype(np.float64)
    packet, y = roundtrip(FloatCodec(format="float64", channels=2), x)
    assert np.array_equal(bits_of(y), bits_of(x))
    assert packet[1] & 3 == EXPLICIT
    assert len(packet) < 0.45 * x.nbytes


def test_silence_with_stray_tiny_values_is_compressed():
    x = np.zeros((20000, 2), np.float32)
    x[::997, 0] = -0.0
    x[5000, 1] = 1e-40
    packet, y = roundtrip(FloatCodec(format="float32", channels=2), x)
    assert np.array_equal(bits_of(y), bits_of(x))
    assert packet[1] & ZSTD_FLAG and len(packet) < 400


def test_decoder_rejects_corrupt_packets():
    codec = FloatCodec(format="float32", channels=2)
    x = music(0.2).astype(np.float32)
    good = codec.encode(x)
    version, flags, exponent, int_bits = struct.unpack_from("<BBbB", good)
    bad_packets = {
        "truncated": good[:-3],
        "bytes after": good + b"\0",
        "reserved flag": good[:1] + bytes([flags | 0x80]) + good[2:],
        "version": bytes([9]) + good[1:],
        "integer width": good[:3] + bytes([40]) + good[4:],
        "empty": b"",
    }
    for _name, data in bad_packets.items():
        with pytest.raises(CodecError):
            codec.decode(data, x.shape[0])
    with pytest.raises(CodecError):
        codec.decode(good, x.shape[0] + 1)


def test_decoder_refuses_raw_nan():
    codec = FloatCodec(format="float32", channels=1)
    x = np.array([[-0.0]], np.float32)  # stored raw: integer part zero, and not +0.0
    packet = bytearray(codec.encode(x))
    pattern = x.view(np.uint32)[0, 0]
    side = int.from_bytes(packet[-5:], "big")  # flag bit + 32 raw bits + 7 padding bits
    nan = (1 << 39) | (0x7FC00000 << 7)
    assert side == (1 << 39) | (int(pattern) << 7)
    packet[-5:] = nan.to_bytes(5, "big")
    with pytest.raises(CodecError, match="NaN or infinite"):
        codec.decode(bytes(packet), 1)


# -- the perceptual codec on float32 streams ----------------------------------------------------------

def test_perceptual_float32_stream_decodes_to_24_bit_values():
    codec = PerceptualCodec(format="float32", channels=2)
    assert codec.get_config() == {"format": "float32", "channels": 2}
    x = music(0.5).astype(np.float32)
    y = codec.decode(codec.encode(x), x.shape[0])
    assert y.dtype == np.float32 and snr_db(x, y) > 12
    assert np.array_equal(y.astype(np.float64) * 2 ** 23, np.round(y.astype(np.float64) * 2 ** 23))
    reference = PerceptualCodec(format="int", bits=24, channels=2)
    want = reference.decode(reference.encode(codec.integers(x)), x.shape[0])
    assert np.array_equal(y, (want / 2 ** 23).astype(np.float32))


# -- files and arrays with every preset ----------------------------------------------------------------

def encode_all(source, tmp_path, **kw):
    """Encode ``source`` with every preset; ``{preset: (report, decoded native mix, file info, META)}``."""
    out = {}
    for preset in PRESETS:
        path = tmp_path / f"{preset}.snc"
        with warnings.catch_warnings():
            warnings.simplefilter("error", snc.SncWarning)
            report = snc.encode(source, path, preset=preset, **kw)
        with snc.open(path) as f:
            out[preset] = (report, f.read(dtype="native"), f.info, f.metadata)
    return out


def as_int24(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x.astype(np.float64) * 2 ** 23), -2 ** 23, 2 ** 23 - 1).astype(np.int32)


MIN_SNR_DB = {"transparent": 15.0, "compact": 6.0}  # waveform SNR: a loose sanity bound for perceptual coding


def check_every_preset(results, reference: np.ndarray):
    """archival and lossless give back the float samples bit for bit; the perceptual presets a
    24-bit file that records the float source and decodes as the 24-bit integers of the input would."""
    fmt = reference.dtype.name
    for preset in ("archival", "lossless"):
        report, mix, info, meta = results[preset]
        assert info.sample_format == fmt and mix.dtype == reference.dtype
        assert np.array_equal(bits_of(mix), bits_of(reference)), preset
        assert {s["codec"] for s in report.streams} == {"float"}
        assert "source_format" not in meta
        # compact, unlike raw PCM of the float samples
        assert report.file_bytes < 0.8 * reference.nbytes, (preset, report.file_bytes, reference.nbytes)
    for preset in ("transparent", "compact"):
        report, mix, info, meta = results[preset]
        assert (info.sample_format, info.bits) == ("int", 24)
        assert meta["source_format"] == {"sample_format": fmt, "bits": 32 if fmt == "float32" else 64}
        assert snr_db(reference, mix / 2.0 ** 23) > MIN_SNR_DB[preset], preset
        assert report.file_bytes < 0.25 * reference.nbytes
        buf = io.BytesIO()
        snc.encode(as_int24(reference), buf, samplerate=info.sample_rate, bits=24, preset=preset)
        buf.seek(0)
        with snc.open(buf) as f:
            assert np.array_equal(f.read(dtype="native"), mix), preset


@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_float_wav_with_every_preset(tmp_path, subtype):
    path = tmp_path / "in.wav"
    sf.write(path, music(), RATE, subtype=subtype)
    reference = sf.read(path, dtype="float32" if subtype == "FLOAT" else "float64")[0]
    check_every_preset(encode_all(path, tmp_path), reference)


@pytest.mark.parametrize("fmt,subtype", [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS"), ("OGG", "OPUS")])
def test_lossy_files_with_every_preset(tmp_path, fmt, subtype):
    rate = 24000 if subtype == "OPUS" else RATE  # Opus runs at 8/12/16/24/48 kHz
    path = tmp_path / f"in.{fmt.lower()}"
    sf.write(path, music(), rate, format=fmt, subtype=subtype)
    reference = sf.read(path, dtype="float32")[0]
    # lossy decoders are float: the reference is what soundfile decodes, sample for sample
    check_every_preset(encode_all(path, tmp_path), reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_arrays_with_every_preset(tmp_path, dtype):
    x = music(seed=3).astype(dtype)
    check_every_preset(encode_all(x, tmp_path, samplerate=RATE), x)


def test_float32_mix_with_float_stems_every_preset(tmp_path):
    a = (music(seed=4) * 0.5).astype(np.float32)
    b = (music(seed=5)[::-1] * 0.4).astype(np.float32)
    mix = np.tanh(a.astype(np.float64) + b).astype(np.float32)  # a mastered mix: not the stems' sum
    results = encode_all(mix, tmp_path, stems={"a": a, "b": b}, samplerate=RATE)
    for preset in ("archival", "lossless"):
        report, decoded, info, _ = results[preset]
        assert np.array_equal(bits_of(decoded), bits_of(mix)), preset
        assert report.file_bytes < 0.8 * (mix.nbytes + a.nbytes + b.nbytes)
    # lossless: perceptual float32 stems, the exact residual by the float codec
    codecs = [s["codec"] for s in results["lossless"][0].streams]
    assert codecs == ["perceptual", "perceptual", "float"]
    with snc.open(tmp_path / "lossless.snc") as f:
        assert f.read(stem="a", dtype="native").dtype == np.float32
        assert snr_db(a, f.read(stem="a", dtype="native")) > 15
    for preset in ("transparent", "compact"):
        _, decoded, info, meta = results[preset]
        assert (info.sample_format, info.bits) == ("int", 24) and meta["source_format"]["sample_format"] == "float32"
        assert snr_db(mix, decoded / 2.0 ** 23) > MIN_SNR_DB[preset]


def test_samples_beyond_full_scale(tmp_path):
    x = music().astype(np.float32)
    assert np.abs(x).max() < 0.9
    x[1000:1010, 0] = 1.25  # decoded MP3 often overshoots 1.0
    x[2000, 1] = -1.5
    for preset in ("archival", "lossless"):  # kept exactly
        snc.encode(x, tmp_path / f"{preset}.snc", samplerate=RATE, preset=preset)
        with snc.open(tmp_path / f"{preset}.snc") as f:
            assert np.array_equal(bits_of(f.read(dtype="native")), bits_of(x))
    with pytest.warns(snc.SncWarning, match=r"mix: 11 samples beyond full scale \(peak 1.5, \+3.52 dBFS\) clipped "
                                            r"to 24-bit full scale"):
        snc.encode(x, tmp_path / "t.snc", samplerate=RATE, preset="transparent")


def test_input_wider_than_24_bits_near_full_scale(tmp_path):
    # 32-bit integers near full scale: the perceptual presets code them as 24-bit (a 32-bit residual of a mix
    # coded alone once overflowed, with a message about stems)
    x = np.clip(music(level=0.9) * 2 ** 31, -2 ** 31, 2 ** 31 - 1).astype(np.int32)
    x[:50] = 2 ** 31 - 1
    for preset in ("transparent", "compact"):
        snc.encode(x, tmp_path / f"{preset}.snc", samplerate=RATE, bits=32, preset=preset)
        with snc.open(tmp_path / f"{preset}.snc") as f:
            assert (f.info.sample_format, f.info.bits) == ("int", 24)
            assert f.metadata["source_format"] == {"sample_format": "int", "bits": 32}
            assert snr_db(x / 2.0 ** 31, f.read()) > MIN_SNR_DB[preset]
    snc.encode(x, tmp_path / "a.snc", samplerate=RATE, bits=32, preset="archival")
    with snc.open(tmp_path / "a.snc") as f:
        assert f.info.bits == 32 and np.array_equal(f.read(dtype="native"), x)


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_U8"), ("FLAC", "PCM_S8"), ("AIFF", "PCM_S8")])
def test_8_bit_files_with_every_preset(tmp_path, fmt, subtype):
    path = tmp_path / f"in.{fmt.lower()}"
    sf.write(path, music(level=0.5), RATE, format=fmt, subtype=subtype)
    reference = sf.read(path, dtype="int16")[0].astype(np.int32) >> 8
    results = encode_all(path, tmp_path)
    for preset in PRESETS:
        _, mix, info, _ = results[preset]
        assert (info.sample_format, info.bits) == ("int", 8)
        if preset in ("archival", "lossless"):
            assert np.array_equal(mix, reference)
        else:
            assert snr_db(reference.astype(np.float64), mix) > MIN_SNR_DB[preset]


def test_16_bit_content_in_a_float_wav_costs_what_the_16_bit_file_costs(tmp_path):
    pcm = music(3.0, seed=6)
    sf.write(tmp_path / "in16.wav", pcm, RATE, subtype="PCM_16")
    as_int = sf.read(tmp_path / "in16.wav", dtype="int16")[0]
    sf.write(tmp_path / "in32f.wav", as_int / 32768.0, RATE, subtype="FLOAT")
    for preset in ("archival", "lossless"):
        r16 = snc.encode(tmp_path / "in16.wav", tmp_path / f"a16-{preset}.snc", preset=preset)
        rf = snc.encode(tmp_path / "in32f.wav", tmp_path / f"af-{preset}.snc", preset=preset)
        assert rf.file_bytes <= 1.02 * r16.file_bytes + 200, (preset, rf.file_bytes, r16.file_bytes)
        with snc.open(tmp_path / f"af-{preset}.snc") as f:
            assert np.array_equal(f.read(dtype="native"), (as_int / 32768.0).astype(np.float32))


@pytest.mark.parametrize("stem_rate,stem_channels,match", [
    (44100, 2, r"stem 'bass' is 44100 Hz, the mix 22050 Hz: resample it first, e\.g\. `sox \S+bass\.wav -r 22050 "
               r"bass-22050\.wav`"),
    (22050, 1, r"stem 'bass' has 1 channels, the mix 2: convert it first, e\.g\. `sox \S+bass\.wav "
               r"bass-2ch\.wav remix 1 1`"),
])
def test_stem_of_another_rate_or_channel_count(tmp_path, stem_rate, stem_channels, match):
    sf.write(tmp_path / "mix.wav", music(), RATE, subtype="PCM_16")
    sf.write(tmp_path / "bass.wav", music(channels=stem_channels)[: RATE // 2], stem_rate, subtype="PCM_16")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(snc.InputError, match=match):
        snc.encode(tmp_path / "mix.wav", tmp_path / "o.snc", stems={"bass": tmp_path / "bass.wav"},
                   preset="archival")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_verify_accepts_float_input_to_a_perceptual_preset(tmp_path):
    x = music(seed=7).astype(np.float32)
    report = snc.encode(x, io.BytesIO(), samplerate=RATE, preset="compact")
    path = tmp_path / "v.snc"
    report = snc.encode(x, path, samplerate=RATE, preset="transparent", verify=True)
    assert report.verified


def test_negative_zero_of_a_float_mix_is_kept_by_its_stream_and_warned_about(tmp_path):
    x = music().astype(np.float32)
    x[100:103, 0] = -0.0
    with pytest.warns(snc.SncWarning, match=r"mix: 3 samples are -0\.0, which the exact mix gives back as \+0\.0"):
        snc.encode(x, tmp_path / "z.snc", samplerate=RATE, preset="archival")
    with snc.open(tmp_path / "z.snc") as f:
        mix, stream = f.read(dtype="native"), f.read(stem="mix", dtype="native")
    assert np.array_equal(bits_of(stream), bits_of(x))
    assert np.array_equal(mix, x) and not np.signbit(mix[100:103, 0]).any()


def test_lossless_preset_float_residual_bounds(tmp_path):
    """The float64 residual keeps a float32 mix exact unless the stems' sum is ~2^29 times louder than the mix
    at a sample (docs/float-input.md): tiny mix samples where the stems are silent are fine, one where they
    are loud is refused, and no file is left."""
    a = music(seed=8).astype(np.float32)
    a[:2000] = 0.0  # silent stem: a perceptual packet of silence decodes to zeros
    mix = (a.astype(np.float64) * 0.9).astype(np.float32)
    mix[100:110, 0] = np.float32(1e-30)
    mix[200, 1] = np.float32(-1e-45)
    snc.encode(mix, tmp_path / "ok.snc", stems={"a": a}, samplerate=RATE, preset="lossless")
    with snc.open(tmp_path / "ok.snc") as f:
        assert np.array_equal(bits_of(f.read(dtype="native")), bits_of(mix))
    loud = int(np.argmax(np.abs(a[:, 0])))
    mix[loud, 0] = np.float32(1e-12)
    with pytest.raises(snc.InputError, match="cancel too much"):
        snc.encode(mix, tmp_path / "bad.snc", stems={"a": a}, samplerate=RATE, preset="lossless")
    assert not (tmp_path / "bad.snc").exists()


def test_mutated_packets_fail_cleanly():
    """Flipped bits and cut packets: a CodecError or a block of the right shape, never another exception."""
    rng = np.random.default_rng(9)
    x = music(0.1).astype(np.float32)
    x[::50, 1] = -0.0
    x[:300:3, 0] = 0.0  # zstd side bits in one packet
    codecs = [FloatCodec(format="float32", channels=2), FloatCodec(format="float64", channels=2)]
    packets = [codecs[0].encode(x), codecs[0].encode(x[:300]), codecs[1].encode(x.astype(np.float64) * 1.1)]
    for codec, good, frames in zip([codecs[0], codecs[0], codecs[1]], packets, [len(x), 300, len(x)]):
        for _ in range(150):
            bad = bytearray(good)
            for pos in rng.integers(0, len(bad), rng.integers(1, 4)):
                bad[pos] ^= 1 << int(rng.integers(0, 8))
            if rng.random() < 0.2:
                bad = bad[: rng.integers(0, len(bad))]
            try:
                y = codec.decode(bytes(bad), frames)
            except CodecError:
                continue
            assert y.shape == (frames, 2) and np.isfinite(y).all()


def reference_pack(values, widths) -> bytes:
    """Bit by bit: the plainest reading of spec/codec-float.md section 4."""
    bits = "".join(format(int(v), f"0{w}b")[-w:] if w else "" for v, w in zip(values, widths))
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def test_word_level_bit_packing_equals_the_bitwise_reference():
    from snc.codecs.floating import _BitReader, pack_fields

    rng = np.random.default_rng(10)
    for _ in range(20):
        widths = rng.integers(0, 65, int(rng.integers(0, 300)))
        widths[rng.random(widths.size) < 0.2] = 0
        values = np.array([int(rng.integers(0, 2 ** 63)) * 2 + int(rng.integers(0, 2)) for _ in widths],
                          dtype=np.uint64)
        values &= np.array([(1 << int(w)) - 1 if w < 64 else (1 << 64) - 1 for w in widths], dtype=np.uint64)
        packed = pack_fields(values, widths)
        assert packed == reference_pack(values, widths)
        reader = _BitReader(packed)
        half = len(widths) // 2
        second = int(widths[:half].sum())
        got = np.concatenate([reader.read(0, widths[:half]), reader.read(second, widths[half:])])
        reader.finish(int(widths.sum()))
        assert np.array_equal(got, values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decoding_in_chunks_gives_the_same_samples(monkeypatch, dtype):
    import snc.codecs.floating as floating

    x = np.concatenate([finite_random_floats(dtype, (1500, 2), seed=11), music(0.2).astype(dtype),
                        np.zeros((900, 2), dtype), (music(0.1) * 1e-3).astype(np.float32).astype(dtype)])
    x[3000:3100:7, 1] = -0.0
    codec = FloatCodec(format=np.dtype(dtype).name, channels=2)
    packets = [codec.encode(x), codec.encode(x[1500:])]  # explicit or derived widths, raw and zstd side bits
    monkeypatch.setattr(floating, "DECODE_CHUNK", 997)  # chunk edges inside every kind of section
    for packet, block in zip(packets, (x, x[1500:])):
        assert np.array_equal(bits_of(codec.decode(packet, len(block))), bits_of(block))
