"""The encode package's steps through their public seams: presets, options, stream codecs, the stream plan,
the closed-loop residual, the bitrate search, and the package's shape."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, random_multitrack

import snc
from snc.container.model import PRESETS as FORMAT_PRESETS
from snc.encode import PRESETS, EncodeOptions, Preset, residual, stream_codecs
from snc.encode.bitrate import offset_for_bitrate
from snc.encode.report import EncodeReport
from snc.encode.streams import plan_streams
from snc.encode.tuning import BITRATE_SEARCH_DB, BITRATE_SEARCH_STEPS, PERCEPTUAL_TUNING
from snc.errors import InputError
from snc.signal.audio_io import AudioFormat

ROOT = Path(__file__).resolve().parents[2]
INT16 = AudioFormat(44100, 2, "int", 16)
F32 = AudioFormat(44100, 2, "float32", 32)


# ----------------------------------------------------------------------------------------------- presets
def test_the_encoder_implements_every_preset_of_the_format():
    assert tuple(PRESETS) == FORMAT_PRESETS
    assert all(isinstance(p, Preset) and p.name == name for name, p in PRESETS.items())


@pytest.mark.parametrize("name, exact, stems_coded, mix_alone_coded, residual_coded", [
    ("archival", ("mix", "stems"), False, False, False),
    ("lossless", ("mix",), True, False, False),
    ("transparent", (), True, True, True),
    ("compact", (), True, True, True),
])
def test_each_preset_answers_from_what_it_keeps_exact(name, exact, stems_coded, mix_alone_coded, residual_coded):
    """``*_coded``: coded perceptually.  A stream that must be exact is lossless, and so is a mix coded alone
    that must be exact; a preset that codes anything perceptually has a tuning."""
    p = PRESETS[name]
    assert p.exact == exact and p.exact_mix == ("mix" in exact)
    assert p.perceptual_stems(True) == stems_coded and p.perceptual_stems(False) == mix_alone_coded
    assert p.perceptual_residual == residual_coded
    assert (p.tuning is not None) == stems_coded
    assert p.segment_frames == (32768 if name == "archival" else 131072)
    assert p.profile_loudness == (name != "archival")


def test_preset_tuning_is_read_from_the_tuning_table(monkeypatch):
    """Benches and tests change a preset's tuning in PERCEPTUAL_TUNING; the Preset sees it."""
    changed = dataclasses.replace(PERCEPTUAL_TUNING["compact"], quality_db=1.0)
    monkeypatch.setitem(PERCEPTUAL_TUNING, "compact", changed)
    assert PRESETS["compact"].tuning is changed


# ----------------------------------------------------------------------------------------------- options
def test_options_are_normalised_on_construction():
    o = EncodeOptions(preset="compact", positions={"vocals": (30, 0)}, pictures=[{"mime": "image/png", "data": b"x"}])
    assert o.preset is PRESETS["compact"] and o.segment_frames == PRESETS["compact"].segment_frames
    assert o.positions == {"vocals": (30.0, 0.0)} and o.profiles == {}
    assert o.pictures == [{"picture_type": 3, "mime": "image/png", "description": "", "data": b"x"}]
    assert EncodeOptions(preset="archival", segment_frames=4096).segment_frames == 4096
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.codec = "pcm"


@pytest.mark.parametrize("kwargs, match", [
    (dict(preset="best"), "unknown preset"),
    (dict(preset="lossless", bitrate=128), "--bitrate applies"),
    (dict(bitrate=4), "bitrate must be"),
    (dict(separator="magic"), "unknown separator"),
    (dict(codec="mp3"), "unknown codec"),
    (dict(remix_headroom=30), "remix headroom"),
    (dict(segment_frames=10), "segment_frames"),
    (dict(lead=""), "lead must be"),
    (dict(pictures=[{"data": b""}]), "a picture is a dict"),
])
def test_bad_options_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        EncodeOptions(**kwargs)


def test_positions_and_lead_must_name_a_stem():
    EncodeOptions(positions={"a": (0, 0)}, lead="a").check_stems(["a", "b"])
    with pytest.raises(InputError, match="positions name no stem: 'c'"):
        EncodeOptions(positions={"c": (0, 0)}).check_stems(["a", "b"])
    with pytest.raises(InputError, match="a file without stems has no lead"):
        EncodeOptions(lead="a").check_stems([])
    EncodeOptions(positions={"mix": (10, 0)}).check_stems([])  # the mix alone is the stream "mix"


# ----------------------------------------------------------------------------------------------- stream codecs
def test_stream_codecs_follow_the_preset():
    from snc.codecs import perceptual as pc

    tuning = PERCEPTUAL_TUNING["transparent"]
    assert stream_codecs.stem_codec(INT16, PRESETS["archival"], None, has_stems=True, codec_id="pcm").codec_id == "pcm"
    stem = stream_codecs.stem_codec(INT16, PRESETS["transparent"], tuning, has_stems=True, codec_id="lossless")
    assert (stem.settings.rounding, stem.settings.noise_substitution, stem.settings.drop_db) == (
        pc.STEM_ROUNDING, None, tuning.stem_drop_db)
    alone = stream_codecs.stem_codec(INT16, PRESETS["transparent"], tuning, has_stems=False, codec_id="lossless")
    assert (alone.settings.rounding, alone.settings.noise_substitution, alone.settings.drop_db) == (
        pc.ROUNDING, tuning.noise_alone, 0.0)
    res = stream_codecs.residual_codec(INT16, PRESETS["lossless"], tuning, codec_id="lossless")
    assert res.lossless and res.codec_id == "lossless"
    assert stream_codecs.lossless_codec(F32, "lossless").codec_id == "float"
    compact = PERCEPTUAL_TUNING["compact"]
    res = stream_codecs.residual_codec(INT16, PRESETS["compact"], compact, codec_id="lossless")
    assert not res.lossless and res.settings.noise_substitution == compact.noise_residual


def test_plan_codes_a_separators_last_stem_as_the_rest_of_the_mix():
    names = ["drums", "bass", "vocals", "other"]
    plan = plan_streams(INT16, names, PRESETS["transparent"], codec_id="lossless", separated={"separator": "dsp"},
                        lead=None, offset_db=None)
    assert plan.rest == 3 and plan.tuning == PERCEPTUAL_TUNING["transparent"].for_separated()
    assert plan.codecs[3] is not plan.stem_codec and plan.codecs[:3] == [plan.stem_codec] * 3
    assert plan.stem_snr_db == [plan.tuning.stem_snr_db] * 4  # separated: the lead keeps the same floor
    studio = plan_streams(INT16, names, PRESETS["transparent"], codec_id="lossless", separated=None, lead=None,
                          offset_db=None)
    assert studio.rest is None and studio.stem_snr_db[2] == studio.tuning.lead_snr_db  # vocals: the lead
    lossless = plan_streams(INT16, names, PRESETS["lossless"], codec_id="lossless", separated={}, lead=None,
                            offset_db=None)
    assert lossless.rest is None and lossless.residual_codec.lossless
    archival = plan_streams(INT16, [], PRESETS["archival"], codec_id="lossless", separated=None, lead=None,
                            offset_db=None)
    assert archival.names == ["mix"] and archival.tuning is None and archival.residual_fmt.bits == 17


def test_plan_codes_wide_input_as_24_bit_where_nothing_is_exact():
    wide = AudioFormat(48000, 1, "float64", 64)
    assert plan_streams(wide, [], PRESETS["compact"], codec_id="lossless", separated=None, lead=None,
                        offset_db=2.0).fmt == AudioFormat(48000, 1, "int", 24)
    assert plan_streams(wide, [], PRESETS["archival"], codec_id="lossless", separated=None, lead=None,
                        offset_db=None).fmt == wide


# ----------------------------------------------------------------------------------------------- residual
def test_closed_loop_residual_keeps_the_mix_exact():
    """With a perceptual stem codec and a lossless residual (the lossless preset), the decoded streams sum
    to the mix bit for bit, and the residual is what the decoded stems miss."""
    mix, stems = random_multitrack(5, frames=4096, stems=2)
    mix, stems = mix.astype(np.int16), {k: v.astype(np.int16) for k, v in stems.items()}
    plan = plan_streams(INT16, list(stems), PRESETS["lossless"], codec_id="lossless", separated=None, lead=None,
                        offset_db=None)
    packets, decoded, decoded_mix, _ = residual.code_segment(plan, mix, list(stems.values()), headroom_db=6.0,
                                                             frame=0)
    assert len(packets) == len(decoded) == 3
    assert np.array_equal(decoded_mix, mix)
    assert not np.array_equal(decoded[0], stems["s0"])  # the stems are lossy ...
    assert np.array_equal(decoded[2], mix.astype(np.int64) - decoded[0] - decoded[1])  # ... the residual mends them


def test_residual_overflow_is_refused():
    fmt = AudioFormat(44100, 1, "int", 8)
    mix = np.full((4, 1), 127, np.int16)
    with pytest.raises(InputError, match="the stems' sum differs from the mix by more than 9-bit samples can hold "
                                         "near frame 77"):
        residual.residual_block(mix, [np.full((4, 1), -400, np.int16)], fmt, AudioFormat(44100, 1, "int", 9),
                                has_stems=True, frame=77)


def test_a_lossless_codec_is_not_decoded_again():
    codec = stream_codecs.lossless_codec(INT16, "lossless")
    block = np.arange(200, dtype=np.int16).reshape(100, 2)
    packet, decoded = residual.code(codec, block, noise=np.zeros(3))
    assert decoded is block and np.array_equal(codec.decode(packet, 100), block)


# ----------------------------------------------------------------------------------------------- bitrate search
@pytest.mark.parametrize("kbps", [50.0, 128.0, 3000.0, 1.0])
def test_bitrate_search_takes_the_finest_offset_within_the_rate(kbps):
    """A file whose rate falls with the offset: the search lands within one step of the rate, never above it
    unless even the coarsest offset is."""
    def rate(offset):
        return 1000.0 * 2.0 ** (-offset / 6.0)

    def encode_at(out, offset):
        return EncodeReport(path=None, file_bytes=int(rate(offset) * 1000 / 8), frames=44100, sample_rate=44100,
                            channels=2, preset="transparent")

    events = []
    got = offset_for_bitrate(encode_at, kbps, events.append)
    lo, hi = BITRATE_SEARCH_DB
    assert len(events) == BITRATE_SEARCH_STEPS and lo <= got <= hi
    if rate(hi) > kbps:
        assert got == hi
    else:
        step = (hi - lo) / 2 ** BITRATE_SEARCH_STEPS
        assert rate(got) <= kbps + 1e-9 and rate(got - 2 * step) > kbps


# ----------------------------------------------------------------------------------------------- the package
def test_snc_encode_stays_the_function_whatever_is_imported_first():
    code = ("import snc\nfrom snc.encode import tuning\nimport snc.encode.residual\n"
            "from snc.encode import encode\nassert snc.encode is encode and callable(snc.encode)\n"
            "from snc import encode as e\nassert e is encode\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "ok", out.stderr


def test_archival_encode_verifies_its_exact_signals():
    mix, stems = random_multitrack(3, frames=3000, stems=2)
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=44100, bits=16, preset="archival", verify=True)
    assert report.verified and report.preset == "archival" and [s["name"] for s in report.streams] == \
        ["s0", "s1", "residual"]


def test_no_module_of_the_package_is_long_and_none_names_a_corpus_item():
    package = ROOT / "snc" / "encode"
    sources = {p.name: p.read_text() for p in package.glob("*.py")}
    assert {"options.py", "presets.py", "tuning.py", "residual.py", "stream_codecs.py", "bitrate.py"} <= set(sources)
    assert all(len(text.splitlines()) <= 400 for text in sources.values())
    manifest = CORPUS / "manifest.json"
    if manifest.exists():
        items = [it["id"] for it in json.loads(manifest.read_text())["items"]]
        for name, text in sources.items():
            assert not [i for i in items if i.lower() in text.lower()], name
