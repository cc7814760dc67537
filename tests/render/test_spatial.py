"""Spatial rendering (issue 6): VBAP layouts, binaural cues, head yaw, positions, streaming."""

from __future__ import annotations

import io

import numpy as np
import pytest

import snc
from snc.render.spatial import HRIR_FILE, Binaural, Vbap
from snc.signal.layouts import LAYOUTS, LFE, channel_names

RATE = 44100


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_vbap_preserves_energy_and_hits_speakers(layout):
    vbap = Vbap(layout)
    lfe = [i for i, c in enumerate(LAYOUTS[layout]) if c[0] == LFE]
    for az in range(-180, 181, 15):
        for el in (0, 20, 45, 90) if vbap.three_d else (0,):
            g = vbap.gains(az, el)
            assert abs(np.sum(g ** 2) - 1.0) < 1e-9 and g.min() >= 0
            assert all(g[i] == 0 for i in lfe)
    for i, (name, az, el) in enumerate(LAYOUTS[layout]):
        if name != LFE:
            g = vbap.gains(az, el)
            assert g[i] == pytest.approx(1.0) and np.sum(g > 1e-9) == 1, name


def test_stereo_panning_law():
    vbap = Vbap("stereo")
    assert np.allclose(vbap.gains(0), [np.sqrt(0.5), np.sqrt(0.5)])
    left, right = vbap.gains(15)
    assert left > right > 0
    assert np.allclose(vbap.gains(100), [1, 0])  # beyond the speaker: the speaker


def convolved(b, x, az, el):
    """Time-domain reference of one source: both ears' full convolution with the HRIRs, cut to len(x)."""
    h = b.response(az, el)
    return np.stack([np.convolve(x, h[0]), np.convolve(x, h[1])], axis=1)[: len(x)]


def _ears(az, el=0.0, yaw=0.0):
    x = np.random.default_rng(1).standard_normal(RATE // 2)
    y = Binaural(RATE).render([(x, az - yaw, el)])
    ild = 10 * np.log10(np.sum(y[:, 0] ** 2) / np.sum(y[:, 1] ** 2))
    xc = np.correlate(y[:, 0], y[:, 1], mode="full")[len(x) - 60: len(x) + 60]
    itd = int(np.argmax(xc)) - 60  # > 0: the left ear lags
    return ild, itd


@pytest.mark.slow
def test_binaural_direction_cues():
    ild, itd = _ears(90)
    assert ild > 6 and itd < 0  # a source on the left: louder and earlier at the left ear
    ild, itd = _ears(-90)
    assert ild < -6 and itd > 0
    ild, itd = _ears(0)
    assert abs(ild) < 1.5 and abs(itd) <= 1
    ild, _ = _ears(0, yaw=90)  # head turned left: the front source is now on the right
    assert ild < -6


def test_binaural_streams():
    x = np.random.default_rng(2).standard_normal(10_000)
    whole = Binaural(RATE).render([(x, 30, 10)])
    b = Binaural(RATE)
    parts = np.concatenate([b.render([(x[:100], 30, 10)]), b.render([(x[100:5000], 30, 10)]),
                            b.render([(x[5000:], 30, 10)])])
    np.testing.assert_allclose(parts, whole, atol=1e-12)


def test_shipped_hrirs_cite_their_source():
    data = np.load(HRIR_FILE)
    assert "Gardner" in str(data["source"]) and data["hrir"].shape[1:] == (2, 256)
    assert float(data["samplerate"]) == 44100.0


def _file(stems_ch2, positions=None):
    stems = {k: np.round(v * 8000).astype(np.int16) for k, v in stems_ch2.items()}
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems, samplerate=RATE, bits=16, preset="archival", positions=positions,
               segment_frames=4096)
    buf.seek(0)
    return buf


def test_render_layouts_place_stems():
    rng = np.random.default_rng(3)
    n = RATE
    buf = _file({"s0": rng.standard_normal((n, 2)) * 0.3, "vocals": rng.standard_normal((n, 2)) * 0.3},
                positions={"vocals": (110, 0)})
    with snc.open(buf) as f:
        assert f.streams[0].position.width == 1.0 and f.streams[1].position.width == pytest.approx(0.3)
        # a stem at the front with full width (role other) on stereo: its own channels
        solo = f.render(layout="stereo", solo=["s0"], attribution="global")
        np.testing.assert_allclose(solo, f.read(solo=["s0"], attribution="global"), atol=1e-12)
        # the vocals at +110 (stored): in Ls on 5.1, with their energy (uncorrelated channels)
        y = f.render(layout="5.1", solo=["vocals"], attribution="global")
        names = channel_names("5.1")
        energy = dict(zip(names, np.sum(y ** 2, axis=0)))
        ref = np.sum(f.read(solo=["vocals"], attribution="global") ** 2)
        assert energy["Ls"] > 0.8 * ref and energy["LFE"] == 0
        assert abs(sum(energy.values()) / ref - 1) < 0.02
        # overridden at render time: now on the right
        y = f.render(layout="5.1", solo=["vocals"], positions={"vocals": (-110, 0)}, attribution="global")
        assert np.sum(y[:, 5] ** 2) > 0.8 * ref
        # blocks == whole
        whole = f.render(layout="7.1.4")
        np.testing.assert_allclose(np.concatenate(list(f.render_blocks(3000, layout="7.1.4"))), whole, atol=1e-12)
        assert whole.shape == (n, 12)
        binaural = f.render(layout="binaural", head_yaw_deg=30)
        assert binaural.shape == (n, 2)
        with pytest.raises(snc.InputError, match="no stem"):
            f.render(layout="5.1", positions={"nobody": (0, 0)})
        with pytest.raises(snc.InputError, match="unknown layout"):
            f.render(layout="9.1")
        with pytest.raises(snc.InputError, match="binaural"):
            f.render(head_yaw_deg=10)


def test_positions_are_checked_at_encode(tmp_path):
    mix = np.zeros((1000, 2), np.int16)
    with pytest.raises(snc.InputError, match="out of range"):
        snc.encode(mix, tmp_path / "x.snc", stems={"a": mix}, samplerate=RATE, bits=16, positions={"a": (200, 0)})
    with pytest.raises(snc.InputError, match="no stem"):
        snc.encode(mix, tmp_path / "x.snc", stems={"a": mix}, samplerate=RATE, bits=16, positions={"b": (20, 0)})
    assert not (tmp_path / "x.snc").exists()


def test_cli_layouts(tmp_path):
    import soundfile as sf

    from snc.cli import decode, encode

    rng = np.random.default_rng(4)
    for name in ("mix", "vocals", "drums"):
        sf.write(tmp_path / f"{name}.wav", (rng.standard_normal((8000, 2)) * 2000).astype(np.int16), RATE,
                 subtype="PCM_16")
    assert encode.main([str(tmp_path / "mix.wav"), "-o", str(tmp_path / "s.snc"), "--stems",
                        f"vocals={tmp_path / 'vocals.wav'}", f"drums={tmp_path / 'drums.wav'}",
                        "--position", "drums=-60,10", "--preset", "archival", "-q"]) == 0
    for layout, channels in (("5.1", 6), ("7.1.4", 12), ("binaural", 2)):
        out = tmp_path / f"{layout}.wav"
        assert decode.main([str(tmp_path / "s.snc"), "-o", str(out), "--layout", layout]) == 0
        assert sf.info(str(out)).channels == channels


def test_binaural_block_render_equals_per_source_convolution():
    rng = np.random.default_rng(6)
    srcs = [(rng.standard_normal(5000), 30.0, 0.0), (rng.standard_normal(5000), -75.0, 20.0)]
    ref = Binaural(RATE)
    want = sum(convolved(ref, s, az, el) for s, az, el in srcs)
    b = Binaural(RATE)
    got = np.concatenate([b.render([(s[:1234], az, el) for s, az, el in srcs]),
                          b.render([(s[1234:], az, el) for s, az, el in srcs])])
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_player_renders_layouts_and_ramps_between_positions():
    t = np.arange(2 * RATE) / RATE
    stems = {"vocals": 0.3 * np.sin(2 * np.pi * 330 * t)[:, None] * [1, 1],
             "bass": 0.3 * np.sin(2 * np.pi * 55 * t)[:, None] * [1, 1]}
    buf = _file(stems)
    with snc.open(buf) as f:
        player = f.player(blocksize=2000, layout="binaural")
        blocks = []
        for i, block in enumerate(player):
            blocks.append(block)
            if i == 10:
                player.set(layout="binaural", positions={"vocals": (90, 0)})
        y = np.concatenate(blocks)
        assert y.shape == (len(t), 2)
        np.testing.assert_allclose(y[:20_000], f.render(layout="binaural", frames=20_000), atol=1e-9)
        assert np.abs(np.diff(y, axis=0)).max() < 0.1  # the move is crossfaded: no jump
        late = y[-RATE // 2:]
        assert np.sum(late[:, 0] ** 2) > 2 * np.sum(late[:, 1] ** 2)  # the vocals now on the left
        with pytest.raises(snc.InputError, match="output channels"):
            player.set(layout="5.1")


@pytest.mark.parametrize("layout", ["5.1", "binaural"])
def test_render_blocks_of_a_layout_have_the_asked_size(layout):
    rng = np.random.default_rng(7)
    with snc.open(_file({"s0": rng.standard_normal((10_000, 2)) * 0.3})) as f:
        sizes = [len(b) for b in f.render_blocks(1000, layout=layout)]
        assert sizes == [1000] * 10
        sizes = [len(b) for b in f.render_blocks(3000, layout=layout, target_lufs=-20)]
        assert sizes == [3000, 3000, 3000, 1000]


@pytest.mark.parametrize("rate", [1, 16, 7999, 44101])
def test_renders_end_at_any_sample_rate_a_file_declares(rate):
    """A binaural render of a 1 Hz file never ended (a resampling filter of 882001 taps per HRIR)."""
    import dataclasses

    with snc.open(_file({"s0": np.random.default_rng(8).standard_normal((3000, 2)) * 0.3})) as f:
        f.container.info = dataclasses.replace(f.info, sample_rate=rate)  # as a crafted file would say
        if rate < 8000:
            with pytest.raises(snc.InputError, match="binaural rendering needs a sample rate"):
                f.render(layout="binaural")
        else:
            assert f.render(layout="binaural").shape == (3000, 2)
        for kw in ({"layout": "5.1"}, {"solo": ["s0"]}):
            assert np.isfinite(f.render(**kw)).all()
        assert len(np.concatenate(list(f.player(blocksize=700, layout="stereo")))) == 3000
