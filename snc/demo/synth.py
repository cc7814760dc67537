"""Deterministic synthetic multitrack songs for the demo and the tests.

:func:`synthesize_song` renders a short pop-ish loop in a minor key as four stems -- ``drums``,
``bass``, ``other`` (a chord pad) and ``vocals`` (a formant-synthesised "voice") -- and a
*mastered* mix of them: the composition comes from :mod:`.arrangement`, the stems from
:mod:`.instruments`, the mastering chain and the dithered quantiser from :mod:`.mastering`.

Everything is generated from ``seed`` with NumPy's PCG64 generators
(:func:`numpy.random.default_rng`), so equal arguments give equal arrays on one machine.
(Transcendental functions come from the platform's libm, so other machines may differ in the
last bits before quantisation; stored test vectors carry their own audio.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .arrangement import NOTE_NAMES, plan_song, roman, stream
from .instruments import RENDERERS
from .mastering import master, quantize

__all__ = ["STEM_NAMES", "Song", "synthesize_song", "read_wav"]

#: Stem names, in the usual MUSDB order.
STEM_NAMES = tuple(RENDERERS)

_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}


@dataclass(eq=False)
class Song:
    """A rendered song: integer PCM mix and stems of identical shape.

    ``mix`` and every ``stems[name]`` are ``int32`` arrays of shape
    ``(frames, channels)`` holding signed ``bits``-bit samples, i.e. values in
    ``[-2**(bits-1), 2**(bits-1) - 1]``.  ``meta`` records what was generated
    (key, tempo, chord progression, seed); it is informational only.
    """

    samplerate: int
    bits: int
    mix: np.ndarray
    stems: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.mix.shape[0])

    @property
    def channels(self) -> int:
        return int(self.mix.shape[1])

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate

    def write(self, directory) -> dict[str, Path]:
        """Write ``mix.wav`` and ``stems/<name>.wav`` (PCM_16 / PCM_24) under ``directory``.

        Returns ``{"mix": path, "drums": path, ...}``.  The files hold the integer
        samples exactly; :func:`read_wav` reads them back bit for bit.
        """
        directory = Path(directory)
        (directory / "stems").mkdir(parents=True, exist_ok=True)
        paths = {"mix": directory / "mix.wav"}
        for name in self.stems:
            paths[name] = directory / "stems" / f"{name}.wav"
        _write_pcm(paths["mix"], self.mix, self.samplerate, self.bits)
        for name, data in self.stems.items():
            _write_pcm(paths[name], data, self.samplerate, self.bits)
        return paths


def _write_pcm(path: Path, data: np.ndarray, samplerate: int, bits: int) -> None:
    if bits not in _SUBTYPES:
        raise ValueError(f"bits must be 16 or 24, got {bits!r}")
    data = np.asarray(data)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if data.size and (data.min() < lo or data.max() > hi):
        raise ValueError(f"{path.name}: samples outside the signed {bits}-bit range")
    if bits == 16:
        out = data.astype(np.int16)
    else:
        # libsndfile maps int32 full scale onto 24 bits by dropping the low
        # byte, so left-align the 24-bit samples: exact, no rounding.
        out = data.astype(np.int32) << 8
    sf.write(str(path), out, samplerate, subtype=_SUBTYPES[bits], format="WAV")


def read_wav(path) -> tuple[np.ndarray, int, int]:
    """Read a PCM_16 / PCM_24 WAV written by :meth:`Song.write`.

    Returns ``(int32 array (frames, channels), samplerate, bits)`` with the
    samples right-aligned, i.e. exactly the arrays that were written.
    """
    info = sf.info(str(path))
    bits = {v: k for k, v in _SUBTYPES.items()}.get(info.subtype)
    if bits is None:
        raise ValueError(f"{path}: unsupported subtype {info.subtype}")
    # soundfile reads any PCM left-aligned in int32: shifting back gives the written integers
    data, sr = sf.read(str(path), dtype="int32", always_2d=True)
    return data >> (32 - bits), sr, bits


#: Common pre-mastering gain applied to every stem (sets the mix bus level).
_BUS_GAIN = 0.5
#: Largest allowed stem / bus peak before quantisation (safety scaling).
_MAX_PEAK = 0.95


def synthesize_song(*, duration: float = 8.0, samplerate: int = 44100, channels: int = 2,
                    bits: int = 16, seed: int = 0, tempo: float = 120.0) -> Song:
    """Render a deterministic multitrack song.

    Parameters: ``duration`` in seconds (> 0), ``samplerate`` in Hz (8000..192000
    tested), ``channels`` >= 1, ``bits`` 16 or 24, ``seed`` >= 0 (chooses key,
    chord progression, patterns, melody and all noise), ``tempo`` in BPM.

    Returns a :class:`Song` whose stems ``drums``, ``bass``, ``other``, ``vocals``
    and mastered ``mix`` are int32 arrays of shape ``(frames, channels)`` with
    ``frames = round(duration * samplerate)``.
    """
    if bits not in _SUBTYPES:
        raise ValueError(f"bits must be 16 or 24, got {bits!r}")
    if not isinstance(samplerate, (int, np.integer)) or samplerate < 1000:
        raise ValueError(f"samplerate must be an integer >= 1000, got {samplerate!r}")
    if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 255:
        raise ValueError(f"channels must be an integer in 1..255, got {channels!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not (math.isfinite(tempo) and 20.0 <= tempo <= 400.0):
        raise ValueError(f"tempo must be in 20..400 BPM, got {tempo!r}")
    duration = float(duration)
    if not math.isfinite(duration) or round(duration * samplerate) < 1:
        raise ValueError(f"duration too short or invalid: {duration!r}")
    n = int(round(duration * samplerate))
    samplerate, channels, seed = int(samplerate), int(channels), int(seed)

    plan = plan_song(seed, float(tempo), n / samplerate)
    floats = {}
    bus = np.zeros((n, channels))
    for name in STEM_NAMES:
        stem = RENDERERS[name](plan, n, samplerate, channels, seed)
        stem *= _BUS_GAIN
        bus += stem
        floats[name] = stem
    # Safety: keep every stem and the (unmastered) bus inside full scale.
    peak = max(_peak(a) for a in (bus, *floats.values()))
    if peak > _MAX_PEAK:
        for a in (bus, *floats.values()):
            a *= _MAX_PEAK / peak
    mixed = master(bus, samplerate)

    drng = stream(seed, "dither")
    stems = {name: quantize(floats[name], bits, drng) for name in STEM_NAMES}
    mix = quantize(mixed, bits, drng)
    meta = {
        "seed": seed,
        "tempo": float(tempo),
        "key": f"{NOTE_NAMES[plan.tonic_pc]} minor",
        "progression": [roman(d) for d in plan.progression],
    }
    return Song(samplerate=samplerate, bits=bits, mix=mix, stems=stems, meta=meta)


def _peak(a: np.ndarray) -> float:
    """max |a| without a temporary array."""
    return max(float(a.max()), -float(a.min())) if a.size else 0.0
