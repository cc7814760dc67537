"""Writing decoded audio (snc.signal.audio_out): WAV bytes, channel masks, tags, stdout, clear errors."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from snc.errors import InputError, SncError, SncWarning
from snc.signal import audio_out, wav
from snc.signal.audio_io import AudioFormat, write_audio
from snc.signal.audio_out import stem_tags

ROOT = Path(__file__).resolve().parents[2]
VECTOR_8BIT = ROOT / "spec" / "vectors" / "uncommon" / "eight-channels-8bit.snc"
TAGS = {"title": "Ünïcödé — 測試", "artist": "Someone", "album": "An Album", "date": "2024",
        "genre": "Test", "comment": "a comment", "tracknumber": "3"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _chunks(data: bytes) -> dict[bytes, tuple[int, bytes]]:
    """RIFF/RF64 chunks of a WAV: id -> (declared size, body as far as present)."""
    assert data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE"
    out, pos = {}, 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        out[cid] = (size, data[pos + 8:pos + 8 + size])
        if cid == b"data":
            break
        pos += 8 + size + size % 2
    return out


def _fmt(data: bytes) -> dict:
    body = _chunks(data)[b"fmt "][1]
    tag, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", body[:16])
    out = {"tag": tag, "channels": channels, "rate": rate, "byte_rate": byte_rate, "align": align, "bits": bits}
    if tag == 0xFFFE:
        cb, valid, mask = struct.unpack("<HHI", body[16:24])
        out.update(cb=cb, valid=valid, mask=mask, sub=struct.unpack("<I", body[24:28])[0], guid_tail=body[28:40])
    return out


def _info(data: bytes) -> dict[bytes, str]:
    chunk = _chunks(data).get(b"LIST")
    assert chunk is not None and chunk[1][:4] == b"INFO"
    body, out, pos = chunk[1], {}, 4
    while pos < len(body):
        cid, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        out[cid] = body[pos + 8:pos + 8 + size].rstrip(b"\x00").decode("utf-8")
        pos += 8 + size + size % 2
    return out


def _signal(fmt: AudioFormat, frames: int = 1001, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if fmt.sample_format == "int":
        lo, hi = -(1 << (fmt.bits - 1)), 1 << (fmt.bits - 1)
        x = rng.integers(lo, hi, size=(frames, fmt.channels)).astype(np.int32)
        x[0], x[1] = lo, hi - 1  # the extremes must survive
        return x
    return rng.uniform(-1, 1, size=(frames, fmt.channels)).astype(fmt.sample_format)


def _read_native(path_or_file, fmt: AudioFormat) -> np.ndarray:
    if fmt.sample_format == "int":
        return sf.read(path_or_file, dtype="int32", always_2d=True)[0] >> (32 - fmt.bits)
    return sf.read(path_or_file, dtype=fmt.sample_format, always_2d=True)[0]


class _Counting:
    """An iterable of blocks that records whether anyone took a block."""

    def __init__(self, blocks):
        self.blocks, self.taken = list(blocks), 0

    def __iter__(self):
        for b in self.blocks:
            self.taken += 1
            yield b


# ---------------------------------------------------------------------------------------------
# WAV: exact samples and header bytes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sample_format,bits", [("int", 8), ("int", 12), ("int", 16), ("int", 20), ("int", 24),
                                                ("int", 32), ("float32", 32), ("float64", 64)])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_wav_samples_identical_through_soundfile(tmp_path, sample_format, bits, channels):
    fmt = AudioFormat(44100, channels, sample_format, bits)
    x = _signal(fmt)
    path = tmp_path / "x.wav"
    assert write_audio(path, [x[:300], x[300:]], fmt) == len(x)
    assert np.array_equal(_read_native(path, fmt), x)
    data = path.read_bytes()
    h = _fmt(data)
    container = -(-bits // 8) * 8 if sample_format == "int" else bits
    assert (h["channels"], h["rate"], h["bits"], h["align"]) == (channels, 44100, container, channels * container // 8)
    plain = sample_format == "int" and bits in (8, 16) and channels <= 2
    assert h["tag"] == (1 if plain else 0xFFFE)
    if not plain:
        assert (h["cb"], h["valid"]) == (22, bits)
        assert h["sub"] == (1 if sample_format == "int" else 3)
        assert h["guid_tail"] == bytes.fromhex("000010008000 00aa00389b71".replace(" ", ""))
        assert struct.unpack("<I", _chunks(data)[b"fact"][1])[0] == len(x)
    size, body = _chunks(data)[b"data"]
    assert size == len(x) * h["align"] and len(body) == size
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8


@pytest.mark.parametrize("ext", ["flac", "aiff", "caf", "w64"])
@pytest.mark.parametrize("sample_format,bits", [("int", 8), ("int", 16), ("int", 24), ("float32", 32)])
def test_other_exact_formats_identical(tmp_path, ext, sample_format, bits):
    if ext == "flac" and sample_format != "int":
        pytest.skip("FLAC has no float samples (refusal tested below)")
    fmt = AudioFormat(44100, 2, sample_format, bits)
    x = _signal(fmt)
    write_audio(tmp_path / f"x.{ext}", (x[i:i + 400] for i in range(0, len(x), 400)), fmt)
    assert np.array_equal(_read_native(tmp_path / f"x.{ext}", fmt), x)


def test_eight_bit_wav_is_unsigned(tmp_path):
    fmt = AudioFormat(8000, 1, "int", 8)
    x = np.array([[-128], [-1], [0], [1], [127]], dtype=np.int32)
    write_audio(tmp_path / "u8.wav", x, fmt)
    data = (tmp_path / "u8.wav").read_bytes()
    assert _chunks(data)[b"data"][1] == bytes([0, 127, 128, 129, 255])
    assert sf.info(str(tmp_path / "u8.wav")).subtype == "PCM_U8"


def test_odd_data_length_is_padded(tmp_path):
    fmt = AudioFormat(8000, 1, "int", 8)
    write_audio(tmp_path / "odd.wav", np.zeros((3, 1), np.int32), fmt)
    data = (tmp_path / "odd.wav").read_bytes()
    assert _chunks(data)[b"data"][0] == 3 and len(data) % 2 == 0
    assert len(sf.read(tmp_path / "odd.wav")[0]) == 3


# ---------------------------------------------------------------------------------------------
# Channel masks and order
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout,channels,mask,order", [
    ("stereo", 2, 0x3, [0, 1]),
    ("binaural", 2, 0x3, [0, 1]),
    ("5.1", 6, 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x400, [0, 1, 2, 3, 4, 5]),
    # FL FR FC LFE BL BR SL SR: the side pair (Lss Rss) comes after the back pair (Lrs Rrs) in a WAV
    ("7.1", 8, 0x63F, [0, 1, 2, 3, 6, 7, 4, 5]),
    ("7.1.4", 12, 0x63F | 0x1000 | 0x4000 | 0x8000 | 0x20000, [0, 1, 2, 3, 6, 7, 4, 5, 8, 9, 10, 11]),
    (None, 1, 0x4, [0]),
    (None, 6, 0, [0, 1, 2, 3, 4, 5]),
    (None, 12, 0, list(range(12))),
])
def test_channel_mask_and_order(tmp_path, layout, channels, mask, order):
    fmt = AudioFormat(48000, channels, "int", 24)
    x = np.tile(np.arange(channels, dtype=np.int32) * 1000, (64, 1))  # channel i holds 1000 * i
    path = tmp_path / "m.wav"
    write_audio(path, x, fmt, layout=layout)
    h = _fmt(path.read_bytes())
    assert h["tag"] == 0xFFFE and h["mask"] == mask
    assert list(_read_native(path, fmt)[0] // 1000) == order


def test_every_renderer_layout_has_distinct_speakers():
    from snc.signal.layouts import SPATIAL_LAYOUTS, channel_names

    for layout in SPATIAL_LAYOUTS:
        channels = len(channel_names(layout))
        assert audio_out.channel_mask(layout, channels).bit_count() == channels, layout


def test_a_layout_channel_without_a_speaker_is_a_clear_error(monkeypatch):
    from snc.signal import layouts

    monkeypatch.setitem(layouts.LAYOUTS, "odd", [("L", 30, 0), ("Zz", 0, 90)])
    monkeypatch.setattr(layouts, "SPATIAL_LAYOUTS", (*layouts.SPATIAL_LAYOUTS, "odd"))
    with pytest.raises(InputError, match="layout odd: no WAVE speaker for channel"):
        audio_out.channel_mask("odd", 2)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (ffmpeg) not installed; the header bytes "
                    "are checked without it in test_channel_mask_and_order")
@pytest.mark.parametrize("layout,expected", [("5.1", "5.1(side)"), ("7.1", "7.1"),
                                             ("7.1.4", ("7.1.4", "FL+FR+FC+LFE+BL+BR+SL+SR+TFL+TFR+TBL+TBR"))])
def test_ffprobe_names_the_layout(tmp_path, layout, expected):
    channels = {"5.1": 6, "7.1": 8, "7.1.4": 12}[layout]
    path = tmp_path / "l.wav"
    write_audio(path, np.zeros((480, channels), np.int32), AudioFormat(48000, channels, "int", 16), layout=layout)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=channel_layout", "-of",
                          "default=nw=1:nk=1", str(path)], capture_output=True, text=True, check=True).stdout
    assert any(e in out for e in ((expected,) if isinstance(expected, str) else expected)), out


def test_flac_gets_the_same_channel_order(tmp_path):
    fmt = AudioFormat(48000, 8, "int", 16)
    x = np.tile(np.arange(8, dtype=np.int32) * 1000, (64, 1))
    write_audio(tmp_path / "m.flac", x, fmt, layout="7.1")
    assert list(_read_native(tmp_path / "m.flac", fmt)[0] // 1000) == [0, 1, 2, 3, 6, 7, 4, 5]


# ---------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "opus", "caf"])
def test_tags_round_trip(tmp_path, ext):
    fmt = AudioFormat(48000, 2, "int", 16)
    path = tmp_path / f"t.{ext}"
    write_audio(path, _signal(fmt, 4800), fmt, tags=TAGS)
    with sf.SoundFile(path) as f:
        assert {k: getattr(f, k) for k in TAGS} == TAGS


def test_wav_info_chunk_bytes(tmp_path):
    fmt = AudioFormat(44100, 2, "int", 16)
    write_audio(tmp_path / "t.wav", np.zeros((10, 2), np.int32), fmt, tags={**TAGS, "copyright": "(c) me"})
    assert _info((tmp_path / "t.wav").read_bytes()) == {
        b"INAM": TAGS["title"], b"IART": "Someone", b"IPRD": "An Album", b"ICRD": "2024", b"IGNR": "Test",
        b"ICMT": "a comment", b"ITRK": "3", b"ICOP": "(c) me"}


def test_tags_a_format_cannot_hold_are_named_in_one_warning(tmp_path):
    fmt = AudioFormat(44100, 2, "int", 16)
    with pytest.warns(SncWarning, match=r"cannot hold the tag\(s\) composer, license; not written"):
        write_audio(tmp_path / "t.wav", np.zeros((10, 2), np.int32), fmt,
                    tags={"title": "T", "license": "CC-BY", "composer": "C"})
    assert sf.SoundFile(tmp_path / "t.wav").title == "T"


def test_mp3_keeps_ascii_tags_and_drops_the_rest(tmp_path):
    fmt = AudioFormat(44100, 2, "int", 16)
    with pytest.warns(SncWarning, match="title"):
        write_audio(tmp_path / "t.mp3", _signal(fmt, 4410), fmt, tags={"title": "Ünï", "artist": "Someone"})
    with sf.SoundFile(tmp_path / "t.mp3") as f:
        assert (f.title, f.artist) == ("", "Someone")


def test_no_tags_no_list_chunk(tmp_path):
    write_audio(tmp_path / "t.wav", np.zeros((10, 2), np.int32), AudioFormat(44100, 2, "int", 16))
    assert b"LIST" not in _chunks((tmp_path / "t.wav").read_bytes())


def test_stem_tags_mark_the_title():
    assert stem_tags({"title": "Song", "artist": "A"}, "vocals") == {"title": "Song (vocals)", "artist": "A"}
    assert stem_tags({"artist": "A"}, "vocals") == {"artist": "A"}


# ---------------------------------------------------------------------------------------------
# Lossy outputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext,rate", [("ogg", 44100), ("opus", 48000), ("mp3", 44100)])
def test_lossy_outputs_carry_the_signal(tmp_path, ext, rate):
    t = np.arange(rate) / rate
    x = np.round(np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1) * 16000).astype(np.int32)
    path = tmp_path / f"s.{ext}"
    write_audio(path, x, AudioFormat(rate, 2, "int", 16))
    y, got_rate = sf.read(path, dtype="float64")
    assert got_rate == rate and y.shape[1] == 2
    n = min(len(y), len(x)) - 4000
    ref = x[:n] / 32768.0
    for ch in range(2):  # each channel correlates with its own tone at the codec's delay
        size = 2 * len(y)
        xc = np.fft.irfft(np.fft.rfft(y[:, ch], size) * np.conj(np.fft.rfft(ref[:, ch], size)), size)
        lag = int(np.argmax(xc[:4000]))
        assert np.corrcoef(ref[:, ch], y[lag:lag + n, ch])[0, 1] > 0.95


@pytest.mark.parametrize("ext", ["ogg", "opus"])
@pytest.mark.parametrize("layout,vorbis_order", [("5.1", [0, 2, 1, 4, 5, 3]), ("7.1", [0, 2, 1, 4, 5, 6, 7, 3])])
def test_ogg_multichannel_is_written_in_the_vorbis_order(tmp_path, ext, layout, vorbis_order):
    channels, rate = len(vorbis_order), 48000
    freqs = 300.0 + 150.0 * np.arange(channels)  # channel i of the renderer's order carries tone i
    freqs[3] = 60.0  # the LFE: encoders low-pass it
    t = np.arange(rate) / rate
    x = np.round(np.sin(2 * np.pi * freqs * t[:, None]) * 8000).astype(np.int32)
    path = tmp_path / f"m.{ext}"
    write_audio(path, x, AudioFormat(rate, channels, "int", 16), layout=layout)
    y = sf.read(path, always_2d=True)[0]
    peaks = np.argmax(np.abs(np.fft.rfft(y[:rate], axis=0)), axis=0)  # 1 Hz bins
    assert list(peaks) == [int(freqs[i]) for i in vorbis_order]


# ---------------------------------------------------------------------------------------------
# Clear errors, before any work, nothing left behind
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,fmt,layout,message", [
    ("x.flac", AudioFormat(48000, 12, "int", 16), "7.1.4",
     "FLAC holds at most 8 channels; layout 7.1.4 has 12: write .wav"),
    ("x.flac", AudioFormat(48000, 10, "int", 16), None, "FLAC holds at most 8 channels; the audio has 10: write .wav"),
    ("x.flac", AudioFormat(48000, 2, "float32", 32), None,
     "FLAC holds integer samples only; the audio is float32: write .wav"),
    ("x.flac", AudioFormat(48000, 2, "int", 32), None,
     "FLAC holds at most 24-bit samples; the audio is 32-bit: write .wav"),
    ("x.opus", AudioFormat(44100, 2, "int", 16), None,
     "Opus holds 8, 12, 16, 24, 48 kHz audio; this is 44.1 kHz: write .ogg, .flac or .wav"),
    ("x.mp3", AudioFormat(96000, 2, "int", 24), None, "MP3 holds 8, 11.025, 12, 16, 22.05, 24, 32, 44.1, 48 kHz"),
    ("x.mp3", AudioFormat(48000, 6, "int", 16), "5.1",
     "MP3 holds at most 2 channels; layout 5.1 has 6: write .wav or .flac"),
    ("x.ogg", AudioFormat(48000, 12, "int", 16), "7.1.4",
     "Ogg Vorbis holds mono, stereo, 5.1 or 7.1; layout 7.1.4 has 12 channels: write .wav"),
    ("x.opus", AudioFormat(48000, 6, "int", 16), None,
     "Opus holds mono, stereo, 5.1 or 7.1; the audio has 6 channels and no layout: write .wav or .flac"),
    ("x.ogg", AudioFormat(48000, 6, "int", 16), "quad", "unknown layout 'quad'"),
    ("x.mp4", AudioFormat(48000, 2, "int", 16), None, "extension .mp4; audio outputs are .wav, .flac"),
    ("noext", AudioFormat(48000, 2, "int", 16), None, "no extension; audio outputs are .wav, .flac"),
    ("x.wav", AudioFormat(48000, 2, "int", 16), "5.1", "layout 5.1 has 6 channels, the audio 2"),
    ("x.wav", AudioFormat(48000, 2, "int", 16), "quad", "unknown layout 'quad'"),
])
def test_impossible_outputs_fail_before_any_work(tmp_path, name, fmt, layout, message):
    blocks = _Counting([np.zeros((16, fmt.channels), np.int32)])
    with pytest.raises(InputError, match=None) as err:
        write_audio(tmp_path / name, blocks, fmt, layout=layout)
    assert message in str(err.value) and "\n" not in str(err.value) and ".part" not in str(err.value)
    assert blocks.taken == 0 and os.listdir(tmp_path) == []


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    target = tmp_path / "x.wav"
    target.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        write_audio(target, np.zeros((4, 2), np.int32), AudioFormat(44100, 2, "int", 16), overwrite=False)
    assert target.read_bytes() == b"keep me" and os.listdir(tmp_path) == ["x.wav"]


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_failure_half_way_leaves_no_file(tmp_path, ext):
    fmt = AudioFormat(44100, 2, "int", 16)

    def blocks():
        yield np.zeros((100, 2), np.int32)
        raise SncError("packet 3: CRC mismatch")

    with pytest.raises(SncError, match="CRC"):
        write_audio(tmp_path / f"x.{ext}", blocks(), fmt)
    assert os.listdir(tmp_path) == []


def test_bad_block_error_names_no_temp_file(tmp_path):
    fmt = AudioFormat(44100, 2, "int", 16)
    with pytest.raises(InputError) as err:
        write_audio(tmp_path / "x.flac", [np.zeros((10, 2), np.int32), np.zeros((10, 3), np.int32)], fmt)
    assert "3)" in str(err.value) and ".part" not in str(err.value)
    assert os.listdir(tmp_path) == []


def test_out_of_range_samples_are_refused_not_wrapped(tmp_path):
    with pytest.raises(InputError, match="16-bit range"):
        write_audio(tmp_path / "x.wav", np.array([[40000, 0]], np.int32), AudioFormat(44100, 2, "int", 16))
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# RF64 past the RIFF limit
# ---------------------------------------------------------------------------------------------
def test_rf64_when_data_outgrows_riff_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(wav, "RIFF_LIMIT", 1000)  # stands in for 4 GiB
    fmt = AudioFormat(44100, 6, "int", 24)
    x = _signal(fmt, 500)
    write_audio(tmp_path / "big.wav", x, fmt, layout="5.1")
    data = (tmp_path / "big.wav").read_bytes()
    assert data[:4] == b"RF64" and data[4:8] == b"\xff\xff\xff\xff"
    chunks = _chunks(data)
    riff, data_size, frames, table = struct.unpack("<QQQI", chunks[b"ds64"][1])
    assert (riff, data_size, frames, table) == (len(data) - 8, 500 * 18, 500, 0)
    assert chunks[b"data"][0] == 0xFFFFFFFF
    assert np.array_equal(_read_native(tmp_path / "big.wav", fmt), x)


def test_small_file_keeps_a_junk_chunk_for_rf64(tmp_path):
    write_audio(tmp_path / "s.wav", np.zeros((4, 2), np.int32), AudioFormat(44100, 2, "int", 16))
    data = (tmp_path / "s.wav").read_bytes()
    assert data[:4] == b"RIFF" and data[12:16] == b"JUNK"


# ---------------------------------------------------------------------------------------------
# stdout
# ---------------------------------------------------------------------------------------------
_WRITER = """
import sys, numpy as np
from snc.signal.audio_io import AudioFormat, write_audio
fmt = AudioFormat(48000, 6, "int", 24)
x = np.random.default_rng(1).integers(-(1 << 23), 1 << 23, size=(5000, 6)).astype(np.int32)
np.save(sys.argv[1], x)
write_audio("-", (x[i:i + 1000] for i in range(0, 5000, 1000)), fmt, layout="5.1", tags={"title": "Piped"})
"""


def _run_writer(tmp_path, stdout):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "x.npy")], stdout=stdout,
                          stderr=subprocess.PIPE, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc, np.load(tmp_path / "x.npy")


def test_stdout_pipe_is_a_readable_wav_stream(tmp_path):
    proc, x = _run_writer(tmp_path, subprocess.PIPE)
    data = proc.stdout
    assert data[:4] == b"RIFF" and data[4:8] == b"\xff\xff\xff\xff"  # unknown length, like ffmpeg on a pipe
    assert _chunks(data)[b"data"][0] == 0xFFFFFFFF and _fmt(data)["mask"] == 0x60F
    assert _info(data) == {b"INAM": "Piped"}
    assert np.array_equal(sf.read(io.BytesIO(data), dtype="int32")[0] >> 8, x)


def test_stdout_redirected_to_a_file_gets_true_sizes(tmp_path):
    with open(tmp_path / "out.wav", "wb") as out:
        _, x = _run_writer(tmp_path, out)
    data = (tmp_path / "out.wav").read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert _chunks(data)[b"data"][0] == 5000 * 18
    assert np.array_equal(sf.read(tmp_path / "out.wav", dtype="int32")[0] >> 8, x)


def test_stdout_appending_to_a_file_does_not_seek(tmp_path):
    (tmp_path / "log.wav").write_bytes(b"")
    with open(tmp_path / "log.wav", "ab") as out:
        _, x = _run_writer(tmp_path, out)
    data = (tmp_path / "log.wav").read_bytes()
    assert data[4:8] == b"\xff\xff\xff\xff" and _chunks(data)[b"data"][0] == 0xFFFFFFFF
    assert np.array_equal(sf.read(tmp_path / "log.wav", dtype="int32")[0] >> 8, x)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_full_disk_is_one_clear_error(tmp_path):
    with open("/dev/full", "wb") as out:
        proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "x.npy")], stdout=out,
                              stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                              check=False)
    assert proc.returncode != 0
    assert b"InputError: cannot write to stdout: No space left on device" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_stdout_terminal_is_refused(tmp_path):
    master, slave = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "x.npy")], stdout=slave,
                              stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                              check=False)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode != 0 and b"refusing to write audio to a terminal" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Through snc-decode
# ---------------------------------------------------------------------------------------------
def test_eight_bit_vector_decodes_to_wav(tmp_path):
    from snc.cli import decode
    from snc.render.file import SncFile

    out = tmp_path / "e.wav"
    assert decode.main([str(VECTOR_8BIT), "-o", str(out)]) == 0
    with SncFile(VECTOR_8BIT) as f:
        expected = np.concatenate(list(f.blocks(dtype="native")))
    h = _fmt(out.read_bytes())
    assert (h["tag"], h["bits"], h["valid"], h["channels"], h["mask"]) == (0xFFFE, 8, 8, 8, 0)
    assert sf.info(str(out)).subtype == "PCM_U8"
    assert np.array_equal(sf.read(out, dtype="int32")[0] >> 24, expected)


@pytest.fixture(scope="module")
def tagged_snc(tmp_path_factory):
    from conftest import random_multitrack

    import snc

    mix, stems = random_multitrack(7, frames=4000, stems=2)
    path = tmp_path_factory.mktemp("tagged") / "song.snc"
    snc.encode(mix, path, stems=dict(zip(["vocals", "drums"], stems.values())), samplerate=48000, bits=16,
               preset="archival", tags={"title": "Song", "artist": "Band", "album": "LP", "isrc": "XX0000000000"})
    return path, mix


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_decode_writes_the_files_tags(tmp_path, tagged_snc, ext, capsys):
    from snc.cli import decode

    path, mix = tagged_snc
    out = tmp_path / f"song.{ext}"
    assert decode.main([str(path), "-o", str(out)]) == 0
    assert "isrc" in capsys.readouterr().err  # the key neither format holds is named, once
    with sf.SoundFile(out) as f:
        assert (f.title, f.artist, f.album) == ("Song", "Band", "LP")
    assert np.array_equal(sf.read(out, dtype="int16")[0], mix)


def test_decode_stems_carry_the_tags_with_the_stem_in_the_title(tmp_path, tagged_snc):
    from snc.cli import decode

    path, _ = tagged_snc
    assert decode.main([str(path), "--stems-dir", str(tmp_path / "stems")]) == 0
    for stem in ("vocals", "drums"):
        with sf.SoundFile(tmp_path / "stems" / f"{stem}.wav") as f:
            assert (f.title, f.artist) == (f"Song ({stem})", "Band")


def test_decode_layout_writes_the_channel_mask(tmp_path, tagged_snc):
    from snc.cli import decode

    path, _ = tagged_snc
    out = tmp_path / "s71.wav"
    assert decode.main([str(path), "-o", str(out), "--layout", "7.1"]) == 0
    data = out.read_bytes()
    assert _fmt(data)["mask"] == 0x63F and _fmt(data)["channels"] == 8
    assert sf.SoundFile(out).title == "Song"


def test_decode_layout_too_wide_for_flac_is_one_line(tmp_path, tagged_snc, capsys):
    from snc.cli import decode

    path, _ = tagged_snc
    assert decode.main([str(path), "-o", str(tmp_path / "x.flac"), "--layout", "7.1.4"]) == 1
    err = capsys.readouterr().err
    assert err == "snc-decode: error: FLAC holds at most 8 channels; layout 7.1.4 has 12: write .wav\n"
    assert os.listdir(tmp_path) == []
