"""Multitrack export for DAWs (issue 20 part 3): Matroska with a track per stem, folders with a sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import snc
from snc.errors import InputError

av = pytest.importorskip("av", reason="PyAV (the export extra) is not installed")
from snc.interop.headroom import Overflow, check_range, headroom_for  # noqa: E402
from snc.interop.multitrack import export_folder, export_matroska  # noqa: E402

RATE = 44100


def _song(tmp_path, bits=16):
    rng = np.random.default_rng(bits)
    n = RATE // 2
    full = 1 << (bits - 1)
    stems = {name: (np.cumsum(rng.integers(-64, 65, (n, 2)), axis=0) * (full // 2 ** 12)).clip(-full // 4, full // 4)
             .astype(np.int32) for name in ("vocals", "drums", "bass")}
    total = sum(s.astype(np.int64) for s in stems.values())
    mix = np.clip(total + rng.integers(-5, 6, total.shape), -full, full - 1).astype(np.int32)
    path = tmp_path / f"song{bits}.snc"
    snc.encode(mix, path, stems=stems, samplerate=RATE, bits=bits, preset="archival", tags={"title": "T"},
               music={"bpm": 127.5, "key": "F#m", "isrc": "USRC17607839", "lyrics": "la la"}, overwrite=True)
    return path, mix, stems


def _decode_mka(path):
    with av.open(str(path)) as f:
        streams = list(f.streams.audio)
        pieces = {s.index: [] for s in streams}
        for packet in f.demux(*streams):
            for frame in packet.decode():
                pieces[packet.stream.index].append(frame.to_ndarray().reshape(-1, 2))
        names = [s.metadata.get("title") for s in streams]
        default = [bool(s.disposition & av.stream.Disposition.default) for s in streams]
        return names, default, [np.concatenate(pieces[s.index]).astype(np.int64) for s in streams]


@pytest.mark.parametrize("bits", [16, 24])
def test_matroska_tracks_add_up_to_the_mix(tmp_path, bits):
    src, mix, stems = _song(tmp_path, bits)
    report = export_matroska(src, tmp_path / "song.mka")
    names, default, tracks = _decode_mka(tmp_path / "song.mka")
    assert names == ["mix", "vocals", "drums", "bass", "residual"] and default == [True] + [False] * 4
    shift = 32 - bits if bits > 16 else 0
    tracks = [t >> shift for t in tracks]
    assert np.array_equal(tracks[0], mix) and np.array_equal(sum(tracks[1:]), mix)
    assert np.array_equal(tracks[1], stems["vocals"]) and report["bits"] == (16 if bits == 16 else 24)
    with av.open(str(tmp_path / "song.mka")) as f:
        tags = {k.upper(): v for k, v in f.metadata.items()}
    assert tags["TITLE"] == "T" and tags["BPM"] == "127.5" and tags["INITIAL_KEY"] == "F#m"
    assert tags["ISRC"] == "USRC17607839" and tags["LYRICS"] == "la la"


def test_opus_matroska_is_small_and_named(tmp_path):
    src, _, _ = _song(tmp_path)
    flac = export_matroska(src, tmp_path / "a.mka")
    opus = export_matroska(src, tmp_path / "b.mka", codec="opus")
    assert opus["file_bytes"] < flac["file_bytes"]
    with av.open(str(tmp_path / "b.mka")) as f:
        assert {s.codec_context.name for s in f.streams.audio} == {"opus"}
    names, _, tracks = _decode_mka(tmp_path / "b.mka")
    assert names[-1] == "residual" and len(tracks) == 5


def test_tracks_beyond_full_scale_get_headroom():
    """A track louder than full scale (a stem slot against its neighbours, a residual against loud stems): the
    export goes 24 bits wide with as many bits of headroom as it needs; a 24-bit source has none to spare."""
    quiet, loud = np.array([[100, -32768]]), np.array([[70000, -3]])
    check_range([quiet], 16, 16, 0)
    with pytest.raises(Overflow) as over:
        check_range([quiet, loud], 16, 16, 0)
    assert over.value.bits_over == 2 and headroom_for(over.value, 16, 0) == 2
    check_range([quiet, loud], 16, 24, 2)  # fits now
    with pytest.raises(InputError, match="cannot hold it exactly"):
        headroom_for(over.value, 24, 0)


@pytest.mark.parametrize("bits", [16, 24])
def test_folder_with_sidecar(tmp_path, bits):
    src, mix, _ = _song(tmp_path, bits)
    export_folder(src, tmp_path / "wav", fmt="wav")
    side = json.loads((tmp_path / "wav" / "stems.json").read_text())
    assert [t["file"] for t in side["tracks"]] == ["mix.wav", "vocals.wav", "drums.wav", "bass.wav", "residual.wav"]
    assert side["tags"]["title"] == "T" and side["tracks"][1]["colour"] == "#e6194b" and side["bits"] == bits
    assert side["music"] == {"bpm": 127.5, "key": "F#m", "isrc": "USRC17607839", "lyrics": "la la"}
    tracks = [sf.read(tmp_path / "wav" / t["file"], dtype="int32")[0].astype(np.int64) >> (32 - bits)
              for t in side["tracks"]]
    assert sf.info(tmp_path / "wav" / "mix.wav").samplerate == RATE
    assert np.array_equal(tracks[0], mix) and np.array_equal(sum(tracks[1:]), mix)
    with pytest.raises(snc.SncError, match="exists"):  # nothing replaced without overwrite
        export_folder(src, tmp_path / "wav", fmt="wav")
    with pytest.raises(InputError, match="unknown format"):
        export_folder(src, tmp_path / "x", fmt="mp3")
