"""Sound sources of the demo's instruments: oscillator, time-varying filter, envelopes, noise, placement in time.

The per-sample recursions that neither NumPy nor scipy can express (a sawtooth with a per-sample
frequency, a filter whose cut-off moves every sample, an envelope that retriggers from its current
level) are numba kernels; fixed filters are scipy's.  tests/demo/references.py holds a plain
NumPy/Python reference of every kernel, which the tests compare with.

* Band-limited sawtooth: V. Välimäki & A. Huovilainen, "Antialiasing oscillators in subtractive
  synthesis" (IEEE Signal Processing Magazine, 2007), the two-sample polynomial BLEP residual.
* State-variable filter: A. Simper, "Linear trapezoidal integrated SVF" (Cytomic, 2013);
  V. Zavalishin, *The Art of VA Filter Design* (2012), ch. 4 (TPT / zero-delay-feedback SVF).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import signal


def f64(a, n=None) -> np.ndarray:
    """Contiguous float64 copy/view; scalars are broadcast to length ``n``."""
    a = np.asarray(a, dtype=np.float64)
    if n is not None and a.ndim == 0:
        a = np.full(n, float(a))
    return np.ascontiguousarray(a)


def noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform white noise with unit variance (cheaper than Gaussian, sounds the same)."""
    return (rng.random(n) - 0.5) * math.sqrt(12.0)


def butter(kind: str, fc, samplerate: int, order: int = 2) -> np.ndarray:
    """Butterworth SOS (scipy) with cut-off(s) clipped to (20 Hz, 0.45*fs), so any rate works."""
    fc = np.clip(np.asarray(fc, dtype=np.float64), 20.0, 0.45 * samplerate)
    return signal.butter(order, fc, btype=kind, fs=samplerate, output="sos")


# ----------------------------------------------------------------------------- oscillator


@njit(cache=True)
def saw_kernel(dt, phase0):
    """Phase accumulator + polyBLEP sawtooth.

    ``dt`` is the per-sample phase increment in cycles (< 0.5), ``phase0`` the
    initial phase.  Returns the band-limited saw: ``2*phase - 1`` minus the
    two-sample polynomial BLEP residual around each wrap of the phase.
    """
    n = dt.shape[0]
    saw = np.empty(n)
    p = phase0 - math.floor(phase0)
    for i in range(n):
        d = dt[i]
        v = 2.0 * p - 1.0
        if p < d:
            t = p / d
            v -= 2.0 * t - t * t - 1.0
        elif p > 1.0 - d:
            t = (p - 1.0) / d
            v -= t * t + 2.0 * t + 1.0
        saw[i] = v
        p += d
        if p >= 1.0:
            p -= 1.0
    return saw


def phase(dt, phase0=0.0) -> np.ndarray:
    """Phase in cycles, [0, 1), of an oscillator with per-sample increment ``dt``."""
    ph = np.cumsum(dt)
    ph -= dt
    ph += phase0
    ph -= np.floor(ph)
    return ph


def increment(freq, samplerate: int) -> np.ndarray:
    """Per-sample phase increment (cycles) for ``freq`` in Hz, kept below 0.45*fs."""
    dt = np.minimum(f64(freq), 0.45 * samplerate)
    dt *= 1.0 / samplerate
    return dt


def saw(freq, samplerate: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited sawtooth with per-sample ``freq`` in Hz."""
    return saw_kernel(increment(freq, samplerate), float(phase0))


# ----------------------------------------------------------------------------- time-varying filter


@njit(cache=True)
def svf_kernel(x, g, k, mode):
    """Trapezoidal (zero-delay-feedback) state-variable filter.

    ``g = tan(pi*fc/fs)`` and ``k = 1/Q`` may change every sample.  Returns the
    low-pass (``mode`` 0), band-pass (1; peak gain ``1/k``) or high-pass (2) output.
    """
    n = x.shape[0]
    y = np.empty(n)
    ic1 = 0.0
    ic2 = 0.0
    for i in range(n):
        gi = g[i]
        ki = k[i]
        a1 = 1.0 / (1.0 + gi * (gi + ki))
        a2 = gi * a1
        a3 = gi * a2
        v3 = x[i] - ic2
        v1 = a1 * ic1 + a2 * v3
        v2 = ic2 + a2 * ic1 + a3 * v3
        ic1 = 2.0 * v1 - ic1
        ic2 = 2.0 * v2 - ic2
        if mode == 0:
            y[i] = v2
        elif mode == 1:
            y[i] = v1
        else:
            y[i] = x[i] - ki * v1 - v2
    return y


def svf(x, fc, q, samplerate: int, mode: str = "low") -> np.ndarray:
    """Time-varying SVF (``mode`` = ``"low"``, ``"band"`` -- unity peak gain -- or ``"high"``).

    ``fc`` (Hz) and ``q`` are scalars or per-sample arrays; ``fc`` is clipped to
    ``[10 Hz, 0.45*samplerate]`` so the filter stays well defined at any rate.
    """
    x = f64(x)
    n = x.shape[0]
    modes = {"low": 0, "band": 1, "high": 2}
    if mode not in modes:
        raise ValueError(f"unknown SVF mode {mode!r}")
    g = np.clip(f64(fc, n), 10.0, 0.45 * samplerate)
    g *= np.pi / samplerate
    np.tan(g, out=g)
    k = 1.0 / f64(q, n)
    y = svf_kernel(x, g, k, modes[mode])
    if mode == "band":
        y *= k  # unity gain at the centre frequency
    return y


# ----------------------------------------------------------------------------- envelopes


def adsr_scalar(t, gate, start, A, D, S, R):
    """Closed-form ADSR level ``t`` s after a note-on: a linear ramp over ``A`` s
    from ``start`` to a level decaying towards ``S`` (time constant ``D``), then an
    exponential release (time constant ``R``) once the ``gate`` time is over."""
    tt = min(t, gate)
    ramp = min(tt / A, 1.0)
    ds = S + (1.0 - S) * math.exp(-max(tt - A, 0.0) / D)
    level = start + (ds - start) * ramp
    if t >= gate:
        level *= math.exp(-(t - gate) / R)
    return level


_adsr_scalar_jit = njit(cache=True)(adsr_scalar)


@njit(cache=True)
def adsr_kernel(n, onsets, gates, vels, A, D, S, R, samplerate):
    """Per-sample envelope of a monophonic line of notes (sorted ``onsets``).

    Evaluates :func:`adsr_scalar` for the sounding note, scaled by its
    velocity; the decay and release exponentials are advanced by one
    multiplication per sample.  A note restarts its attack from the level the
    previous note had reached, so re-triggering never clicks.  Returns
    ``(env, idx, t)``: the envelope, the index of the sounding note (-1 before
    the first) and the time since its onset in seconds.
    """
    env = np.zeros(n)
    idx = np.full(n, -1, np.int64)
    tsec = np.zeros(n)
    m = onsets.shape[0]
    kd = math.exp(-1.0 / (D * samplerate))
    kr = math.exp(-1.0 / (R * samplerate))
    cur = -1
    start = 0.0
    dec = 1.0
    rel = 1.0
    held = 0.0
    decaying = False
    releasing = False
    for i in range(n):
        while cur + 1 < m and onsets[cur + 1] <= i:
            nxt = cur + 1
            if cur >= 0:
                d = (onsets[nxt] - onsets[cur]) / samplerate
                lvl = _adsr_scalar_jit(d, gates[cur], start, A, D, S, R) * vels[cur]
                start = lvl / vels[nxt] if vels[nxt] > 0 else 0.0
            cur = nxt
            decaying = False
            releasing = False
        if cur < 0:
            continue
        t = (i - onsets[cur]) / samplerate
        idx[i] = cur
        tsec[i] = t
        g = gates[cur]
        if t < g:
            if t > A:
                if decaying:
                    dec *= kd
                else:
                    dec = math.exp(-(t - A) / D)
                    decaying = True
            else:
                dec = 1.0
            ramp = min(t / A, 1.0)
            level = start + (S + (1.0 - S) * dec - start) * ramp
        else:
            if releasing:
                rel *= kr
            else:
                held = _adsr_scalar_jit(g, g, start, A, D, S, R)
                rel = math.exp(-(t - g) / R)
                releasing = True
            level = held * rel
        env[i] = vels[cur] * level
    return env, idx, tsec


def adsr_line(n, samplerate, onsets, gates, velocities, A, D, S, R):
    """Envelope of a monophonic note line: ``(env, idx, t)`` (see :func:`adsr_kernel`)."""
    return adsr_kernel(int(n), np.asarray(onsets, dtype=np.int64), f64(gates),
                       f64(velocities), float(A), float(D), float(S), float(R),
                       float(samplerate))


# ----------------------------------------------------------------------------- placement in time


def overlay(out: np.ndarray, onsets, templates, gains, choke: bool = False) -> None:
    """Overlap-add ``gain * template`` at each (sorted) onset, in samples.

    ``templates`` is one array or one per onset.  With ``choke`` each hit is cut
    at the next onset (a hi-hat closing over the previous, still ringing one).
    """
    n = len(out)
    onsets = [int(o) for o in onsets]
    for i, (o, g) in enumerate(zip(onsets, gains)):
        if o >= n:
            continue
        tpl = templates if isinstance(templates, np.ndarray) else templates[i]
        end = min(o + len(tpl), n)
        if choke and i + 1 < len(onsets):
            end = min(end, max(onsets[i + 1], o))
        out[o:end] += g * tpl[: end - o]


def delay(x: np.ndarray, d: int) -> np.ndarray:
    """``x`` delayed by ``d`` samples (zeros in front, same length)."""
    if d <= 0:
        return x.copy()
    y = np.zeros_like(x)
    if d < len(x):
        y[d:] = x[: len(x) - d]
    return y
