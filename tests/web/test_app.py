"""snc-serve's API (issue 21) through Starlette's test client: the library, a song, audio spans of stems, the
mix, the residual and renders, waveforms, and what a client may not do."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import soundfile as sf

import snc

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx", reason="httpx (starlette's test client) is not installed")
from starlette.testclient import TestClient  # noqa: E402

from snc.web.app import create_app  # noqa: E402
from snc.web.library import song_id  # noqa: E402

RATE = 44100


def _write_song(path, title, seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    stems = {"vocals": np.sin(2 * np.pi * 440 * t) * 6000, "drums": rng.standard_normal(len(t)) * 2000,
             "bass": np.sin(2 * np.pi * 55 * t) * 8000}
    stems = {k: np.round(np.stack([v, v * 0.8], axis=1)).astype(np.int16) for k, v in stems.items()}
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    snc.encode(mix, path, stems=stems, samplerate=RATE, bits=16, preset="archival", tags={"title": title,
                                                                                            "artist": "Tester"})
    return mix, stems


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    (root / "album").mkdir()
    mix, stems = _write_song(root / "album" / "one.snc", "Song One")
    _write_song(root / "two.snc", "Song Two", seed=1)
    (root / "notes.txt").write_text("not a song")
    (root / ".hidden.snc").write_bytes(b"junk")
    (root / "broken.snc").write_bytes(b"not an snc file at all")
    outside = tmp_path_factory.mktemp("outside")
    _write_song(outside / "secret.snc", "Secret", seconds=0.5)
    os.symlink(outside / "secret.snc", root / "link.snc")
    client = TestClient(create_app(root), raise_server_exceptions=False)
    return client, mix, stems


def _wav(response):
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert int(response.headers["content-length"]) == len(response.content)
    x, rate = sf.read(io.BytesIO(response.content), dtype="int16")
    assert rate == RATE
    return x


def test_the_library_lists_songs_under_the_folder_only(served):
    client, _, _ = served
    songs = client.get("/api/songs").json()
    assert [s["title"] for s in songs] == ["Song One", "Song Two"]  # not the broken, hidden or linked-out files
    one = songs[0]
    assert one["id"] == song_id("album/one.snc") and one["artist"] == "Tester" and one["preset"] == "archival"
    assert [s["name"] for s in one["stems"]] == ["vocals", "drums", "bass"] and one["stems"][0]["colour"] == "#e6194b"
    assert abs(one["duration"] - 3.0) < 1e-9 and "karaoke" in one["profiles"]
    detail = client.get(f"/api/songs/{one['id']}").json()
    assert detail["info"]["sample_rate"] == RATE and len(detail["info"]["streams"]) == 4


def test_audio_spans_of_stems_sum_to_the_mix(served):
    client, mix, stems = served
    sid = song_id("album/one.snc")
    span = {"start": "1", "duration": "0.5"}
    got = {name: _wav(client.get(f"/api/songs/{sid}/audio", params={**span, "stem": name}))
           for name in ("vocals", "drums", "bass", "residual", "mix")}
    a, b = RATE, RATE + RATE // 2
    assert np.array_equal(got["mix"], mix[a:b]) and np.array_equal(got["vocals"], stems["vocals"][a:b])
    total = sum(got[k].astype(np.int32) for k in ("vocals", "drums", "bass", "residual"))
    assert np.array_equal(total, got["mix"])
    assert len(_wav(client.get(f"/api/songs/{sid}/audio", params={"start": "2.8", "stem": "mix"}))) == RATE // 5


def test_renders_profiles_binaural_and_remixes(served):
    client, mix, stems = served
    sid = song_id("album/one.snc")
    url = f"/api/songs/{sid}/audio"
    muted = _wav(client.get(url, params=[("duration", "1"), ("mute", "vocals")])).astype(np.int32)
    rest = sum(stems[k][:RATE].astype(np.int32) for k in ("drums", "bass"))
    assert np.abs(muted - rest).max() <= 2  # the remix rule on an exact file: the other stems
    karaoke = _wav(client.get(url, params={"duration": "1", "profile": "karaoke"}))
    binaural = _wav(client.get(url, params={"duration": "1", "layout": "binaural", "gain": "bass:-6"}))
    assert karaoke.shape == binaural.shape == (RATE, 2) and np.abs(karaoke).max() > 0
    flac = client.get(url, params={"duration": "1", "stem": "mix", "format": "flac"})
    assert flac.headers["content-type"] == "audio/flac"
    assert np.array_equal(sf.read(io.BytesIO(flac.content), dtype="int16")[0], mix[:RATE])
    opus = client.get(url, params={"duration": "1", "stem": "mix", "format": "opus"})
    assert opus.status_code == 200 and opus.content[:4] == b"OggS"


def test_peaks_are_computed_once_and_bounded(served):
    client, mix, _ = served
    sid = song_id("album/one.snc")
    first = client.get(f"/api/songs/{sid}/peaks", params={"width": "300"}).json()
    assert first["width"] == 300 and len(first["min"]) == len(first["max"]) == 300
    assert max(first["max"]) == pytest.approx(mix.max() / 32768, abs=1e-3)
    assert all(lo <= hi for lo, hi in zip(first["min"], first["max"]))
    assert client.get(f"/api/songs/{sid}/peaks", params={"width": "300"}).json() == first
    vocals = client.get(f"/api/songs/{sid}/peaks", params={"width": "50", "stem": "vocals"}).json()
    assert max(vocals["max"]) < max(first["max"])
    assert client.get(f"/api/songs/{sid}/peaks", params={"width": "100000"}).status_code == 400


@pytest.mark.parametrize("path, params, status, message", [
    ("/api/songs/0123456789ab", {}, 404, "no such song"),
    ("/api/songs/../../etc/passwd", {}, 404, None),
    ("/api/songs/{id}/audio", {"stem": "guitar"}, 400, "no 'guitar'"),
    ("/api/songs/{id}/audio", {"duration": "600"}, 400, "at most 60"),
    ("/api/songs/{id}/audio", {"start": "99"}, 400, "past the end"),
    ("/api/songs/{id}/audio", {"start": "nan"}, 400, "finite"),
    ("/api/songs/{id}/audio", {"format": "mp3"}, 400, "format"),
    ("/api/songs/{id}/audio", {"stem": "vocals", "mute": "bass"}, 400, "for renders"),
    ("/api/songs/{id}/audio", {"profile": "nonesuch"}, 400, None),
    ("/api/songs/{id}/audio", {"gain": "bass"}, 400, "NAME:DB"),
])
def test_bad_requests_get_one_line_and_no_traceback(served, path, params, status, message):
    client, _, _ = served
    response = client.get(path.format(id=song_id("album/one.snc")), params=params)
    assert response.status_code == status
    if path.startswith("/api/songs/{id}") or "0123" in path:
        error = response.json()["error"]
        assert "\n" not in error and "Traceback" not in error
        assert message is None or message in error


def test_only_get_and_the_pages(served):
    client, _, _ = served
    assert client.post("/api/songs").status_code == 405
    assert client.get("/").status_code == 200 and "html" in client.get("/").headers["content-type"]
    assert client.get("/player", params={"id": song_id("two.snc")}).status_code == 200
    assert client.get("/static/../app.py").status_code == 404
