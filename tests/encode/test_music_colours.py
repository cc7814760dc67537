"""snc.encode's ``music`` and ``colours``: stored and read back, checked before any work, and absent from the
file when not given (files without them are written as before)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import snc
from snc.container.model import ROLE_COLOURS
from snc.encode import EncodeOptions
from snc.errors import InputError

RATE = 8000


def _stems():
    rng = np.random.default_rng(5)
    vocals = (rng.standard_normal((3000, 2)) * 1000).astype(np.int16)
    bass = (rng.standard_normal((3000, 2)) * 1000).astype(np.int16)
    return vocals.astype(np.int32) + bass, {"vocals": vocals, "bass": bass}


def _encode(**kwargs) -> bytes:
    mix, stems = _stems()
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="archival", **kwargs)
    return buf.getvalue()


def test_music_and_colours_round_trip():
    music = {"bpm": 120.0, "key": "d minor", "cues": [(1500, "drop"), (0, "intro")], "lyrics": "la\nla",
             "synced_lyrics": [{"frame": 0, "text": "la"}, {"frame": 1000, "text": "la"}], "isrc": "us-rc1-76-07839"}
    with snc.open(io.BytesIO(_encode(music=music, colours={"bass": "#A0B0C0"}))) as f:
        assert f.music == {"bpm": 120, "key": "Dm", "cues": [{"frame": 0, "label": "intro"},
                                                             {"frame": 1500, "label": "drop"}],
                           "lyrics": "la\nla", "synced_lyrics": music["synced_lyrics"], "isrc": "USRC17607839"}
        assert [s.colour for s in f.streams] == ["#e6194b", "#a0b0c0", ROLE_COLOURS["residual"]]
        assert f.describe()["music"] == f.music and f.metadata["music"] == f.music


def test_without_music_the_file_is_written_as_before():
    plain = _encode()
    assert _encode(music={}, colours={}) == plain and _encode(music={"lyrics": ""}) == plain
    with snc.open(io.BytesIO(plain)) as f:
        assert "music" not in f.metadata and f.music == {}
        assert [s.colour for s in f.streams] == ["#e6194b", "#4363d8", "#808080"]


def test_the_mix_alone_takes_a_colour_by_its_name():
    buf = io.BytesIO()
    snc.encode(np.zeros((500, 1), np.int16), buf, samplerate=RATE, preset="archival", colours={"mix": "#000000"})
    with snc.open(io.BytesIO(buf.getvalue())) as f:
        assert f.streams[0].colour == "#000000"


@pytest.mark.parametrize("kwargs, match", [
    (dict(colours={"bass": "red"}), "colour of 'bass' must be '#rrggbb'"),
    (dict(colours={"bass": "#12345"}), "must be '#rrggbb'"),
    (dict(colours={"bass": "#1234567"}), "must be '#rrggbb'"),
    (dict(colours=["#123456"]), "colours must be a dict"),
    (dict(music={"bpm": -1}), "music bpm: must be a number"),
    (dict(music={"cues": [{"frame": 1}]}), "music cues: label must be text"),
])
def test_bad_values_are_refused_before_any_work(kwargs, match):
    with pytest.raises(InputError, match=match):
        EncodeOptions(**kwargs)


def test_colours_must_name_a_stem(tmp_path):
    with pytest.raises(InputError, match=r"colours name no stem: 'drums' \(stems: vocals, bass\)"):
        _encode(colours={"drums": "#123456"})
    with pytest.raises(InputError, match="colours name no stem: 'residual'"):
        _encode(colours={"residual": "#123456"})
    EncodeOptions(colours={"mix": "#ffffff"}).check_stems([])
