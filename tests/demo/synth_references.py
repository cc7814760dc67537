"""Plain NumPy/Python references of the demo's numba kernels (snc.demo.voices, snc.demo.mastering).

Each is written the obvious way (vectorised closed forms or a readable per-sample loop), so the
tests can check the fast kernels against an independent statement of what they compute.
"""

from __future__ import annotations

import numpy as np

from snc.demo.voices import adsr_scalar, phase

_U16 = 2.0 ** -16


def svf_reference(x, g, k, mode):
    """Pure-Python reference of :func:`snc.demo.voices.svf_kernel`."""
    y = np.empty(len(x))
    ic1 = ic2 = 0.0
    for i in range(len(x)):
        gi, ki, xi = float(g[i]), float(k[i]), float(x[i])
        a1 = 1.0 / (1.0 + gi * (gi + ki))
        a2 = gi * a1
        a3 = gi * a2
        v3 = xi - ic2
        v1 = a1 * ic1 + a2 * v3
        v2 = ic2 + a2 * ic1 + a3 * v3
        ic1 = 2.0 * v1 - ic1
        ic2 = 2.0 * v2 - ic2
        y[i] = (v2, v1, xi - ki * v1 - v2)[mode]
    return y


def saw_reference(dt, phase0):
    """Vectorised NumPy reference of :func:`snc.demo.voices.saw_kernel` (cumulative-sum phase)."""
    dt = np.asarray(dt, dtype=np.float64)
    ph = phase(dt, phase0)
    y = 2.0 * ph - 1.0
    m = ph < dt
    t = ph[m] / dt[m]
    y[m] -= 2.0 * t - t * t - 1.0
    m = ph > 1.0 - dt
    t = (ph[m] - 1.0) / dt[m]
    y[m] -= t * t + 2.0 * t + 1.0
    return y


def track(n: int, onsets, samplerate: int) -> tuple[np.ndarray, np.ndarray]:
    """For a monophonic line with sorted ``onsets`` (samples): the index of the
    sounding note at every sample (-1 before the first onset) and the time since
    that note's onset in seconds."""
    onsets = np.asarray(onsets, dtype=np.int64)
    counts = np.bincount(onsets[onsets < n], minlength=n)[:n]
    idx = np.cumsum(counts) - 1
    t = np.zeros(n)
    on = idx >= 0
    t[on] = (np.flatnonzero(on) - onsets[idx[on]]) / samplerate
    return idx, t


def adsr_reference(n, onsets, gates, vels, A, D, S, R, samplerate):
    """NumPy reference of :func:`snc.demo.voices.adsr_kernel` (vectorised closed form)."""
    onsets = np.asarray(onsets, dtype=np.int64)
    gates = np.asarray(gates, dtype=np.float64)
    vels = np.asarray(vels, dtype=np.float64)
    idx, t = track(n, onsets, samplerate)
    starts = np.zeros(len(onsets))
    for i in range(1, len(onsets)):
        d = (onsets[i] - onsets[i - 1]) / samplerate
        lvl = adsr_scalar(d, gates[i - 1], starts[i - 1], A, D, S, R) * vels[i - 1]
        starts[i] = lvl / vels[i] if vels[i] > 0 else 0.0
    env = np.zeros(n)
    on = idx >= 0
    j, tt = idx[on], t[on]
    g, st = gates[j], starts[j]
    tc = np.minimum(tt, g)
    ramp = np.minimum(tc / A, 1.0)
    ds = S + (1.0 - S) * np.exp(-np.maximum(tc - A, 0.0) / D)
    level = st + (ds - st) * ramp
    level *= np.exp(-np.maximum(tt - g, 0.0) / R)
    env[on] = vels[j] * level
    return env, idx, t


def quantize_reference(x, raw, scale):
    """NumPy reference of :func:`snc.demo.mastering.quantize_kernel`."""
    x = np.asarray(x, dtype=np.float64)
    raw = np.asarray(raw, dtype=np.uint64)
    halves = np.empty(2 * len(raw), dtype=np.uint64)
    halves[0::2] = raw >> np.uint64(32)
    halves[1::2] = raw & np.uint64(0xFFFFFFFF)
    r = halves[: len(x)]
    d = ((r >> np.uint64(16)) & np.uint64(0xFFFF)) * _U16 - (r & np.uint64(0xFFFF)) * _U16
    v = np.floor(np.asarray(x, dtype=np.float64) * scale + d + 0.5)
    return np.clip(v, -scale, scale - 1.0).astype(np.int32)
