"""META ``music`` (spec snc-format.md 10.2): the writer's strict check and normalisation, the reader's leniency
(a broken member is dropped, the file still opens), and the members taken from an input file's tags."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

import snc
from snc.container.model import FileInfo, StreamInfo
from snc.container.music import checked_music, music_from_tags, read_music
from snc.container.writer import SncWriter
from snc.errors import InputError

GOOD = {"bpm": 128, "key": "F#m", "cues": [{"frame": 0, "label": "intro"}, {"frame": 44100, "label": "verse"}],
        "lyrics": "one\ntwo", "synced_lyrics": [{"frame": 10, "text": "one"}, {"frame": 20, "text": "two"}],
        "isrc": "USRC17607839"}


def test_good_music_is_stored_as_given():
    assert checked_music(GOOD) == GOOD
    assert checked_music(None) == {} and checked_music({}) == {}


@pytest.mark.parametrize("given,stored", [
    ({"bpm": 120.0}, {"bpm": 120}), ({"bpm": 93.5}, {"bpm": 93.5}), ({"bpm": 999}, {"bpm": 999}),
    ({"key": "f# minor"}, {"key": "F#m"}), ({"key": "Bb major"}, {"key": "Bb"}), ({"key": " Eb min "}, {"key": "Ebm"}),
    ({"key": "C\u266f"}, {"key": "C#"}), ({"key": "am"}, {"key": "Am"}),
    ({"isrc": "us-rc1-76-07839"}, {"isrc": "USRC17607839"}),
    ({"lyrics": "\r\nla\r\nla\r\n"}, {"lyrics": "la\nla"}),
    ({"cues": [(300, "b"), {"frame": 100, "label": "a"}, (300, "c")]},
     {"cues": [{"frame": 100, "label": "a"}, {"frame": 300, "label": "b"}, {"frame": 300, "label": "c"}]}),
    ({"lyrics": "", "cues": [], "synced_lyrics": [], "bpm": None}, {}),  # empty members are left out
])
def test_writer_normalises_what_users_give(given, stored):
    assert checked_music(given) == stored


@pytest.mark.parametrize("given,needle", [
    ({"bpm": 0}, "music bpm: must be a number in (0, 999]"), ({"bpm": 1000}, "(0, 999]"),
    ({"bpm": float("nan")}, "bpm"), ({"bpm": True}, "bpm"), ({"bpm": "120"}, "bpm"),
    ({"key": "H"}, "music key: must be a tonic A-G"), ({"key": "C#M"}, "key"), ({"key": "Cbb"}, "key"),
    ({"isrc": "USRC1760783"}, "music isrc: must be 12 characters"), ({"isrc": "USRC1A607839"}, "isrc"),
    ({"lyrics": 3}, "music lyrics: must be text"),
    ({"cues": [{"frame": -1, "label": "x"}]}, "frame must be a whole number >= 0"),
    ({"cues": [{"frame": 1.5, "label": "x"}]}, "frame must be a whole number"),
    ({"cues": [{"frame": 1}]}, "label must be text"),
    ({"cues": "intro"}, "music cues: must be an array"),
    ({"synced_lyrics": [{"frame": 1, "label": "x"}]}, "text must be text"),
    ({"tempo": 120}, "unknown music member 'tempo'"),
    ("120 bpm", "music must be a dict"),
])
def test_bad_music_is_one_line_naming_the_member(given, needle):
    with pytest.raises(InputError) as exc:
        checked_music(given)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_reader_drops_invalid_and_unknown_members_only():
    meta = {"music": {**GOOD, "bpm": -3, "key": "f# minor", "isrc": "us-rc1-76-07839", "mood": "happy",
                      "cues": [{"frame": 5, "label": "b"}, {"frame": 1, "label": "a"}],  # out of order
                      "synced_lyrics": [{"frame": 10, "text": "one", "singer": "x"}]}}
    assert read_music(meta) == {"lyrics": "one\ntwo", "synced_lyrics": [{"frame": 10, "text": "one"}]}
    assert read_music({"music": [1, 2]}) == {} and read_music({}) == {} and read_music({"music": None}) == {}


def test_members_from_tags_take_valid_values_only():
    tags = {"TBPM": "120.0", "INITIALKEY": "A minor", "ISRC": "GB-AAA-24-00001", "UNSYNCEDLYRICS": "la\nla",
            "title": "x"}
    assert music_from_tags(tags) == {"bpm": 120, "key": "Am", "isrc": "GBAAA2400001", "lyrics": "la\nla"}
    assert music_from_tags({"bpm": "fast", "key": "8A", "isrc": "nope", "lyrics": ""}) == {}
    assert music_from_tags({"bpm": "abc", "tbpm": "96"}) == {"bpm": 96}  # an invalid tag gives way to the next


def _file_with_meta(meta: dict) -> io.BytesIO:
    """A one-stream pcm file written by the container writer with ``meta`` as its META chunk."""
    info = FileInfo(8000, 0, 1, "int", 16, "archival", 64, 2)
    config = {"format": "int", "bits": 16, "channels": 1}
    streams = [StreamInfo("a", "other", 1, "pcm", config, index=0),
               StreamInfo("residual", "residual", 1, "pcm", config, index=1)]
    buf = io.BytesIO()
    with SncWriter(buf, info, streams, meta=meta) as writer:
        writer.write_segment(10, [bytes(20), bytes(20)])
        digest = hashlib.sha256(b"").digest()
        writer.close(digest, [digest, digest])
    buf.seek(0)
    return buf


def test_a_file_with_a_broken_member_opens_and_keeps_the_others():
    buf = _file_with_meta({"tags": {}, "music": {"bpm": "fast", "key": "Dm", "cues": [{"frame": "x"}],
                                                 "isrc": 12, "future": {"a": 1}}})
    with snc.open(buf) as f:
        assert f.music == {"key": "Dm"}
        assert f.describe()["music"] == {"key": "Dm"}
        assert np.array_equal(f.read(), np.zeros((10, 1), np.int16))
    with snc.open(_file_with_meta({"music": "not an object"})) as f:
        assert f.music == {}
