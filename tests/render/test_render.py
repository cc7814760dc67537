"""Rendering a file (snc.render.renderer, profiles on a file): profiles, context, loudness targets, numbers out
of range; the processors are in test_dynamics.py, the player in test_player.py."""

from __future__ import annotations

import io
import json
import math
import warnings

import numpy as np
import pytest

import snc
from snc.render.dynamics import CompressorSettings
from snc.render.profiles import BUILTIN, Profile, choose_profile
from snc.signal.loudness import LoudnessMeter

RATE = 44100


# ----------------------------------------------------------------------------- profiles on a file


@pytest.fixture(scope="module")
def song():
    """Three stems with their own character: a quiet-then-loud 'vocals' tone, 50 Hz bass, noise drums."""
    rng = np.random.default_rng(5)
    n = 8 * RATE
    t = np.arange(n) / RATE
    env = np.where(t < 4, 0.05, 0.5)
    vocals = (env * np.sin(2 * np.pi * 330 * t))[:, None] * [1, 1]
    bass = (0.3 * np.sin(2 * np.pi * 50 * t))[:, None] * [1, 1]
    drums = 0.05 * rng.standard_normal((n, 2))
    stems = {k: np.round(v * 16000).astype(np.int16) for k, v in (("vocals", vocals), ("bass", bass),
                                                                     ("drums", drums))}
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    authored = {"party": {"gains": {"drums": 6}, "target_lufs": -12}}
    snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="lossless", profiles=authored)
    return buf.getvalue(), stems


def measure(y):
    m = LoudnessMeter(RATE, 2)
    m.update(y)
    return m.integrated_lufs(), m.true_peak_dbtp(), m.loudness_range_lu()


def test_profiles_are_listed_and_authored_ones_come_first(song):
    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        assert f.profiles == ["party", *BUILTIN]
        assert f.describe()["profiles"]["party"]["gains"] == {"drums": 6.0}


def test_each_builtin_profile_has_its_defining_property(song):
    data, stems = song
    with snc.open(io.BytesIO(data)) as f:
        mix = f.read()
        vocals = stems["vocals"] / 32768.0
        corr = lambda y: float(np.sum(y * vocals) / np.sum(vocals * vocals))  # noqa: E731
        assert abs(corr(f.render(profile="karaoke"))) < 1e-3
        assert abs(corr(f.render(profile="instrumental"))) < 1e-3
        boosted = f.render(profile="vocal-boost")
        assert corr(boosted) > 1.5 * corr(mix)
        _, _, lra_mix = measure(mix)
        lufs, peak, lra = measure(f.render(profile="night"))
        assert lra < lra_mix - 3 and abs(lufs + 20) < 0.5 and peak <= -1.0
        lufs, peak, lra_noisy = measure(f.render(profile="noisy"))
        assert lra_noisy < lra_mix - 3 and abs(lufs + 14) < 0.5 and peak <= -1.0
        small = f.render(profile="small-speaker")
        t = np.arange(len(mix)) / RATE
        at50 = lambda y: abs(np.exp(-2j * np.pi * 50 * t) @ y[:, 0]) / np.sqrt(np.mean(y ** 2))  # noqa: E731
        assert 20 * np.log10(at50(small) / at50(mix)) < -20  # the 50 Hz bass is gone (relative to the level)


def test_lead_key_names_the_files_lead_stem(song):
    """``lead`` in a profile is the file's lead stem (META ``lead``), else the vocals; karaoke mutes it."""
    stems = [("vocals", "vocals"), ("guitar", "guitar"), ("keys", "other")]
    assert BUILTIN["karaoke"].remix(stems) == ({"keys": 2.0}, ["vocals"])
    assert BUILTIN["karaoke"].remix(stems, lead="guitar") == ({"keys": 2.0}, ["guitar"])
    assert Profile("p", mute=("lead",)).remix([("lead", "other"), ("vocals", "vocals")], lead="vocals")[1] == \
        ["lead", "vocals"]  # a stem named "lead" is still matched by its name
    _, stems = song
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="archival", lead="bass")
    with snc.open(io.BytesIO(buf.getvalue())) as f:
        assert f.lead == "bass" and f.describe()["lead"] == "bass"
        y = f.render(profile="karaoke")
        for name, kept in (("bass", 0.0), ("vocals", 1.0)):
            ref = stems[name] / 32768.0
            assert abs(float(np.sum(y * ref) / np.sum(ref * ref)) - kept) < 1e-3, name


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_target_loudness_and_true_peak(song, target):
    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        lufs, peak, _ = measure(f.render(target_lufs=target))
        assert abs(lufs - target) <= 0.5 and peak <= -1.0
        streamed = np.concatenate(list(f.render_blocks(4096, target_lufs=target)))
        lufs, peak, _ = measure(streamed)
        assert abs(lufs - target) <= 0.5 and peak <= -1.0


def test_plain_render_is_the_exact_mix(song):
    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        np.testing.assert_array_equal(f.render(), f.read())


def test_context_picks_and_tunes_a_profile():
    assert choose_profile({"ambient_db": 70}).name == "noisy"
    louder = choose_profile({"ambient_db": 80})
    assert louder.compressor.ratio > choose_profile({"ambient_db": 66}).compressor.ratio
    assert louder.target_lufs > -14.0
    assert choose_profile({"night": True}).name == "night"
    assert choose_profile({"ambient_db": 30}).name == "night"
    assert choose_profile({"device": "phone"}).name == "small-speaker"
    phone_in_a_bar = choose_profile({"device": "phone", "ambient_db": 75})
    assert any(b.kind == "highpass" for b in phone_in_a_bar.eq) and phone_in_a_bar.compressor is not None
    assert "vocals" in choose_profile({"prefer": "instrumental"}).mute
    assert choose_profile({"prefer": "vocals"}).gains["vocals"] == 4.0
    assert choose_profile({"profile": "karaoke"}).name == "karaoke"
    for bad in ({"ambient_db": "loud"}, {"prefer": "drums"}, {"profile": "nope"}, "phone"):
        with pytest.raises(snc.InputError):
            choose_profile(bad)
    with pytest.warns(snc.SncWarning, match="device 'toaster' is not one of"):
        assert choose_profile({"device": "toaster"}).name == "mix"
    with pytest.warns(snc.SncWarning, match="context keys 'ambiend_db' are not used"):
        choose_profile({"ambiend_db": 70})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for device in ("headphones", "speakers", "car", "phone"):
            choose_profile({"device": device, "night": False, "prefer": "vocals"})


def test_authored_profiles_are_checked_at_encode_and_skipped_when_unreadable(tmp_path):
    mix = np.zeros((RATE, 2), np.int16)
    out = tmp_path / "x.snc"
    with pytest.raises(snc.InputError, match="unknown keys"):
        snc.encode(mix, out, samplerate=RATE, bits=16, profiles={"x": {"gainz": 1}})
    assert not out.exists()
    with pytest.raises(snc.InputError, match="ratio"):
        snc.encode(mix, out, samplerate=RATE, bits=16, profiles=json.dumps({"x": {"compressor": {"ratio": 0.5}}}))
    prof = Profile.from_json("p", {"gains": {"vocals": None}, "eq": [{"kind": "peak", "freq_hz": 1000, "gain_db": 2}]})
    assert prof.gains["vocals"] == -math.inf and Profile.from_json("p", prof.to_json()) == prof

def test_profile_loudness_is_measured_at_encode_and_used(song, monkeypatch):
    from snc.render.dynamics import Chain
    from snc.render.options import RenderOptions
    from snc.render.request import RenderRequest

    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        meta = f.metadata
        assert set(meta["profile_loudness"]) == {"party", *BUILTIN}
        assert meta["mix_loudness"]["true_peak_dbtp"] is not None
        # the stored value is the decoded render's own loudness before its gain (a lossless preset here)
        req = RenderRequest(f, RenderOptions(profile="night"))
        shaped = LoudnessMeter(RATE, 2)
        chain = Chain(req.profile, RATE, 2, 0.0)
        for block in req.source():
            shaped.update(chain.shape(block))
        assert abs(shaped.integrated_lufs() - meta["profile_loudness"]["night"]["loudness_lufs"]) < 0.05
        # ... and the renderer takes it instead of a first pass, for the profile by name (not a tuned one)
        assert req.stored_loudness() == meta["profile_loudness"]["night"]["loudness_lufs"]
        assert RenderRequest(f, RenderOptions(context={"ambient_db": 80})).stored_loudness() is None
        assert RenderRequest(f, RenderOptions(profile="night", gains={"drums": 3})).stored_loudness() is None
        assert (RenderRequest(f, RenderOptions(target_lufs=-14.0)).stored_loudness()
                == meta["mix_loudness"]["loudness_lufs"])


def test_archival_files_are_normalised_by_a_first_pass():
    rng = np.random.default_rng(8)
    mix = (rng.standard_normal((2 * RATE, 2)) * 3000).astype(np.int16)
    buf = io.BytesIO()
    snc.encode(mix, buf, samplerate=RATE, bits=16, preset="archival")
    buf.seek(0)
    with snc.open(buf) as f:
        assert "profile_loudness" not in f.metadata and "mix_loudness" not in f.metadata
        lufs, peak, _ = measure(f.render(target_lufs=-18.0))
    assert abs(lufs + 18.0) < 0.5 and peak <= -1.0

# ----------------------------------------------------------------------------- numbers out of range


@pytest.mark.parametrize("body, field", [
    ({"gains": {"vocals": float("nan")}}, "gain of 'vocals'"),
    ({"gains": {"vocals": 1e10}}, "gain of 'vocals'"),
    ({"gains": {"vocals": "loud"}}, "gain of 'vocals'"),
    ({"eq": [{"kind": "peak", "freq_hz": 1000, "gain_db": float("inf")}]}, "EQ gain_db"),
    ({"eq": [{"kind": "peak", "freq_hz": float("nan")}]}, "EQ freq_hz"),
    ({"eq": [{"kind": "peak", "freq_hz": 1000, "q": 0}]}, "EQ q"),
    ({"compressor": {"makeup_db": 1e308}}, "compressor makeup_db"),
    ({"compressor": {"ratio": float("nan")}}, "compressor ratio"),
    ({"compressor": {"threshold_db": float("-inf")}}, "compressor threshold_db"),
    ({"target_lufs": float("nan")}, "target_lufs"),
    ({"true_peak_dbtp": float("inf")}, "true_peak_dbtp"),
])
def test_profile_numbers_must_be_finite_and_in_range(tmp_path, body, field):
    out = tmp_path / "x.snc"
    with pytest.raises(snc.InputError, match=f"profile 'p': {field}") as err:
        snc.encode(np.zeros((RATE, 2), np.int16), out, samplerate=RATE, bits=16, profiles={"p": body})
    assert "\n" not in str(err.value) and not out.exists()


def test_profiles_json_refuses_nan_and_infinity_tokens(tmp_path):
    from snc.cli import encode
    from snc.render.profiles import load_profiles_json

    for token in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(snc.InputError, match=f"{token} is not a JSON number"):
            load_profiles_json('{"p": {"gains": {"vocals": ' + token + "}}}")
    import soundfile as sf

    sf.write(tmp_path / "mix.wav", np.zeros((RATE, 2), np.int16), RATE, subtype="PCM_16")
    (tmp_path / "p.json").write_text('{"p": {"compressor": {"makeup_db": 1e308}}}')
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "x.snc"), "--profiles",
                        str(tmp_path / "p.json"), "--separator", "none", "-q"]) == 1
    assert not (tmp_path / "x.snc").exists()
    with pytest.raises(snc.InputError, match="compressor makeup_db"):
        Profile("p", compressor=CompressorSettings(makeup_db=1e308))  # made in code: checked too


def test_stored_profiles_with_bad_numbers_are_skipped_or_refused_by_name(song, monkeypatch):
    _, stems = song
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    # a file from a writer that did not check (or a crafted one); the container itself refuses NaN/Infinity in
    # JSON, so the bad numbers are finite and out of range
    with monkeypatch.context() as m:
        m.setattr(Profile, "check", lambda self: None)
        snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="archival",
                   profiles={"bad": {"gains": {"vocals": 1e10}}, "night": {"target_lufs": -1e9},
                             "fine": {"gains": {"drums": 3}}})
    with snc.open(io.BytesIO(buf.getvalue())) as f:
        with pytest.warns(snc.SncWarning, match="skipping a stored profile"):
            assert f.profiles[:1] == ["fine"] and "bad" not in f.profiles
        for name in ("bad", "night"):  # asked for by name: refused, not replaced by the built-in night
            with pytest.raises(snc.InputError, match=f"the file's profile '{name}' cannot be used"):
                f.render(profile=name)
            with pytest.raises(snc.InputError, match="cannot be used"):
                f.player(profile=name)
        with pytest.warns(snc.SncWarning):
            y = f.render(profile="fine")
        assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_bad_render_numbers_are_refused_and_nan_never_reaches_the_output(song):
    from snc.render import request

    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        for gains in ({"drums": float("nan")}, {"drums": float("inf")}, {"drums": 1e10}):
            with pytest.raises(snc.InputError, match="gain of 'drums'"):
                f.render(gains=gains)
            with pytest.raises(snc.InputError, match="gain of 'drums'"):
                f.player(gains=gains)
        assert np.isfinite(f.render(gains={"drums": float("-inf")})).all()  # -inf mutes
        for target in (float("nan"), float("inf"), -1e9):
            with pytest.raises(snc.InputError, match="target loudness"):
                f.render(target_lufs=target)
        with pytest.raises(snc.InputError, match="head yaw"):
            f.render(layout="binaural", head_yaw_deg=float("nan"))
        with pytest.raises(snc.InputError, match="position of 'vocals'"):
            f.render(layout="5.1", positions={"vocals": (float("nan"), 0)})
        with pytest.raises(snc.InputError, match="ambient_db"):
            f.render(context={"ambient_db": float("nan")})
        # a profile whose numbers got past its check: the render stops, it does not play NaN
        broken = Profile("broken")
        object.__setattr__(broken, "gains", {"drums": float("nan")})
        # (refused by the remix's gain check, or caught as NaN in a block: either way one clear error)
        with pytest.raises(snc.SncError, match="NaN or infinite|gain of 'drums'"):
            f.render(profile=broken)
        with pytest.raises(snc.SncError, match="NaN or infinite|gain of 'drums'"):
            list(f.player(profile=broken))
        # a stored position out of range (NaN distance): the role's default, with a warning
        from snc.container.model import Position

        f.stream_infos[0].position = Position(0.0, 0.0, float("nan"), 1.0)
        with pytest.warns(snc.SncWarning, match="stored position"):
            y = f.render(layout="5.1")
        assert np.isfinite(y).all() and np.abs(y).max() > 0
        assert request.MAX_DISTANCE_M >= 100


def test_player_takes_the_stored_loudness_as_an_estimate_instead_of_a_first_pass(song, monkeypatch):
    from snc.render import request

    data, _ = song
    with snc.open(io.BytesIO(data)) as f:
        stored = f.metadata["profile_loudness"]["night"]["loudness_lufs"]

        class NoPass(LoudnessMeter):
            def update(self, block):
                raise AssertionError("a measuring pass")

        monkeypatch.setattr(request, "LoudnessMeter", NoPass)
        with f.player(blocksize=4096, profile="night", gains={"drums": 3.0}) as player:
            assert player._state.chain.gain == pytest.approx(10 ** ((-20.0 - stored) / 20))
            player.set(profile="night", mute=["bass"])  # a set() measures nothing either
            assert player.read() is not None
        with pytest.raises(AssertionError, match="a measuring pass"):  # a render measures exactly
            f.render(profile="night", gains={"drums": 3.0})
