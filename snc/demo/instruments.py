"""The four instruments of the demo song, each rendered as a float ``(frames, channels)`` stem.

Drums (kick, snare, hi-hats), bass (saw + sub through a resonant low-pass), a four-voice chord pad
(``other``) and a formant-synthesised "voice" (``vocals``), each placed in the channels by
:func:`pan_gains`.

* Formants: G. E. Peterson & H. L. Barney, "Control methods used in a study of the vowels"
  (JASA 24, 1952), average formant frequencies; parallel formant resonators after D. H. Klatt,
  "Software for a cascade/parallel formant synthesizer" (JASA 67, 1980).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .arrangement import BASS_PATTERNS, KICK_PATTERNS, Plan, degree_midi, midi_hz, stream
from .voices import adsr_line, butter, delay, increment, noise, overlay, phase, saw, saw_kernel, svf

#: Peterson & Barney (1952) average F1..F3 (Hz) for /a/, /e/, /i/, /o/, /u/.
VOWELS = np.array([
    [730.0, 1090.0, 2440.0],
    [530.0, 1840.0, 2480.0],
    [270.0, 2290.0, 3010.0],
    [570.0, 840.0, 2410.0],
    [300.0, 870.0, 2240.0],
])
FORMANT_BW = np.array([80.0, 100.0, 140.0])
FORMANT_GAIN = np.array([1.0, 0.55, 0.3])


def pan_gains(pan: float, channels: int, spread: float = 0.12) -> np.ndarray:
    """Channel gains of a mono source at ``pan`` in [-1, 1] (unit total power).

    Channels sit evenly on [-1, 1] (one channel: all gain to it).  The source is
    panned with the constant-power sine law between its two neighbouring
    channels (1-D VBAP; plain stereo panning for 2 channels), plus a small
    ``spread`` bleed into every channel so no channel is silent.
    """
    if channels == 1:
        return np.ones(1)
    pos = np.linspace(-1.0, 1.0, channels)
    p = float(np.clip(pan, -1.0, 1.0))
    i = min(int(np.searchsorted(pos, p, side="right")) - 1, channels - 2)
    frac = (p - pos[i]) / (pos[i + 1] - pos[i])
    g = np.full(channels, spread)
    g[i] += math.cos(frac * math.pi / 2)
    g[i + 1] += math.sin(frac * math.pi / 2)
    return g / np.sqrt(np.sum(g * g))


def spatialize(components, channels: int) -> np.ndarray:
    """Mix mono ``(signal, pan)`` components into a ``(frames, channels)`` array."""
    n = len(components[0][0])
    out = np.zeros((n, channels))
    tmp = np.empty(n)  # one scratch buffer: large temporaries are costly to allocate
    for sig, pan in components:  # a few axpy passes; tiny matmuls are slow in BLAS
        for c, g in enumerate(pan_gains(pan, channels)):
            np.multiply(sig, g, out=tmp)
            out[:, c] += tmp
    return out


def render_drums(plan: Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """Kick (pitch-swept sine + click), snare (tone + band-passed noise), hi-hats
    (high-passed noise, closed hats choke the open one)."""
    rng = stream(seed, "drums")
    nrng = stream(seed, "drums-noise")
    step = plan.beat / 4.0  # sixteenth note, seconds
    kick_pat = KICK_PATTERNS[int(rng.integers(len(KICK_PATTERNS)))]
    sixteenth_hats = bool(rng.random() < 0.5)
    kicks, snares, hats = [], [], []  # (time s, velocity[, open])
    for b in range(plan.n_bars):
        t0 = b * plan.bar
        fill = b % 4 == 3
        for s in kick_pat:
            kicks.append((t0 + s * step, 1.0 if s in (0, 8) else 0.8))
        if rng.random() < 0.25:  # occasional extra kick
            kicks.append((t0 + 14 * step, 0.7))
        for s in (4, 12):
            snares.append((t0 + s * step, 1.0))
        for s in (7, 9, 15):  # ghost notes
            if rng.random() < 0.3 and not (fill and s == 15):
                snares.append((t0 + s * step, 0.22 + 0.1 * rng.random()))
        if fill:  # a short snare roll into the next phrase
            for s, v in ((13, 0.5), (14, 0.7), (15, 0.9)):
                snares.append((t0 + s * step, v))
        hat_steps = range(16) if sixteenth_hats else range(0, 16, 2)
        for s in hat_steps:
            accent = 1.0 if s % 4 == 0 else (0.75 if s % 2 == 0 else 0.5)
            is_open = s == 14 and rng.random() < 0.5
            hats.append((t0 + s * step, accent * (0.9 + 0.1 * rng.random()), is_open))

    def onset_samples(events):
        ev = sorted(events, key=lambda e: e[0])
        on = np.array([int(round(e[0] * sr)) for e in ev], dtype=np.int64)
        return ev, on

    # Kick: sine with exponential pitch sweep 150 -> 48 Hz (phase integrated in
    # closed form), exponential decay, tanh drive and a 4 ms noise click.
    tl = np.arange(int(0.45 * sr)) / sr
    f_hi, f_lo, tau_p = 150.0, 48.0, 0.035
    ph = 2 * np.pi * (f_lo * tl + (f_hi - f_lo) * tau_p * (1 - np.exp(-tl / tau_p)))
    body = np.sin(ph) * np.exp(-tl / 0.13) * (1.0 - tl / tl[-1]) ** 2 if len(tl) else tl
    click = noise(nrng, len(tl)) * np.exp(-tl / 0.004)
    click = signal.sosfilt(butter("highpass", 1500.0, sr), click)
    kick_t = np.tanh(1.8 * (body + 0.35 * click)) / np.tanh(1.8)
    kick = np.zeros(n)
    ev, on = onset_samples(kicks)
    overlay(kick, on, kick_t, [e[1] for e in ev])

    # Snare: two damped partials + band-passed noise with its own decay.
    tl = np.arange(int(0.35 * sr)) / sr
    tone = (np.sin(2 * np.pi * 185 * tl) + 0.6 * np.sin(2 * np.pi * 330 * tl)) * np.exp(-tl / 0.05)
    noise_env_t = np.exp(-tl / 0.11) * (1.0 - tl / tl[-1])
    ev, on = onset_samples(snares)
    vel = [e[1] for e in ev]
    snare_tone = np.zeros(n)
    overlay(snare_tone, on, tone, vel)
    snare_env = np.zeros(n)
    overlay(snare_env, on, noise_env_t, vel)
    snare_noise = signal.sosfilt(butter("bandpass", [900.0, 9000.0], sr), noise(nrng, n))
    snare = 0.35 * snare_tone + 0.9 * snare_noise * snare_env

    # Hi-hats: one high-passed noise line with a choking envelope (each hit
    # replaces the previous one, like a real hi-hat), closed 30 ms / open 250 ms.
    ev, on = onset_samples(hats)
    tl = np.arange(int(0.6 * sr)) / sr
    closed_t = np.exp(-tl[: int(0.2 * sr)] / 0.03)
    open_t = np.exp(-tl / 0.25) * (1.0 - tl / tl[-1])
    hat_env = np.zeros(n)
    overlay(hat_env, on, [open_t if e[2] else closed_t for e in ev], [e[1] for e in ev],
             choke=True)
    hat_noise = signal.sosfilt(butter("highpass", min(7000.0, 0.3 * sr), sr, order=4),
                               noise(nrng, n))
    hat = 0.35 * hat_noise * hat_env

    return spatialize([(0.6 * kick, 0.0), (0.45 * snare, -0.12), (hat, 0.35)], channels)


def render_bass(plan: Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """Saw + sub sine through a resonant low-pass with a per-note filter envelope."""
    rng = stream(seed, "bass")
    eighth = plan.beat / 2.0
    tonic = 28 + (plan.tonic_pc - 4) % 12  # E1 .. D#2
    onsets, gates, vels, notes = [], [], [], []
    for b in range(plan.n_bars):
        deg = plan.chord_degree(b)
        root = degree_midi(tonic, deg)
        tones = (root, root + 12, degree_midi(tonic, deg + 4))
        pat = BASS_PATTERNS[int(rng.integers(len(BASS_PATTERNS)))]
        for slot, length, tone in pat:
            onsets.append(int(round((b * plan.bar + slot * eighth) * sr)))
            gates.append(0.85 * length * eighth)
            vels.append(1.0 if slot % 2 == 0 else 0.8)
            notes.append(tones[tone])
    env, idx, t = adsr_line(n, sr, onsets, gates, vels, A=0.004, D=0.15, S=0.6, R=0.04)
    freq = midi_hz(np.asarray(notes))[np.maximum(idx, 0)]
    dt = increment(freq, sr)
    wave = saw_kernel(dt, 0.0)
    v = np.asarray(vels)[np.maximum(idx, 0)]
    cutoff = 110.0 + 1400.0 * v * np.exp(-t / 0.08)
    wave *= env
    tone = svf(wave, cutoff, 1.6, sr, "low")
    sub = phase(dt)
    sub *= 2 * np.pi
    np.sin(sub, out=sub)
    sub *= env
    tone += 0.5 * sub
    tone = np.tanh(1.2 * tone) / np.tanh(1.2)
    return spatialize([(0.45 * tone, 0.0)], channels)


def render_other(plan: Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """A four-voice pad: detuned saws per voice, voice-led chords one per bar,
    low-passed, voices spread across the stereo field."""
    rng = stream(seed, "other")
    tonic = 48 + plan.tonic_pc  # C3 .. B3
    voicings = []
    prev = None
    for b in range(plan.n_bars):
        deg = plan.chord_degree(b)
        pcs = [degree_midi(tonic, deg + 2 * i) % 12 for i in range(3)]
        # candidate close voicings (4 notes, top note doubles the lowest tone)
        cands = []
        for low in range(52, 64):
            if low % 12 not in pcs:
                continue
            v = [low]
            while len(v) < 4:
                nxt = v[-1] + 1
                while nxt % 12 not in pcs:
                    nxt += 1
                v.append(nxt)
            cands.append(v)
        if prev is None:
            choice = cands[int(rng.integers(len(cands)))]
        else:
            choice = min(cands, key=lambda v: sum(abs(a - c) for a, c in zip(v, prev)))
        voicings.append(choice)
        prev = choice
    voicings = np.array(voicings, dtype=np.float64)  # (bars, 4)
    onsets = [int(round(b * plan.bar * sr)) for b in range(plan.n_bars)]
    gates = [plan.bar - 0.06] * plan.n_bars
    vels = [0.85 + 0.15 * rng.random() for _ in range(plan.n_bars)]
    env, idx, _ = adsr_line(n, sr, onsets, gates, vels, A=0.08, D=0.8, S=0.7, R=0.3)
    lp = butter("lowpass", 2200.0, sr)
    pans = (-0.6, -0.2, 0.25, 0.65)
    components = []
    bar_of = np.maximum(idx, 0)
    detune = 2.0 ** (7 / 1200)  # +-7 cents
    for vi in range(4):
        f = midi_hz(voicings[:, vi])[bar_of]
        tone = saw(f * detune, sr, 0.13 * vi)
        tone += saw(f / detune, sr, 0.5 + 0.11 * vi)
        components.append((0.09 * tone, pans[vi]))
    out = spatialize(components, channels)
    out *= env[:, None]
    out = signal.sosfilt(lp, out, axis=0)  # linear, so once after panning
    return out


def render_vocals(plan: Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """A "singer": glided melody with delayed vibrato, band-limited saw (glottal
    source stand-in) + breath noise through three parallel formant resonators
    whose frequencies glide between vowels; syllable envelopes, fricative
    onsets, phrase gaps, and a ping-pong echo."""
    rng = stream(seed, "vocals")
    nrng = stream(seed, "vocals-noise")
    eighth = plan.beat / 2.0
    tonic = 60 + plan.tonic_pc  # C4 .. B4
    onsets, gates, degrees, vowels, fric = [], [], [], [], []
    deg = 2
    for p in range(0, plan.n_bars, 2):  # two-bar phrases
        pos = 0
        while pos < 13:
            if pos > 0 and rng.random() < 0.12:
                pos += 1  # a breath
                continue
            length = min(int(rng.choice((1, 1, 2, 2, 3, 4))), 14 - pos)
            bar = p + pos // 8
            if pos % 2 == 0:  # strong eighth: nearest chord tone
                cd = plan.chord_degree(bar)
                chord = [cd + 7 * o + i for o in (-1, 0, 1) for i in (0, 2, 4)]
                target = deg + int(rng.integers(-2, 3))
                deg = min(chord, key=lambda c: (abs(c - target), c))
            else:
                deg += int(rng.choice((-2, -1, -1, 1, 1, 2)))
            deg = int(np.clip(deg, -2, 8))
            onsets.append(int(round((p * plan.bar + pos * eighth) * sr)))
            gates.append(0.8 * length * eighth)
            degrees.append(deg)
            vowels.append(int(rng.integers(len(VOWELS))))
            fric.append(rng.random() < 0.35 and pos > 0)
            pos += length
    onsets = np.asarray(onsets, dtype=np.int64)
    vel = 0.8 + 0.2 * rng.random(len(onsets))
    env, idx, t = adsr_line(n, sr, onsets, gates, vel, A=0.03, D=0.3, S=0.8, R=0.08)
    j = np.maximum(idx, 0)
    dt_ = 1.0 / sr

    def glide(x, tau):  # one-pole smoothing (portamento / formant transitions)
        a = math.exp(-dt_ / tau)
        return signal.lfilter([1 - a], [1, -a], x, zi=[a * x[0]])[0] if len(x) else x

    midi = np.array([degree_midi(tonic, d) for d in degrees], dtype=np.float64)
    pitch = glide(midi[j], 0.035)  # portamento between notes
    # Vibrato: 5.6 Hz, +-0.35 semitone, its depth fading in 150..400 ms into a note.
    tabs = np.arange(n) / sr
    vib = tabs * (2 * np.pi * 5.6)
    np.sin(vib, out=vib)
    depth = np.clip((t - 0.15) * (0.35 / 0.25), 0.0, 0.35)
    vib *= depth
    pitch += vib
    # Slow random pitch drift, a few cents: smoothed random values every 40 ms,
    # linearly interpolated (independent of the sample rate).
    grid = np.arange(int(n / sr / 0.04) + 3) * 0.04
    coarse = np.convolve(rng.random(len(grid) + 2) - 0.5, np.ones(3) / 3, mode="valid")
    pitch += np.interp(tabs, grid, 0.2 * coarse)
    del tabs, vib, depth
    source = saw(midi_hz(pitch), sr)
    source = signal.sosfilt(butter("lowpass", 4500.0, sr, order=1), source)
    breath = noise(nrng, n)
    source += 0.08 * breath  # aspiration
    source *= env
    # Three parallel formant band-passes (Klatt 1980), centre frequencies gliding
    # from vowel to vowel, bandwidths fixed.
    vowel_of = np.asarray(vowels)
    voice = np.zeros(n)
    for k in range(3):
        fk = glide(VOWELS[vowel_of, k][j], 0.03)
        band = svf(source, fk, fk / FORMANT_BW[k], sr, "band")
        band *= FORMANT_GAIN[k]
        voice += band
    # Fricative ("s"/"t") noise bursts at some syllable onsets.
    fric_env = np.exp(t * (-1.0 / 0.02))
    fric_env *= (np.asarray(fric, dtype=np.float64)[j] * 0.25) * ((idx >= 0) & (t < 0.08))
    hiss = signal.sosfilt(butter("highpass", min(4500.0, 0.35 * sr), sr, order=2), breath)
    hiss *= fric_env
    voice += hiss
    voice *= 1.2
    d1 = int(round(3 * eighth / 2 * sr))  # dotted-eighth echo left, quarter right
    d2 = int(round(2 * eighth * sr))
    echo1 = delay(voice, d1)
    echo1 *= 0.22
    echo2 = delay(voice, d2)
    echo2 *= 0.15
    return spatialize([(voice, -0.05), (echo1, -0.7), (echo2, 0.7)], channels)


#: The renderer of each stem, in the usual MUSDB order.
RENDERERS = {"drums": render_drums, "bass": render_bass, "other": render_other, "vocals": render_vocals}
