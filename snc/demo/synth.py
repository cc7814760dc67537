"""Deterministic synthetic multitrack songs for the demo and the tests.

:func:`synthesize_song` renders a short pop-ish loop in a minor key as four
stems -- ``drums``, ``bass``, ``other`` (a chord pad) and ``vocals`` (a
formant-synthesised "voice") -- and a *mastered* mix of them.  The mastering
chain (EQ -> compressor -> look-ahead limiter) is non-linear and the stems and
the mix are dithered independently, so ``mix - sum(stems)`` is a substantial,
signal-dependent residual: exactly what a stem-native codec has to store next to
the stems.

Everything is generated from ``seed`` with NumPy's PCG64 generators
(:func:`numpy.random.default_rng`), so equal arguments give equal arrays on one
machine.  (Transcendental functions come from the platform's libm, so other
machines may differ in the last bits before quantisation; stored test vectors
carry their own audio.)

Signal-processing references
----------------------------
* Biquad shelving / peaking / high-pass filters: R. Bristow-Johnson,
  "Cookbook formulae for audio EQ biquad filter coefficients" (the *RBJ Audio
  EQ Cookbook*, W3C Audio EQ Cookbook note).
* Time-varying state-variable filter: A. Simper, "Linear trapezoidal
  integrated SVF" (Cytomic technical paper, 2013); V. Zavalishin, *The Art of
  VA Filter Design* (2012), ch. 4 (TPT / zero-delay-feedback SVF).
* Band-limited sawtooth: V. Välimäki & A. Huovilainen, "Antialiasing
  oscillators in subtractive synthesis" (IEEE Signal Processing Magazine,
  2007) -- the two-sample polynomial BLEP residual.
* Compressor: D. Giannoulis, M. Massberg, J. D. Reiss, "Digital Dynamic Range
  Compressor Design -- A Tutorial and Analysis" (JAES 60(6), 2012): log-domain
  soft-knee gain computer and "smooth branching" attack/release detector.
* Formants: G. E. Peterson & H. L. Barney, "Control methods used in a study of
  the vowels" (JASA 24, 1952), average formant frequencies; parallel formant
  resonators after D. H. Klatt, "Software for a cascade/parallel formant
  synthesizer" (JASA 67, 1980).
* TPDF dither: S. P. Lipshitz, R. A. Wannamaker, J. Vanderkooy, "Quantization
  and dither: a theoretical survey" (JAES 40(5), 1992).

Every sequential per-sample loop is a numba ``@njit(cache=True)`` kernel --
compressor gain (gain computer + attack/release follower), look-ahead limiter
gain, SVF, polyBLEP oscillator, ADSR envelope, dithered quantiser -- and each
has a plain NumPy/Python reference implementation next to it
(``*_reference``) which the tests compare it with.  Elsewhere the code avoids
full-length temporaries where it easily can: allocating fresh large arrays
(page faults) is a large part of the run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from numba import njit
from scipy import signal

__all__ = [
    "STEM_NAMES",
    "Song",
    "synthesize_song",
    "read_wav",
    "rbj_biquad",
    "master_eq",
    "compress",
    "limit",
    "master",
    "svf",
    "pan_gains",
    "quantize",
]

#: Stem names, in the usual MUSDB order.
STEM_NAMES = ("drums", "bass", "other", "vocals")

_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}


# ---------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------


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
    if info.subtype == "PCM_16":
        data, sr = sf.read(str(path), dtype="int16", always_2d=True)
        return data.astype(np.int32), sr, 16
    if info.subtype == "PCM_24":
        data, sr = sf.read(str(path), dtype="int32", always_2d=True)
        return data >> 8, sr, 24
    raise ValueError(f"{path}: unsupported subtype {info.subtype}")


# ---------------------------------------------------------------------------
# Sequential kernels (numba) and their pure-Python references
# ---------------------------------------------------------------------------


def _attack_release_reference(x, a_att, a_rel, y0):
    """One-pole "smooth branching" follower (Giannoulis et al. 2012, eq. 17), pure Python.

    ``y[n] = a*y[n-1] + (1-a)*x[n]`` with ``a = a_att`` while the input rises
    above the state and ``a = a_rel`` otherwise.  (The numba version is fused
    into :func:`_compressor_gain_kernel`.)
    """
    y = np.empty(len(x))
    prev = float(y0)
    for i, xi in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        a = a_att if xi > prev else a_rel
        prev = a * prev + (1.0 - a) * xi
        y[i] = prev
    return y


def _gain_computer(xg, threshold, ratio, knee):
    """Static soft-knee compression curve (Giannoulis et al. 2012, eq. 4): output
    level in dB for input level ``xg`` dB (``knee`` = knee width in dB)."""
    over = xg - threshold
    if knee > 0.0 and 2.0 * abs(over) <= knee:
        return xg + (1.0 / ratio - 1.0) * (over + 0.5 * knee) ** 2 / (2.0 * knee)
    if over > 0.0:
        return threshold + over / ratio
    return xg


_gain_computer_jit = njit(cache=True)(_gain_computer)


@njit(cache=True)
def _compressor_gain_kernel(level, threshold, ratio, knee, a_att, a_rel, makeup_db):
    """Per-frame linear gain of a feed-forward log-domain compressor.

    ``level`` is the (linked) peak level, linear.  The static gain reduction
    ``xg - gain_computer(xg)`` (dB, >= 0) is smoothed by the attack/release
    follower -- attack while the reduction grows, release while it shrinks --
    and the makeup gain is added.  Below the knee the reduction is exactly 0,
    which saves the logarithm.
    """
    n = level.shape[0]
    gain = np.empty(n)
    floor_lin = 10.0 ** ((threshold - 0.5 * max(knee, 0.0)) / 20.0)
    y = 0.0
    for i in range(n):
        red = 0.0
        if level[i] > floor_lin:
            xg = 20.0 * math.log10(level[i])
            red = xg - _gain_computer_jit(xg, threshold, ratio, knee)
        a = a_att if red > y else a_rel
        y = a * y + (1.0 - a) * red
        gain[i] = 10.0 ** ((makeup_db - y) / 20.0)
    return gain


def _compressor_gain_reference(level, threshold, ratio, knee, a_att, a_rel, makeup_db):
    """NumPy/Python reference of :func:`_compressor_gain_kernel` (gain computer
    vectorised, then :func:`_attack_release_reference`)."""
    level = np.asarray(level, dtype=np.float64)
    xg = 20.0 * np.log10(np.maximum(level, 1e-300))
    over = xg - threshold
    if knee > 0:
        soft = xg + (1.0 / ratio - 1.0) * (over + 0.5 * knee) ** 2 / (2.0 * knee)
    else:
        soft = xg
    yg = np.where(2.0 * np.abs(over) <= knee, soft,
                  np.where(over > 0.0, threshold + over / ratio, xg))
    red = np.where(level > 10.0 ** ((threshold - 0.5 * max(knee, 0.0)) / 20.0), xg - yg, 0.0)
    smoothed = _attack_release_reference(red, a_att, a_rel, 0.0)
    return 10.0 ** ((makeup_db - smoothed) / 20.0)


@njit(cache=True)
def _limiter_gain_kernel(required, lookahead, a_rel):
    """Look-ahead brickwall gain that never exceeds ``required``.

    ``required[i]`` is the largest gain sample ``i`` may receive.  With
    ``L = lookahead`` and ``required`` padded with ones past its end:

    1. ``h[j] = min(required[j-L .. j])``   (sliding minimum, monotonic deque);
    2. ``s[j]``: ``h`` with instant attack and one-pole release (``s <= h``);
    3. ``gain[i] = mean(s[i .. i+L])``        (boxcar: a linear fade over L+1).

    Every ``s[j]`` averaged for sample ``i`` has ``i`` inside its min window,
    so ``gain[i] <= required[i]``: the fade-in starts ``L`` samples before a
    peak and completes on it (a "look-ahead" limiter without delaying the
    signal).  A final ``min`` guards against round-off of the running sum.
    """
    n = required.shape[0]
    L = lookahead
    m = n + L
    rp = np.ones(m)
    rp[:n] = required
    dq = np.empty(m, np.int64)  # indices with increasing rp values
    head = 0
    tail = 0
    s = np.empty(m)
    prev = 1.0
    for j in range(m):
        r = rp[j]
        while tail > head and rp[dq[tail - 1]] >= r:
            tail -= 1
        dq[tail] = j
        tail += 1
        while dq[head] < j - L:
            head += 1
        h = rp[dq[head]]
        if h < prev:
            prev = h
        else:
            prev = a_rel * prev + (1.0 - a_rel) * h
        s[j] = prev
    gain = np.empty(n)
    if n == 0:
        return gain
    acc = 0.0
    for j in range(L + 1):
        acc += s[j]
    w = 1.0 / (L + 1)
    for i in range(n):
        if i > 0:
            acc += s[i + L] - s[i - 1]
        g = acc * w
        if g > rp[i]:
            g = rp[i]
        gain[i] = g
    return gain


def _limiter_gain_reference(required, lookahead, a_rel):
    """Pure NumPy/Python reference of :func:`_limiter_gain_kernel` (O(n*L))."""
    required = np.asarray(required, dtype=np.float64)
    n, L = len(required), int(lookahead)
    rp = np.concatenate([required, np.ones(L)])
    s = np.empty(n + L)
    prev = 1.0
    for j in range(n + L):
        h = float(rp[max(0, j - L) : j + 1].min())
        prev = h if h < prev else a_rel * prev + (1.0 - a_rel) * h
        s[j] = prev
    gain = np.array([s[i : i + L + 1].mean() for i in range(n)])
    return np.minimum(gain, required)


@njit(cache=True)
def _svf_kernel(x, g, k, mode):
    """Trapezoidal (zero-delay-feedback) state-variable filter, Simper 2013.

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


def _svf_reference(x, g, k, mode):
    """Pure-Python reference of :func:`_svf_kernel`."""
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


def _f64(a, n=None) -> np.ndarray:
    """Contiguous float64 copy/view; scalars are broadcast to length ``n``."""
    a = np.asarray(a, dtype=np.float64)
    if n is not None and a.ndim == 0:
        a = np.full(n, float(a))
    return np.ascontiguousarray(a)


def svf(x, fc, q, samplerate: int, mode: str = "low") -> np.ndarray:
    """Time-varying SVF (``mode`` = ``"low"``, ``"band"`` -- unity peak gain -- or ``"high"``).

    ``fc`` (Hz) and ``q`` are scalars or per-sample arrays; ``fc`` is clipped to
    ``[10 Hz, 0.45*samplerate]`` so the filter stays well defined at any rate.
    """
    x = _f64(x)
    n = x.shape[0]
    modes = {"low": 0, "band": 1, "high": 2}
    if mode not in modes:
        raise ValueError(f"unknown SVF mode {mode!r}")
    g = np.clip(_f64(fc, n), 10.0, 0.45 * samplerate)
    g *= np.pi / samplerate
    np.tan(g, out=g)
    k = 1.0 / _f64(q, n)
    y = _svf_kernel(x, g, k, modes[mode])
    if mode == "band":
        y *= k  # unity gain at the centre frequency
    return y


# ---------------------------------------------------------------------------
# Mastering: EQ, compressor, limiter
# ---------------------------------------------------------------------------


def rbj_biquad(kind: str, f0: float, samplerate: int, *, gain_db: float = 0.0,
               q: float = 1 / math.sqrt(2), slope: float = 1.0) -> np.ndarray:
    """One biquad from the RBJ Audio EQ Cookbook as a ``(1, 6)`` SOS array.

    ``kind`` is ``"lowshelf"``, ``"highshelf"``, ``"peaking"`` or ``"highpass"``.
    Shelves use the cookbook's shelf-slope parameter ``S`` (``slope``), the
    others ``Q``.  ``f0`` is clipped below Nyquist.
    """
    f0 = min(float(f0), 0.45 * samplerate)
    A = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * f0 / samplerate
    cw, sw = math.cos(w0), math.sin(w0)
    if kind in ("lowshelf", "highshelf"):
        alpha = sw / 2.0 * math.sqrt((A + 1.0 / A) * (1.0 / slope - 1.0) + 2.0)
        sa = 2.0 * math.sqrt(A) * alpha
        if kind == "lowshelf":
            b = [A * ((A + 1) - (A - 1) * cw + sa), 2 * A * ((A - 1) - (A + 1) * cw),
                 A * ((A + 1) - (A - 1) * cw - sa)]
            a = [(A + 1) + (A - 1) * cw + sa, -2 * ((A - 1) + (A + 1) * cw),
                 (A + 1) + (A - 1) * cw - sa]
        else:
            b = [A * ((A + 1) + (A - 1) * cw + sa), -2 * A * ((A - 1) + (A + 1) * cw),
                 A * ((A + 1) + (A - 1) * cw - sa)]
            a = [(A + 1) - (A - 1) * cw + sa, 2 * ((A - 1) - (A + 1) * cw),
                 (A + 1) - (A - 1) * cw - sa]
    elif kind == "peaking":
        alpha = sw / (2.0 * q)
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "highpass":
        alpha = sw / (2.0 * q)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array([b + a], dtype=np.float64) / a[0]


def master_eq(x: np.ndarray, samplerate: int) -> np.ndarray:
    """Mastering EQ: 25 Hz rumble high-pass, +3 dB low shelf at 100 Hz, a -2 dB
    "mud" cut at 350 Hz and a +3 dB "air" high shelf at 9 kHz (RBJ biquads)."""
    sos = np.vstack([
        rbj_biquad("highpass", 25.0, samplerate, q=0.7071),
        rbj_biquad("lowshelf", 100.0, samplerate, gain_db=3.0),
        rbj_biquad("peaking", 350.0, samplerate, gain_db=-2.0, q=1.0),
        rbj_biquad("highshelf", 9000.0, samplerate, gain_db=3.0),
    ])
    return signal.sosfilt(sos, x, axis=0)


def _coef(time_s: float, samplerate: int) -> float:
    """One-pole smoothing coefficient for time constant ``time_s`` seconds."""
    return math.exp(-1.0 / (max(time_s, 1e-9) * samplerate))


def compress(x: np.ndarray, samplerate: int, *, threshold_db: float = -20.0,
             ratio: float = 3.0, knee_db: float = 6.0, attack: float = 0.010,
             release: float = 0.120, makeup_db: float = 5.0):
    """Feed-forward, stereo-linked, log-domain compressor (Giannoulis et al. 2012).

    The level is the peak over channels in dBFS; a soft-knee gain computer gives
    the static gain reduction, which the attack/release follower smooths
    (attack while the reduction grows, release while it shrinks); then the
    makeup gain is added.  Returns ``(y, gain)`` with the linear per-frame gain.
    """
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(len(x), -1)
    level = np.abs(x2).max(axis=1)
    gain = _compressor_gain_kernel(_f64(level), float(threshold_db), float(ratio),
                                   float(knee_db), _coef(attack, samplerate),
                                   _coef(release, samplerate), float(makeup_db))
    y = x2 * gain[:, None]
    return y.reshape(x.shape), gain


def limit(x: np.ndarray, samplerate: int, *, ceiling_db: float = -1.0,
          lookahead: float = 0.002, release: float = 0.060):
    """Stereo-linked look-ahead brickwall limiter: ``|y| <= 10**(ceiling_db/20)``.

    Returns ``(y, gain)``; see :func:`_limiter_gain_kernel` for the algorithm.
    """
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(len(x), -1)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    peak = np.abs(x2).max(axis=1)
    required = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    L = max(1, int(round(lookahead * samplerate)))
    gain = _limiter_gain_kernel(_f64(required), L, _coef(release, samplerate))
    y = x2 * gain[:, None]
    # The gain guarantees |y| <= ceiling up to one rounding of the product.
    np.clip(y, -ceiling, ceiling, out=y)
    return y.reshape(x.shape), gain


def master(x: np.ndarray, samplerate: int) -> np.ndarray:
    """The mastering chain on a float mix: EQ -> compressor -> limiter (-1 dBFS)."""
    y = master_eq(x, samplerate)
    y, _ = compress(y, samplerate)
    y, _ = limit(y, samplerate)
    return y


_U16 = 2.0 ** -16


@njit(cache=True)
def _quantize_kernel(x, raw, scale):
    """``floor(x*scale + d + 0.5)`` clipped to ``[-scale, scale-1]``, as int32.

    ``d`` is TPDF dither of +-1 LSB peak: the difference of two 16-bit uniform
    variables; one raw 64-bit draw ``raw[i // 2]`` feeds two samples (its high
    32 bits sample ``2k``, its low 32 bits sample ``2k + 1``).
    """
    n = x.shape[0]
    q = np.empty(n, np.int32)
    lo = -scale
    hi = scale - 1.0
    for i in range(n):
        r = raw[i >> 1]
        if (i & 1) == 0:
            r = r >> np.uint64(32)
        d = ((r >> np.uint64(16)) & np.uint64(0xFFFF)) * _U16 - (r & np.uint64(0xFFFF)) * _U16
        v = math.floor(x[i] * scale + d + 0.5)
        if v < lo:
            v = lo
        elif v > hi:
            v = hi
        q[i] = np.int32(v)
    return q


def _quantize_reference(x, raw, scale):
    """NumPy reference of :func:`_quantize_kernel`."""
    x = np.asarray(x, dtype=np.float64)
    raw = np.asarray(raw, dtype=np.uint64)
    halves = np.empty(2 * len(raw), dtype=np.uint64)
    halves[0::2] = raw >> np.uint64(32)
    halves[1::2] = raw & np.uint64(0xFFFFFFFF)
    r = halves[: len(x)]
    d = ((r >> np.uint64(16)) & np.uint64(0xFFFF)) * _U16 - (r & np.uint64(0xFFFF)) * _U16
    v = np.floor(np.asarray(x, dtype=np.float64) * scale + d + 0.5)
    return np.clip(v, -scale, scale - 1.0).astype(np.int32)


def quantize(x: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """Float in [-1, 1) -> signed ``bits``-bit integers (int32 array of ``x``'s shape).

    Rounds to nearest after adding seeded +-1 LSB TPDF dither (Lipshitz et al.
    1992), which decorrelates the requantisation error from the signal.
    """
    x = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(x).reshape(-1)
    raw = rng.bit_generator.random_raw((flat.shape[0] + 1) // 2)
    return _quantize_kernel(flat, raw, float(2 ** (bits - 1))).reshape(x.shape)


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform white noise with unit variance (cheaper than Gaussian, sounds the same)."""
    return (rng.random(n) - 0.5) * math.sqrt(12.0)


# ---------------------------------------------------------------------------
# Oscillators, envelopes, spatialisation
# ---------------------------------------------------------------------------


@njit(cache=True)
def _saw_kernel(dt, phase0):
    """Phase accumulator + polyBLEP sawtooth (Välimäki & Huovilainen 2007).

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


def _phase(dt, phase0=0.0) -> np.ndarray:
    """Phase in cycles, [0, 1), of an oscillator with per-sample increment ``dt``."""
    ph = np.cumsum(dt)
    ph -= dt
    ph += phase0
    ph -= np.floor(ph)
    return ph


def _saw_reference(dt, phase0):
    """Vectorised NumPy reference of :func:`_saw_kernel` (cumulative-sum phase)."""
    dt = np.asarray(dt, dtype=np.float64)
    ph = _phase(dt, phase0)
    y = 2.0 * ph - 1.0
    m = ph < dt
    t = ph[m] / dt[m]
    y[m] -= 2.0 * t - t * t - 1.0
    m = ph > 1.0 - dt
    t = (ph[m] - 1.0) / dt[m]
    y[m] -= t * t + 2.0 * t + 1.0
    return y


def _increment(freq, samplerate: int) -> np.ndarray:
    """Per-sample phase increment (cycles) for ``freq`` in Hz, kept below 0.45*fs."""
    dt = np.minimum(_f64(freq), 0.45 * samplerate)
    dt *= 1.0 / samplerate
    return dt


def _saw(freq, samplerate: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited sawtooth with per-sample ``freq`` in Hz."""
    return _saw_kernel(_increment(freq, samplerate), float(phase0))


def _track(n: int, onsets, samplerate: int) -> tuple[np.ndarray, np.ndarray]:
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


def _adsr_scalar(t, gate, start, A, D, S, R):
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


_adsr_scalar_jit = njit(cache=True)(_adsr_scalar)


@njit(cache=True)
def _adsr_kernel(n, onsets, gates, vels, A, D, S, R, samplerate):
    """Per-sample envelope of a monophonic line of notes (sorted ``onsets``).

    Evaluates :func:`_adsr_scalar` for the sounding note, scaled by its
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


def _adsr_reference(n, onsets, gates, vels, A, D, S, R, samplerate):
    """NumPy reference of :func:`_adsr_kernel` (vectorised closed form)."""
    onsets = np.asarray(onsets, dtype=np.int64)
    gates = np.asarray(gates, dtype=np.float64)
    vels = np.asarray(vels, dtype=np.float64)
    idx, t = _track(n, onsets, samplerate)
    starts = np.zeros(len(onsets))
    for i in range(1, len(onsets)):
        d = (onsets[i] - onsets[i - 1]) / samplerate
        lvl = _adsr_scalar(d, gates[i - 1], starts[i - 1], A, D, S, R) * vels[i - 1]
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


def _adsr_line(n, samplerate, onsets, gates, velocities, A, D, S, R):
    """Envelope of a monophonic note line: ``(env, idx, t)`` (see :func:`_adsr_kernel`)."""
    return _adsr_kernel(int(n), np.asarray(onsets, dtype=np.int64), _f64(gates),
                        _f64(velocities), float(A), float(D), float(S), float(R),
                        float(samplerate))


def _overlay(out: np.ndarray, onsets, templates, gains, choke: bool = False) -> None:
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


def _spatialize(components, channels: int) -> np.ndarray:
    """Mix mono ``(signal, pan)`` components into a ``(frames, channels)`` array."""
    n = len(components[0][0])
    out = np.zeros((n, channels))
    tmp = np.empty(n)  # one scratch buffer: large temporaries are costly to allocate
    for sig, pan in components:  # a few axpy passes; tiny matmuls are slow in BLAS
        for c, g in enumerate(pan_gains(pan, channels)):
            np.multiply(sig, g, out=tmp)
            out[:, c] += tmp
    return out


def _delay(x: np.ndarray, d: int) -> np.ndarray:
    if d <= 0:
        return x.copy()
    y = np.zeros_like(x)
    if d < len(x):
        y[d:] = x[: len(x) - d]
    return y


def _butter(kind: str, fc, samplerate: int, order: int = 2) -> np.ndarray:
    """Butterworth SOS with cut-off(s) clipped to (20 Hz, 0.45*fs)."""
    fc = np.clip(np.asarray(fc, dtype=np.float64), 20.0, 0.45 * samplerate)
    return signal.butter(order, fc, btype=kind, fs=samplerate, output="sos")


# ---------------------------------------------------------------------------
# Composition (samplerate independent)
# ---------------------------------------------------------------------------

_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor (aeolian) scale steps
#: Chord progressions as scale degrees of diatonic triads (0 = i).
_PROGRESSIONS = ((0, 5, 2, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 6, 5, 6))
#: Peterson & Barney (1952) average F1..F3 (Hz) for /a/, /e/, /i/, /o/, /u/.
_VOWELS = np.array([
    [730.0, 1090.0, 2440.0],
    [530.0, 1840.0, 2480.0],
    [270.0, 2290.0, 3010.0],
    [570.0, 840.0, 2410.0],
    [300.0, 870.0, 2240.0],
])
_FORMANT_BW = np.array([80.0, 100.0, 140.0])
_FORMANT_GAIN = np.array([1.0, 0.55, 0.3])

# Bass patterns on an eighth-note grid: (slot, length in eighths, chord tone:
# 0 root, 1 octave, 2 fifth).
_BASS_PATTERNS = (
    ((0, 2, 0), (2, 1, 0), (3, 1, 1), (4, 2, 0), (6, 1, 2), (7, 1, 0)),
    ((0, 3, 0), (3, 1, 0), (4, 2, 0), (6, 2, 1)),
    ((0, 1, 0), (1, 1, 0), (2, 1, 1), (3, 1, 0), (4, 1, 0), (5, 1, 2), (6, 1, 1), (7, 1, 0)),
    ((0, 4, 0), (5, 1, 0), (6, 1, 2), (7, 1, 1)),
)
# Kick patterns on a sixteenth grid.
_KICK_PATTERNS = ((0, 8), (0, 8, 10), (0, 6, 8), (0, 3, 8, 11), (0, 7, 8))


def _midi_hz(m):
    """MIDI note number(s) -> Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * np.exp((np.asarray(m, dtype=np.float64) - 69.0) * (math.log(2.0) / 12.0))


def _degree_midi(tonic: int, degree: int) -> int:
    """MIDI note of scale ``degree`` (any integer, 7 per octave) above ``tonic``."""
    octave, step = divmod(int(degree), 7)
    return tonic + 12 * octave + _MINOR[step]


def _stream(seed: int, name: str) -> np.random.Generator:
    """Independent, named PCG64 stream derived from ``seed``."""
    ids = {"plan": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4, "dither": 5,
           "drums-noise": 6, "vocals-noise": 7}
    return np.random.default_rng([seed, ids[name]])


@dataclass
class _Plan:
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


# ---------------------------------------------------------------------------
# The four instruments. Each returns a float (frames, channels) array.
# ---------------------------------------------------------------------------


def _render_drums(plan: _Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """Kick (pitch-swept sine + click), snare (tone + band-passed noise), hi-hats
    (high-passed noise, closed hats choke the open one)."""
    rng = _stream(seed, "drums")
    nrng = _stream(seed, "drums-noise")
    step = plan.beat / 4.0  # sixteenth note, seconds
    kick_pat = _KICK_PATTERNS[int(rng.integers(len(_KICK_PATTERNS)))]
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
    click = _noise(nrng, len(tl)) * np.exp(-tl / 0.004)
    click = signal.sosfilt(_butter("highpass", 1500.0, sr), click)
    kick_t = np.tanh(1.8 * (body + 0.35 * click)) / np.tanh(1.8)
    kick = np.zeros(n)
    ev, on = onset_samples(kicks)
    _overlay(kick, on, kick_t, [e[1] for e in ev])

    # Snare: two damped partials + band-passed noise with its own decay.
    tl = np.arange(int(0.35 * sr)) / sr
    tone = (np.sin(2 * np.pi * 185 * tl) + 0.6 * np.sin(2 * np.pi * 330 * tl)) * np.exp(-tl / 0.05)
    noise_env_t = np.exp(-tl / 0.11) * (1.0 - tl / tl[-1])
    ev, on = onset_samples(snares)
    vel = [e[1] for e in ev]
    snare_tone = np.zeros(n)
    _overlay(snare_tone, on, tone, vel)
    snare_env = np.zeros(n)
    _overlay(snare_env, on, noise_env_t, vel)
    snare_noise = signal.sosfilt(_butter("bandpass", [900.0, 9000.0], sr), _noise(nrng, n))
    snare = 0.35 * snare_tone + 0.9 * snare_noise * snare_env

    # Hi-hats: one high-passed noise line with a choking envelope (each hit
    # replaces the previous one, like a real hi-hat), closed 30 ms / open 250 ms.
    ev, on = onset_samples(hats)
    tl = np.arange(int(0.6 * sr)) / sr
    closed_t = np.exp(-tl[: int(0.2 * sr)] / 0.03)
    open_t = np.exp(-tl / 0.25) * (1.0 - tl / tl[-1])
    hat_env = np.zeros(n)
    _overlay(hat_env, on, [open_t if e[2] else closed_t for e in ev], [e[1] for e in ev],
             choke=True)
    hat_noise = signal.sosfilt(_butter("highpass", min(7000.0, 0.3 * sr), sr, order=4),
                               _noise(nrng, n))
    hat = 0.35 * hat_noise * hat_env

    return _spatialize([(0.6 * kick, 0.0), (0.45 * snare, -0.12), (hat, 0.35)], channels)


def _render_bass(plan: _Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """Saw + sub sine through a resonant low-pass with a per-note filter envelope."""
    rng = _stream(seed, "bass")
    eighth = plan.beat / 2.0
    tonic = 28 + (plan.tonic_pc - 4) % 12  # E1 .. D#2
    onsets, gates, vels, notes = [], [], [], []
    for b in range(plan.n_bars):
        deg = plan.chord_degree(b)
        root = _degree_midi(tonic, deg)
        tones = (root, root + 12, _degree_midi(tonic, deg + 4))
        pat = _BASS_PATTERNS[int(rng.integers(len(_BASS_PATTERNS)))]
        for slot, length, tone in pat:
            onsets.append(int(round((b * plan.bar + slot * eighth) * sr)))
            gates.append(0.85 * length * eighth)
            vels.append(1.0 if slot % 2 == 0 else 0.8)
            notes.append(tones[tone])
    env, idx, t = _adsr_line(n, sr, onsets, gates, vels, A=0.004, D=0.15, S=0.6, R=0.04)
    freq = _midi_hz(np.asarray(notes))[np.maximum(idx, 0)]
    dt = _increment(freq, sr)
    saw = _saw_kernel(dt, 0.0)
    v = np.asarray(vels)[np.maximum(idx, 0)]
    cutoff = 110.0 + 1400.0 * v * np.exp(-t / 0.08)
    saw *= env
    tone = svf(saw, cutoff, 1.6, sr, "low")
    sub = _phase(dt)
    sub *= 2 * np.pi
    np.sin(sub, out=sub)
    sub *= env
    tone += 0.5 * sub
    tone = np.tanh(1.2 * tone) / np.tanh(1.2)
    return _spatialize([(0.45 * tone, 0.0)], channels)


def _render_other(plan: _Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """A four-voice pad: detuned saws per voice, voice-led chords one per bar,
    low-passed, voices spread across the stereo field."""
    rng = _stream(seed, "other")
    tonic = 48 + plan.tonic_pc  # C3 .. B3
    voicings = []
    prev = None
    for b in range(plan.n_bars):
        deg = plan.chord_degree(b)
        pcs = [_degree_midi(tonic, deg + 2 * i) % 12 for i in range(3)]
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
    env, idx, _ = _adsr_line(n, sr, onsets, gates, vels, A=0.08, D=0.8, S=0.7, R=0.3)
    lp = _butter("lowpass", 2200.0, sr)
    pans = (-0.6, -0.2, 0.25, 0.65)
    components = []
    bar_of = np.maximum(idx, 0)
    detune = 2.0 ** (7 / 1200)  # +-7 cents
    for vi in range(4):
        f = _midi_hz(voicings[:, vi])[bar_of]
        tone = _saw(f * detune, sr, 0.13 * vi)
        tone += _saw(f / detune, sr, 0.5 + 0.11 * vi)
        components.append((0.09 * tone, pans[vi]))
    out = _spatialize(components, channels)
    out *= env[:, None]
    out = signal.sosfilt(lp, out, axis=0)  # linear, so once after panning
    return out


def _render_vocals(plan: _Plan, n: int, sr: int, channels: int, seed: int) -> np.ndarray:
    """A "singer": glided melody with delayed vibrato, band-limited saw (glottal
    source stand-in) + breath noise through three parallel formant resonators
    whose frequencies glide between vowels; syllable envelopes, fricative
    onsets, phrase gaps, and a ping-pong echo."""
    rng = _stream(seed, "vocals")
    nrng = _stream(seed, "vocals-noise")
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
            vowels.append(int(rng.integers(len(_VOWELS))))
            fric.append(rng.random() < 0.35 and pos > 0)
            pos += length
    onsets = np.asarray(onsets, dtype=np.int64)
    vel = 0.8 + 0.2 * rng.random(len(onsets))
    env, idx, t = _adsr_line(n, sr, onsets, gates, vel, A=0.03, D=0.3, S=0.8, R=0.08)
    j = np.maximum(idx, 0)
    dt_ = 1.0 / sr

    def glide(x, tau):  # one-pole smoothing (portamento / formant transitions)
        a = math.exp(-dt_ / tau)
        return signal.lfilter([1 - a], [1, -a], x, zi=[a * x[0]])[0] if len(x) else x

    midi = np.array([_degree_midi(tonic, d) for d in degrees], dtype=np.float64)
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
    source = _saw(_midi_hz(pitch), sr)
    source = signal.sosfilt(_butter("lowpass", 4500.0, sr, order=1), source)
    breath = _noise(nrng, n)
    source += 0.08 * breath  # aspiration
    source *= env
    # Three parallel formant band-passes (Klatt 1980), centre frequencies gliding
    # from vowel to vowel, bandwidths fixed.
    vowel_of = np.asarray(vowels)
    voice = np.zeros(n)
    for k in range(3):
        fk = glide(_VOWELS[vowel_of, k][j], 0.03)
        band = svf(source, fk, fk / _FORMANT_BW[k], sr, "band")
        band *= _FORMANT_GAIN[k]
        voice += band
    # Fricative ("s"/"t") noise bursts at some syllable onsets.
    fric_env = np.exp(t * (-1.0 / 0.02))
    fric_env *= (np.asarray(fric, dtype=np.float64)[j] * 0.25) * ((idx >= 0) & (t < 0.08))
    hiss = signal.sosfilt(_butter("highpass", min(4500.0, 0.35 * sr), sr, order=2), breath)
    hiss *= fric_env
    voice += hiss
    voice *= 1.2
    d1 = int(round(3 * eighth / 2 * sr))  # dotted-eighth echo left, quarter right
    d2 = int(round(2 * eighth * sr))
    echo1 = _delay(voice, d1)
    echo1 *= 0.22
    echo2 = _delay(voice, d2)
    echo2 *= 0.15
    return _spatialize([(voice, -0.05), (echo1, -0.7), (echo2, 0.7)], channels)


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------

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

    prng = _stream(seed, "plan")
    tonic_pc = int(prng.integers(12))
    progression = _PROGRESSIONS[int(prng.integers(len(_PROGRESSIONS)))]
    bar = 240.0 / tempo
    plan = _Plan(tempo=float(tempo), tonic_pc=tonic_pc, progression=progression,
                 n_bars=int(math.ceil(n / samplerate / bar)) + 1)

    renderers = {"drums": _render_drums, "bass": _render_bass,
                 "other": _render_other, "vocals": _render_vocals}
    floats = {}
    bus = np.zeros((n, channels))
    for name in STEM_NAMES:
        stem = renderers[name](plan, n, samplerate, channels, seed)
        stem *= _BUS_GAIN
        bus += stem
        floats[name] = stem
    # Safety: keep every stem and the (unmastered) bus inside full scale.
    peak = max(_peak(a) for a in (bus, *floats.values()))
    if peak > _MAX_PEAK:
        for a in (bus, *floats.values()):
            a *= _MAX_PEAK / peak
    mixed = master(bus, samplerate)

    drng = _stream(seed, "dither")
    stems = {name: quantize(floats[name], bits, drng) for name in STEM_NAMES}
    mix = quantize(mixed, bits, drng)
    meta = {
        "seed": seed,
        "tempo": float(tempo),
        "key": f"{_NOTE_NAMES[tonic_pc]} minor",
        "progression": [_roman(d) for d in progression],
    }
    return Song(samplerate=samplerate, bits=bits, mix=mix, stems=stems, meta=meta)


def _peak(a: np.ndarray) -> float:
    """max |a| without a temporary array."""
    return max(float(a.max()), -float(a.min())) if a.size else 0.0


def _roman(degree: int) -> str:
    """Roman numeral of a natural-minor diatonic triad."""
    names = ("i", "ii°", "III", "iv", "v", "VI", "VII")
    return names[degree % 7]
