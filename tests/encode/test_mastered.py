"""Real-music cases of issue 18: mastered mixes (mix - sum(stems) loud, as after a compressor and limiter) and
hi-res input (96 kHz / 24-bit), through the whole encode and decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import CORPUS

import snc
from snc.demo.synth import synthesize_song


def _snr_db(ref, got) -> float:
    ref = ref.astype(np.float64)
    return 10 * np.log10((ref ** 2).sum() / max(((got.astype(np.float64) - ref) ** 2).sum(), 1e-30))


def _encode(mix, stems, preset, rate=44100, bits=16):
    buf = io.BytesIO()
    report = snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset=preset)
    buf.seek(0)
    return report, buf


@pytest.fixture(scope="module")
def mastered():
    song = synthesize_song(duration=2.0, seed=4)
    rest = song.mix.astype(np.float64) - sum(s.astype(np.float64) for s in song.stems.values())
    assert _snr_db(song.mix, song.mix - rest) < 30.0  # mastered: the rest is loud, not rounding
    return song


@pytest.mark.parametrize("preset", ["archival", "lossless"])
def test_mastered_mix_round_trips_exactly(mastered, preset):
    _, buf = _encode(mastered.mix, mastered.stems, preset)
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), mastered.mix)
        if preset == "archival":
            for name, stem in mastered.stems.items():
                assert np.array_equal(f.read(stem=name, dtype="native"), stem)
        assert all(f.verify()["streams"].values())


def test_mastered_transparent_keeps_the_mix_and_every_stem(mastered):
    from snc.encode.tuning import PERCEPTUAL_TUNING

    floor = PERCEPTUAL_TUNING["transparent"].stem_snr_db
    _, buf = _encode(mastered.mix, mastered.stems, "transparent")
    with snc.open(buf) as f:
        assert _snr_db(mastered.mix, f.read(dtype="native")) > 10.0
        for name, stem in mastered.stems.items():
            assert _snr_db(stem, f.read(stem=name, dtype="native")) >= floor - 0.5, name
        karaoke = f.render(profile="karaoke")
    assert karaoke.shape == mastered.mix.shape and np.isfinite(karaoke).all()


def test_hi_res_copy_costs_about_the_same_music(mastered):
    """A 96 kHz / 24-bit copy holds the same music: the perceptual presets spend no bits on what lies above
    hearing (its ultrasonic dither) or below every stem's bound (bench/hires.py measures the corpus)."""
    from scipy.signal import resample_poly

    def hires(x):
        y = resample_poly(x.astype(np.float64), 320, 147, axis=0) * 256.0
        return np.clip(np.round(y), -(1 << 23), (1 << 23) - 1).astype(np.int32)

    stems = {k: hires(v) for k, v in mastered.stems.items()}
    for preset in ("transparent", "compact"):
        low = _encode(mastered.mix, mastered.stems, preset)[0].file_bytes
        high = _encode(hires(mastered.mix), stems, preset, rate=96000, bits=24)[0].file_bytes
        assert high < 1.6 * low, (preset, high / low)


@pytest.mark.corpus
def test_corpus_mastered_item_lossless_is_exact():
    root = CORPUS / "lmms_skiessi_onion_limited"
    if not root.exists():
        pytest.skip(f"corpus item not found under {CORPUS}")
    import soundfile as sf

    n = 3 * 44100
    mix = sf.read(root / "mix.flac", dtype="int16", frames=n)[0].astype(np.int32)
    stems = {p.stem: sf.read(p, dtype="int16", frames=n)[0].astype(np.int32)
             for p in sorted((root / "stems").glob("*.flac"))}
    _, buf = _encode(mix, stems, "lossless")
    with snc.open(buf) as f:
        assert np.array_equal(f.read(dtype="native"), mix)
