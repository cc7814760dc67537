"""What a user gets must not change while the code is reorganised (issue 17).

A fixed set of encodes (every preset, with and without stems, separated, a bitrate target, 24-bit,
mono, six channels, float input) and the decode of every golden vector, each reduced to the sha256
of its bytes and compared with ``tests/fixtures/invariant.json``.  The inputs are made with integer
arithmetic only, so they are the same on any machine.

A change that is meant to alter the output regenerates the table on purpose:
``SNC_REGEN_INVARIANT=1 python3 -m pytest tests/test_invariant.py`` and says why in its commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import snc

TABLE = Path(__file__).parent / "fixtures" / "invariant.json"
VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"
REGEN = os.environ.get("SNC_REGEN_INVARIANT") == "1"
RATE = 44100


def _smooth_noise(rng, frames: int, channels: int, amp: int, width: int) -> np.ndarray:
    """Low-passed integer noise (a moving sum of ``width`` samples): music-like enough for the
    perceptual model to allocate, and exact integer arithmetic."""
    raw = rng.integers(-amp, amp + 1, (frames + width - 1, channels)).astype(np.int64)
    csum = np.cumsum(np.vstack([np.zeros((1, channels), np.int64), raw]), axis=0)
    return (csum[width:] - csum[:-width]) // width


def _song(seed: int, frames: int, channels: int, bits: int, compressed: bool = False):
    """Three stems (a slow 'bass', a mid 'vocals', a bright 'drums' with bursts) and a mix that is
    their sum, softly clipped by an integer 'master' (a non-trivial residual); ``compressed``: the sum
    first goes through a slow integer gain, as a compressor's (the file gets a master stream)."""
    rng = np.random.default_rng(seed)
    full = 1 << (bits - 1)
    amp = full // 2
    bass = _smooth_noise(rng, frames, channels, amp, 64)
    vocals = _smooth_noise(rng, frames, channels, amp, 8)
    drums = _smooth_noise(rng, frames, channels, amp, 2)
    gate = (np.arange(frames) // 4410) % 2 == 0
    drums[~gate] //= 16
    total = bass + vocals + drums
    if compressed:
        ramp = np.arange(frames, dtype=np.int64) % 22050
        gain = 12000 + 8 * np.minimum(ramp, 22050 - ramp) // 11  # Q14, 0.73 .. 1.23 and back twice a second
        total = (total * gain[:, None]) >> 14
    knee = full // 2
    over = np.abs(total) > knee
    mastered = np.where(over, np.sign(total) * (knee + (np.abs(total) - knee) // 4), total)
    mix = np.clip(mastered, -full, full - 1).astype(np.int32)
    stems = {"vocals": vocals.astype(np.int32), "drums": drums.astype(np.int32), "bass": bass.astype(np.int32)}
    return mix, stems


def _sha(data) -> str:
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return hashlib.sha256(data).hexdigest()


# name: (preset, channels, bits, with stems, extra encode options)
ENCODES = {
    "archival-stems": ("archival", 2, 16, True, {}),
    "lossless-stems": ("lossless", 2, 16, True, {}),
    "transparent-stems": ("transparent", 2, 16, True, {}),
    "compact-stems": ("compact", 2, 16, True, {}),
    "archival-mix": ("archival", 2, 16, False, {}),
    "lossless-mix": ("lossless", 2, 16, False, {}),
    "transparent-mix": ("transparent", 2, 16, False, {}),
    "compact-mix": ("compact", 2, 16, False, {}),
    "transparent-dsp": ("transparent", 2, 16, False, {"separator": "dsp"}),
    "archival-dsp": ("archival", 2, 16, False, {"separator": "dsp"}),
    "transparent-bitrate": ("transparent", 2, 16, True, {"bitrate": 96}),
    "transparent-24bit": ("transparent", 2, 24, True, {}),
    "archival-24bit": ("archival", 2, 24, True, {}),
    "transparent-mono": ("transparent", 1, 16, True, {}),
    "archival-mono": ("archival", 1, 16, True, {}),
    "transparent-6ch": ("transparent", 6, 16, True, {}),
    "archival-6ch": ("archival", 6, 16, True, {}),
    "transparent-tags-lead": ("transparent", 2, 16, True,
                              {"tags": {"TITLE": "t", "ARTIST": "a"}, "lead": "vocals", "remix_headroom": 9.0}),
    "transparent-float": ("transparent", 2, "float32", True, {}),
    "archival-float": ("archival", 2, "float32", True, {}),
    "archival-compressed": ("archival", 2, 16, "compressed", {}),
    "transparent-compressed": ("transparent", 2, 16, "compressed", {}),
}


def _inputs(name: str):
    preset, channels, bits, with_stems, extra = ENCODES[name]
    # the seeds of issue 17's twenty encodes are their sorted positions among themselves; later ones count from 100
    first = sorted(n for n, e in ENCODES.items() if e[3] != "compressed")
    seed = first.index(name) if name in first else 100 + sorted(set(ENCODES) - set(first)).index(name)
    if bits == "float32":
        mix, stems = _song(seed, 66150, channels, 24)
        scale = np.float32(1 << 23)
        mix = (mix.astype(np.float32) / scale).astype(np.float32)
        stems = {k: (v.astype(np.float32) / scale).astype(np.float32) for k, v in stems.items()}
        bits_arg = None
    else:
        mix, stems = _song(seed, 66150, channels, bits, compressed=with_stems == "compressed")
        bits_arg = bits
    return preset, mix, (stems if with_stems else None), bits_arg, dict(extra)


def _outputs(path: Path) -> dict[str, str]:
    """The file's bytes and everything a player reads from it."""
    out = {"file": _sha(path.read_bytes())}
    with snc.open(path) as f:
        out["mix"] = _sha(f.read())
        for stem in f.stems:
            out[f"stem:{stem}"] = _sha(f.read(stem=stem))
        if f.stems:
            out["remix"] = _sha(f.read(gains={f.stems[0]: -6.0}, mute=[f.stems[-1]], dtype="float64"))
            with warnings.catch_warnings():  # files without a 'vocals' stem say karaoke has no lead to mute
                warnings.simplefilter("ignore", snc.SncWarning)
                out["karaoke"] = _sha(f.render(profile="karaoke").astype(np.float64))
            if f.channels <= 2:
                out["binaural"] = _sha(f.render(layout="binaural").astype(np.float64))
    return out


def _table() -> dict:
    return json.loads(TABLE.read_text()) if TABLE.exists() else {}


def _check(key: str, got: dict) -> None:
    table = _table()
    if REGEN:
        table[key] = got
        TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        return
    assert key in table, f"no stored hashes for {key}: regenerate with SNC_REGEN_INVARIANT=1"
    assert got == table[key], f"{key}: output changed: " + ", ".join(
        k for k in sorted(set(got) | set(table[key])) if got.get(k) != table[key].get(k))


@pytest.mark.parametrize("name", sorted(ENCODES))
def test_encode_output_unchanged(name, tmp_path):
    preset, mix, stems, bits, extra = _inputs(name)
    path = tmp_path / f"{name}.snc"
    snc.encode(mix, path, stems=stems, samplerate=RATE, bits=bits, preset=preset, **extra)
    _check(f"encode:{name}", _outputs(path))


VECTOR_FILES = sorted(p for kind in ("valid", "uncommon") for p in (VECTORS / kind).glob("*.snc"))


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vector_decode_unchanged(path):
    got = _outputs(path)
    del got["file"]  # the vector's own bytes are checked by tests/container/test_vectors.py
    _check(f"vector:{path.parent.name}/{path.name}", got)
