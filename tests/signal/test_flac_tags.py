"""The Vorbis comments of FLAC input, which libsndfile does not expose (BPM, INITIALKEY, ISRC, LYRICS): read
from the metadata blocks, and an encode of such a file fills META ``music`` from them."""

from __future__ import annotations

import numpy as np
import soundfile as sf

import snc
from snc.signal.audio_io import AudioSource
from snc.signal.flac_tags import read_vorbis_comments

RATE = 8000


def _vorbis_block(entries: list[str]) -> bytes:
    def u32(n: int) -> bytes:
        return n.to_bytes(4, "little")

    vendor = b"test"
    body = u32(len(vendor)) + vendor + u32(len(entries))
    for entry in entries:
        body += u32(len(entry.encode())) + entry.encode()
    return body


def write_tagged_flac(path, audio: np.ndarray, entries: list[str], prefix: bytes = b"") -> None:
    """A FLAC file from soundfile with its VORBIS_COMMENT block replaced by ``entries`` (``NAME=value``)."""
    sf.write(path, audio, RATE, format="FLAC")
    data = path.read_bytes()
    assert data[:4] == b"fLaC"
    pos, blocks = 4, []
    while True:
        kind, length, last = data[pos] & 0x7F, int.from_bytes(data[pos + 1:pos + 4], "big"), data[pos] & 0x80
        if kind != 4:
            blocks.append((kind, data[pos + 4:pos + 4 + length]))
        pos += 4 + length
        if last:
            break
    blocks.append((4, _vorbis_block(entries)))
    out = b"fLaC"
    for k, (kind, body) in enumerate(blocks):
        out += bytes([kind | (0x80 if k == len(blocks) - 1 else 0)]) + len(body).to_bytes(3, "big") + body
    path.write_bytes(prefix + out + data[pos:])


def _audio() -> np.ndarray:
    return (np.random.default_rng(3).standard_normal((2000, 2)) * 1000).astype(np.int16)


def test_comments_are_read_with_lower_case_names(tmp_path):
    path = tmp_path / "a.flac"
    write_tagged_flac(path, _audio(), ["TITLE=Song", "BPM=128", "bpm=64", "INITIALKEY=F#m", "noequals",
                                       "LYRICS=line one\nline two"])
    assert read_vorbis_comments(path) == {"title": "Song", "bpm": "128", "initialkey": "F#m",
                                          "lyrics": "line one\nline two"}
    assert np.array_equal(sf.read(path, dtype="int16")[0], _audio())  # still a good FLAC file


def test_other_and_damaged_files_have_no_comments(tmp_path):
    sf.write(tmp_path / "a.wav", _audio(), RATE)
    assert read_vorbis_comments(tmp_path / "a.wav") == {}
    assert read_vorbis_comments(tmp_path / "missing.flac") == {}
    (tmp_path / "cut.flac").write_bytes(b"fLaC\x84\x00\x01\x00" + (5).to_bytes(4, "little") + b"ab")
    assert read_vorbis_comments(tmp_path / "cut.flac") == {}
    path = tmp_path / "id3.flac"  # an ID3v2 tag before the stream (syncsafe size 0x0101 = 129 bytes)
    write_tagged_flac(path, _audio(), ["ISRC=USRC17607839"], prefix=b"ID3\x03\x00\x00\x00\x00\x01\x01" + bytes(129))
    assert read_vorbis_comments(path) == {"isrc": "USRC17607839"}


def test_an_encode_takes_music_from_the_mix_tags(tmp_path):
    path = tmp_path / "mix.flac"
    write_tagged_flac(path, _audio(), ["TITLE=Song", "TBPM=97.5", "KEY=Bb major", "ISRC=US-RC1-76-07839",
                                       "UNSYNCEDLYRICS=la la"])
    src = AudioSource(str(path), name="mix")
    src.close()
    assert src.tags == {"title": "Song"}  # the copied tags stay libsndfile's
    snc.encode(str(path), tmp_path / "a.snc", preset="archival", separator="none")
    with snc.open(tmp_path / "a.snc") as f:
        assert f.music == {"bpm": 97.5, "key": "Bb", "isrc": "USRC17607839", "lyrics": "la la"}
        assert f.tags == {"title": "Song"}
    # what the caller gives wins; an invalid tag is not copied
    write_tagged_flac(path, _audio(), ["BPM=fast", "INITIALKEY=Dm"])
    snc.encode(str(path), tmp_path / "b.snc", preset="archival", separator="none", music={"key": "E"})
    with snc.open(tmp_path / "b.snc") as f:
        assert f.music == {"key": "E"}
