"""The song's composition, independent of the sample rate: key, chord progression, patterns, random streams."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor (aeolian) scale steps
#: Chord progressions as scale degrees of diatonic triads (0 = i).
PROGRESSIONS = ((0, 5, 2, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 6, 5, 6))

#: Bass patterns on an eighth-note grid: (slot, length in eighths, chord tone: 0 root, 1 octave, 2 fifth).
BASS_PATTERNS = (
    ((0, 2, 0), (2, 1, 0), (3, 1, 1), (4, 2, 0), (6, 1, 2), (7, 1, 0)),
    ((0, 3, 0), (3, 1, 0), (4, 2, 0), (6, 2, 1)),
    ((0, 1, 0), (1, 1, 0), (2, 1, 1), (3, 1, 0), (4, 1, 0), (5, 1, 2), (6, 1, 1), (7, 1, 0)),
    ((0, 4, 0), (5, 1, 0), (6, 1, 2), (7, 1, 1)),
)
#: Kick patterns on a sixteenth grid.
KICK_PATTERNS = ((0, 8), (0, 8, 10), (0, 6, 8), (0, 3, 8, 11), (0, 7, 8))

_STREAM_IDS = {"plan": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4, "dither": 5,
               "drums-noise": 6, "vocals-noise": 7}


def midi_hz(m):
    """MIDI note number(s) -> Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * np.exp((np.asarray(m, dtype=np.float64) - 69.0) * (math.log(2.0) / 12.0))


def degree_midi(tonic: int, degree: int) -> int:
    """MIDI note of scale ``degree`` (any integer, 7 per octave) above ``tonic``."""
    octave, step = divmod(int(degree), 7)
    return tonic + 12 * octave + MINOR[step]


def roman(degree: int) -> str:
    """Roman numeral of a natural-minor diatonic triad."""
    names = ("i", "ii°", "III", "iv", "v", "VI", "VII")
    return names[degree % 7]


def stream(seed: int, name: str) -> np.random.Generator:
    """Independent, named PCG64 stream derived from ``seed``: one per instrument, so each part's
    randomness stays the same whatever the others draw."""
    return np.random.default_rng([seed, _STREAM_IDS[name]])


@dataclass
class Plan:
    """What every instrument plays along to: tempo (BPM), key (tonic pitch class of a minor key),
    chord progression (scale degrees, one chord per bar, repeated) and the number of bars."""

    tempo: float
    tonic_pc: int
    progression: tuple
    n_bars: int

    @property
    def beat(self) -> float:
        return 60.0 / self.tempo

    @property
    def bar(self) -> float:
        return 4.0 * self.beat

    def chord_degree(self, bar: int) -> int:
        return self.progression[bar % len(self.progression)]


def plan_song(seed: int, tempo: float, seconds: float) -> Plan:
    """Choose key and progression from ``seed``; enough bars to cover ``seconds`` (and one more)."""
    prng = stream(seed, "plan")
    tonic_pc = int(prng.integers(12))
    progression = PROGRESSIONS[int(prng.integers(len(PROGRESSIONS)))]
    bar = 240.0 / tempo
    return Plan(tempo=float(tempo), tonic_pc=tonic_pc, progression=progression,
                n_bars=int(math.ceil(seconds / bar)) + 1)
