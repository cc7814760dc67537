"""The built-in separator, the chunked separation driver and separation on encode (issue 5)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import scipy.ndimage as ndimage

import snc
from snc.kernels.median import median_rows
from snc.separate import SEPARATORS, dsp, get_separator, separate_mix
from snc.separate.dsp import DspSeparator

RATE = 44100


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref.ravel().astype(np.float64), est.ravel().astype(np.float64)
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / ((est - target) @ (est - target))))


def synthetic_song(seconds: float = 4.0, seed: int = 0):
    """Four known stems: a sustained 55 Hz bass with harmonics, noise-burst drums every 0.25 s,
    a centred vibrato voice at 300 Hz, and a wide chord in the other stem (one side louder)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    bass = sum(0.25 / k * np.sin(2 * np.pi * 55 * k * t) for k in (1, 2, 3))
    drums = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        i = int(start * RATE)
        n = min(3000, len(t) - i)
        drums[i:i + n] += 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / 400)
    f0 = 300 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(0.1 / k * np.sin(k * phase) for k in range(1, 6))
    chord = sum(0.08 * np.sin(2 * np.pi * f * t + p) for f, p in ((523, 0.3), (659, 1.1), (784, 2.0)))
    stems = {
        "bass": np.stack([bass, bass], 1),
        "drums": np.stack([drums, drums], 1),
        "vocals": np.stack([voice, voice], 1),
        "other": np.stack([chord, 0.2 * chord], 1),
    }
    return sum(stems.values()), stems


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,k", [((7, 50), 7), ((3, 4), 9), ((1, 1), 3), ((40, 300), 17), ((5, 30), 1)])
def test_median_kernel_equals_scipy(shape, k, dtype):
    rng = np.random.default_rng(k)
    x = rng.standard_normal(shape).astype(dtype)
    x[:, ::4] = 0.5  # ties
    assert median_rows(x, k).dtype == dtype
    assert np.array_equal(median_rows(x, k), ndimage.median_filter(x, size=(1, k), mode="nearest"))


def test_median_kernel_rejects_even_windows():
    with pytest.raises(ValueError):
        median_rows(np.zeros((2, 5)), 4)


@pytest.mark.parametrize("n", [1, 5, 2047, 2048, 2049, 4095, 10_000])
def test_stft_round_trip_at_every_length(n):
    # regression: with the last frame before the end, the window sum vanished near the end and the
    # inverse divided by ~0 (a 45 s file's drums reached 94x full scale in their last second)
    x = np.random.default_rng(n).standard_normal((n, 2))
    y = dsp.istft(dsp.stft(x, 4096).astype(np.complex128), 4096, n)
    assert np.abs(x - y).max() < 1e-5


# ----------------------------------------------------------------------------- the separator


def test_masks_are_a_partition_of_unity():
    mix, _ = synthetic_song(1.0)
    spectra = dsp.stft(mix, 4096)
    masks = DspSeparator().masks(spectra, RATE, 4096)
    assert set(masks) == {"vocals", "drums", "bass", "other"}
    total = sum(masks.values())
    assert np.allclose(total, 1.0, atol=1e-5)
    assert all((m >= -1e-6).all() for m in masks.values())
    # single precision throughout: a float64 weight would double every mask and masked spectrum (the
    # separator's memory, docs/scaling.md)
    assert spectra.dtype == np.complex64 and all(m.dtype == np.float32 for m in masks.values())
    assert dsp.istft(spectra * masks["bass"], 4096, len(mix)).dtype == np.float32


def test_a_chunk_is_a_count_of_samples_at_any_rate():
    sep = DspSeparator()
    assert sep.chunk_frames(44100) == sep.chunk_frames(96000) == sep.chunk_frames(192000) == 1 << 20
    assert sep.context_seconds > sep.context_after_seconds > 0


def test_dsp_separates_a_synthetic_song():
    mix, stems = synthetic_song()
    est = DspSeparator().separate(mix, RATE)
    assert all(v.shape == mix.shape for v in est.values())
    assert np.allclose(sum(est.values()), mix, atol=1e-9)
    gains = {r: si_sdr(stems[r], est[r]) - si_sdr(stems[r], mix) for r in ("drums", "bass", "vocals")}
    # the target on real music is 3 dB on drums and bass; a synthetic song is far easier
    assert gains["drums"] > 6 and gains["bass"] > 6 and gains["vocals"] > 3, gains


def test_dsp_handles_mono_and_many_channels_and_silence():
    mix, _ = synthetic_song(1.0)
    sep = DspSeparator()
    mono = sep.separate(mix[:, :1], RATE)
    assert all(v.shape == (len(mix), 1) for v in mono.values())
    six = sep.separate(np.tile(mix, (1, 3)), RATE)
    assert all(v.shape == (len(mix), 6) for v in six.values())
    silent = sep.separate(np.zeros((5000, 2)), RATE)
    assert all(np.array_equal(v, np.zeros((5000, 2))) for v in silent.values())
    short = sep.separate(mix[:10], 8000)  # shorter than one frame, at the lowest rate
    assert np.allclose(sum(short.values()), mix[:10])


# ----------------------------------------------------------------------------- the chunked driver


def test_chunked_separation_matches_the_whole_and_sums_to_the_mix():
    mix, _ = synthetic_song(5.0)
    mix = np.round(mix * 2 ** 14).astype(np.int16)
    sep = DspSeparator()
    sep.chunk_samples, sep.context_seconds = RATE, 3.0
    events = []
    with separate_mix(mix, separator=sep, samplerate=RATE, progress=events.append) as result:
        folder = os.path.dirname(result.stems["drums"].array.filename)
        assert list(result.stems) == ["vocals", "drums", "bass", "other"]
        total = sum(s.array.astype(np.int64) for s in result.stems.values())
        assert np.array_equal(total, mix)  # the last stem is the mix minus the others
        whole = sep.separate(mix / 32768.0, RATE)
        for name in ("vocals", "drums", "bass"):
            err = result.stems[name].array / 32768.0 - whole[name]
            assert 10 * np.log10((whole[name] ** 2).sum() / (err ** 2).sum()) > 50  # int rounding only
        assert result.provenance == {"separator": "dsp", "separator_version": f"snc {snc.__version__} dsp 1"}
    assert not os.path.exists(folder)  # the memory-mapped stems are gone with the context
    done = [e["frames_done"] for e in events]
    assert done == sorted(done) and done[-1] == len(mix) and len(done) == 6  # 1 s chunks on the hop grid: 43008 frames
    assert {e["stage"] for e in events} == {"separate"}


def test_separator_errors():
    with pytest.raises(snc.InputError, match="unknown separator"):
        get_separator("magic")
    with pytest.raises(snc.InputError, match="--model applies to the demucs"):
        get_separator("dsp", model="x.th")
    with pytest.raises(snc.InputError, match="empty"):
        with separate_mix(np.zeros((0, 2), np.int16), separator="dsp", samplerate=RATE):
            pass
    assert SEPARATORS == ("auto", "dsp", "demucs", "none")


def _empty_caches(monkeypatch, root):
    for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(root))


def test_auto_falls_back_to_dsp_and_says_why(monkeypatch, tmp_path):
    _empty_caches(monkeypatch, tmp_path / "empty-cache")
    sep, note = get_separator("auto")
    assert sep.name == "dsp" and note.startswith("auto:") and "dsp" in note
    # a model asked for by the user is not silently replaced: its error is shown
    with pytest.raises(snc.SncError, match="demucs|no-such"):
        get_separator("auto", model=str(tmp_path / "no-such.th"))


def test_cheap_weight_check_looks_where_torch_and_huggingface_cache(monkeypatch, tmp_path):
    from snc.separate import demucs

    _empty_caches(monkeypatch, tmp_path)
    assert not demucs.weights_may_be_cached()
    hub = tmp_path / "hub" / "checkpoints"  # $TORCH_HOME/hub/checkpoints
    hub.mkdir(parents=True)
    (hub / "955717e8-8726e21a.th").write_bytes(b"not really")
    assert demucs.weights_may_be_cached()
    (hub / "955717e8-8726e21a.th").unlink()
    (tmp_path / "models--adefossez--HTDemucs").mkdir()  # $HF_HUB_CACHE/models--...
    assert demucs.weights_may_be_cached()


# ----------------------------------------------------------------------------- separation on encode


@pytest.mark.parametrize("preset", ["archival", "lossless", "transparent"])
def test_encode_with_dsp_stems(preset):
    mix, _ = synthetic_song(2.0)
    mix = np.round(mix * 2 ** 14).astype(np.int16)
    buf = io.BytesIO()
    report = snc.encode(mix, buf, samplerate=RATE, bits=16, preset=preset, separator="dsp")
    assert report.separator == "dsp" and report.separate_seconds > 0
    assert [s["name"] for s in report.streams] == ["vocals", "drums", "bass", "other", "residual"]
    buf.seek(0)
    with snc.open(buf) as f:
        info = f.describe()
        streams = {s["name"]: s for s in info["streams"]}
        assert streams["drums"]["provenance"] == "separated"
        assert streams["drums"]["provenance_detail"]["separator"] == "dsp"
        assert streams["residual"]["provenance"] == "residual"
        decoded = f.read(dtype="native")
    if preset != "transparent":  # separation never changes correctness: the mix stays exact
        assert np.array_equal(decoded[:, :], mix)
    else:
        err = decoded.astype(np.float64) - mix
        assert 10 * np.log10((mix.astype(np.float64) ** 2).sum() / (err ** 2).sum()) > 15


def test_user_stems_win_over_the_separator():
    mix, stems = synthetic_song(1.0)
    ints = {k: np.round(v * 2 ** 13).astype(np.int16) for k, v in stems.items()}
    mix = sum(v.astype(np.int32) for v in ints.values()).astype(np.int16)
    report = snc.encode(mix, io.BytesIO(), stems=ints, samplerate=RATE, bits=16, preset="archival", separator="dsp")
    assert report.separator is None
    assert [s["name"] for s in report.streams] == ["bass", "drums", "vocals", "other", "residual"]


def test_cli_separates_by_default_and_info_shows_provenance(tmp_path, capsys):
    import soundfile as sf

    from snc.cli import encode as encode_cli
    from snc.cli import info as info_cli

    mix, _ = synthetic_song(1.0)
    wav = tmp_path / "song.wav"
    sf.write(wav, mix * 0.5, RATE, subtype="PCM_16")
    out = tmp_path / "song.snc"
    env = {v: str(tmp_path / "no-cache") for v in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        assert encode_cli.main([str(wav), "-o", str(out), "--preset", "lossless"]) == 0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = capsys.readouterr().out
    assert "stems separated with dsp" in text and "auto:" in text
    assert info_cli.main([str(out)]) == 0
    text = capsys.readouterr().out
    assert f"separated by dsp (snc {snc.__version__} dsp 1)" in text


def test_separated_last_stem_is_coded_as_the_rest_of_the_mix(monkeypatch):
    """transparent + a separator: ``other`` is coded from the mix minus the other *decoded* stems, and the
    residual, holding only the rest's coding noise, gets an infinite budget (spec codec-perceptual.md 9)."""
    from snc.codecs.perceptual import PerceptualCodec

    seen = []
    real = PerceptualCodec.encode

    def spy(self, block, noise=None, *args, **kwargs):
        seen.append((np.array(block), None if noise is None else np.array(noise)))
        return real(self, block, noise, *args, **kwargs)

    monkeypatch.setattr(PerceptualCodec, "encode", spy)
    mix, _ = synthetic_song(2.0)
    mix = np.round(mix * 2 ** 14).astype(np.int16)
    buf = io.BytesIO()
    report = snc.encode(mix, buf, samplerate=RATE, bits=16, preset="transparent", separator="dsp",
                        segment_frames=1 << 17)
    assert len(seen) == 5  # one segment: four stems and the residual
    buf.seek(0)
    with snc.open(buf) as f:
        named = {k: f.read(stem=k, dtype="native").astype(np.int64) for k in ("vocals", "drums", "bass")}
        decoded_mix = f.read(dtype="native").astype(np.int64)
    rest = mix.astype(np.int64) - sum(named.values())
    assert np.array_equal(seen[3][0], rest)
    assert np.isinf(seen[4][1]).all()
    sizes = {s["name"]: s["bytes"] for s in report.streams}
    assert sizes["residual"] < 0.01 * report.file_bytes < sizes["other"]
    err = decoded_mix - mix
    assert 10 * np.log10((mix.astype(np.float64) ** 2).sum() / (err ** 2).sum()) > 15


def test_rest_of_mix_clips_and_says_so():
    from snc.encode.residual import rest_of_mix as _rest_of_mix
    from snc.signal.audio_io import AudioFormat

    fmt = AudioFormat(sample_rate=RATE, channels=1, sample_format="int", bits=16)
    mix = np.array([[30000], [-30000], [5]], dtype=np.int16)
    decoded = [np.array([[-5000], [5000], [2]], dtype=np.int16)]
    block, clipped = _rest_of_mix(mix, decoded, fmt, np.int64)
    assert clipped and block.dtype == np.int16 and block[:, 0].tolist() == [32767, -32768, 3]
    block, clipped = _rest_of_mix(mix, [np.zeros_like(mix)], fmt, np.int64)
    assert not clipped and np.array_equal(block, mix)


def test_separated_tuning_only_where_a_preset_sets_it():
    from snc.encode.tuning import PERCEPTUAL_TUNING

    t = PERCEPTUAL_TUNING["transparent"].for_separated()
    assert (t.speech_snr_db, t.stem_snr_db, t.lead_snr_db) == (22.0, 12.0, 12.0)
    assert t.noise_alone == PERCEPTUAL_TUNING["transparent"].separated_noise
    for preset in ("compact", "lossless"):  # not measured there: the stems-and-residual path as before
        assert PERCEPTUAL_TUNING[preset].for_separated() == PERCEPTUAL_TUNING[preset]
