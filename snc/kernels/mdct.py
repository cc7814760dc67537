"""MDCT filter bank of the ``perceptual`` codec (``spec/perceptual-transform.md``).

Framing (spec 2): hop ``HOP = 1024`` at every sample rate; a packet of ``L``
samples (zero outside ``[0, L)``) has ``F = ceil(L / 1024) + 1`` frames, frame
``t`` spanning samples ``[(t-1)*1024, (t+1)*1024)``, so samples
``[t*1024, (t+1)*1024)`` are the overlap-add of frames ``t`` and ``t+1`` and a
packet decodes alone, without delay.

Block switching (spec 3) follows AAC's window sequences (ISO/IEC 14496-3
4.6.11, 13818-7 15.3.2): ``LONG``, ``START``, ``SHORT`` (eight 256-sample sine
windows, coefficients stored block-major) and ``STOP``.

Scaling is orthonormal (spec 4): ``X[k] = sqrt(2/M) sum_n w[n] x[n]
cos(pi/M (n + 1/2 + M/2)(k + 1/2))``, so noise energy is the same in both domains.

* :func:`forward` -- encoder analysis, float64, scipy's DCT-IV batched over frames.
* :func:`inverse` -- float64 synthesis (encoder-side analysis by synthesis, tests).
* :func:`inverse_int` -- the decoder: integer-only, bit-identical everywhere
  (spec 6), tables built at import by exact integer arithmetic (spec 5).
"""

from __future__ import annotations

import math as _math

import numpy as np
from numba import njit

from ._jit import kernel

HOP = 1024
#: frame kinds (AAC: ONLY_LONG_SEQUENCE, LONG_START_SEQUENCE, EIGHT_SHORT_SEQUENCE, LONG_STOP_SEQUENCE)
LONG, START, SHORT, STOP = 0, 1, 2, 3
N_SHORT = 8
SHORT_N = 128
#: first sample of short window 0 inside the 2048-sample frame span (AAC: (2048 - 8*128 - 128) / 2)
SHORT_OFFSET = 448
#: integer coefficients of :func:`inverse_int` are in units of 2**-COEF_FRAC of the orthonormal coefficient
COEF_FRAC = 8
#: |coefficient| bound of :func:`inverse_int` (spec 6.8: every int64 intermediate then fits)
MAX_ABS_COEF = (1 << 47) - 1
#: legal (previous kind, kind) pairs (spec 3.2)
TRANSITIONS = frozenset({(LONG, LONG), (LONG, START), (START, SHORT), (SHORT, SHORT),
                         (SHORT, STOP), (STOP, LONG), (STOP, START)})

# fixed-point formats of spec 5/6
TW_BITS = 30      # twiddles: Q30
WIN_BITS = 31     # windows, with sqrt(2/M) folded in: Q31
BFP_BITS = 32     # block floating point: sum |X'| < 2**32
ACC_FRAC = 16     # fractional bits of the overlap-add accumulator


def n_frames(L: int) -> int:
    """Frames covering a packet of ``L >= 0`` samples: ``ceil(L / 1024) + 1``."""
    L = int(L)
    if L < 0:
        raise ValueError(f"packet length must be >= 0, got {L}")
    return -(-L // HOP) + 1


# ============================================================================ tables (spec 5)
# Every table entry is round(2**q * c * f(pi*m/8192)) of an exact real number, computed here
# with Python integers at _PREC = 160 fractional bits (Machin's pi, Taylor series of the grid
# step, then a rotation recurrence; error about 2**-140) and rounded only once.  No float, no libm:
# the integers are the same on every machine, and _qround refuses an entry whose real value is
# within 2**-100 of a rounding tie, so any correct method (mpmath, a float64 libm almost always) gives the same tables.
# tests/kernels/test_kernels_mdct.py pins their SHA-256 (also listed in the spec).

_PREC = 160
_GRID = 8192  # every angle used is pi * m / 8192, 0 <= m <= 8192


def _atan_inv(x: int, one: int) -> int:
    """arctan(1/x) * one (alternating series, error of a few units)."""
    power = one // x
    total, n, sign, x2 = power, 1, -1, x * x
    while power:
        power //= x2
        n += 2
        total += sign * (power // n)
        sign = -sign
    return total


def _sin_grid() -> list:
    """sin(pi * m / 8192) * 2**_PREC for m = 0..4096, with about 2**-140 absolute error."""
    guard = 32
    one = 1 << (_PREC + guard)
    pi = 4 * (4 * _atan_inv(5, one) - _atan_inv(239, one))  # Machin (1706)
    th = pi // _GRID
    th2 = (th * th) >> (_PREC + guard)
    s = term = th  # Taylor series of sin and cos of the grid step
    i = 1
    while term:
        term = -(term * th2 >> (_PREC + guard)) // ((2 * i) * (2 * i + 1))
        s += term
        i += 1
    c = term = one
    i = 1
    while term:
        term = -(term * th2 >> (_PREC + guard)) // ((2 * i - 1) * (2 * i))
        c += term
        i += 1
    # rotate (1, 0) by the step 4096 times; the rotation keeps errors additive (~4096 units)
    out = [0] * (_GRID // 2 + 1)
    cm, sm = one, 0
    for m in range(1, _GRID // 2 + 1):
        cm, sm = (cm * c - sm * s) >> (_PREC + guard), (sm * c + cm * s) >> (_PREC + guard)
        out[m] = sm >> guard
    return out


def _qround(num: int, frac: int) -> int:
    """round(num / 2**frac), refusing a value within 2**-100 of a tie (spec 5.1)."""
    r = num & ((1 << frac) - 1)
    if abs(r - (1 << (frac - 1))) <= (1 << (frac - 100)):
        raise ArithmeticError("MDCT table entry too close to a rounding tie")
    return (num + (1 << (frac - 1))) >> frac


def _build_tables():
    g = _sin_grid()
    sin = lambda m: g[m] if m <= _GRID // 2 else g[_GRID - m]  # noqa: E731  (0 <= m <= 8192)
    cos = lambda m: g[_GRID // 2 - m] if m <= _GRID // 2 else -g[m - _GRID // 2]  # noqa: E731
    sqrt2 = _math.isqrt(2 << (2 * _PREC))  # sqrt(2) * 2**_PREC, truncated (error < 2**-_PREC)

    def q30(v):
        return _qround(v << TW_BITS, _PREC)

    def twiddles(M):  # exp(-i pi (k + 1/8) / M), k < M/2  (spec 5.2)
        step = _GRID // (8 * M)
        return np.array([[q30(cos((8 * k + 1) * step)), q30(-sin((8 * k + 1) * step))]
                         for k in range(M // 2)], dtype=np.int64)

    tw_long, tw_short = twiddles(1024), twiddles(128)
    fft_tw = np.array([[q30(cos(32 * j)), q30(-sin(32 * j))] for j in range(256)], dtype=np.int64)
    # windows with sqrt(2/M) folded in, Q31: long 2**26.5 = sqrt(2) * 2**26, short 2**28 (spec 5.3)
    long_ = [_qround(sin(4 * n + 2) * sqrt2 << 26, 2 * _PREC) for n in range(2048)]
    flat = _qround(sqrt2 << 26, _PREC)
    slope = [_qround(sin(32 * i + 16) * sqrt2 << 26, 2 * _PREC) for i in range(128, 256)]
    start = long_[:1024] + [flat] * 448 + slope + [0] * 448
    short = [_qround(sin(32 * i + 16) << 28, _PREC) for i in range(256)]
    win = np.zeros((4, 2048), dtype=np.int64)
    win[LONG] = long_
    win[START] = start
    win[STOP] = start[::-1]
    win[SHORT, :256] = short
    return tw_long, tw_short, fft_tw, win


def _bitrev(P: int) -> np.ndarray:
    bits = P.bit_length() - 1
    return np.array([int(format(i, f"0{bits}b")[::-1], 2) for i in range(P)], dtype=np.int64)


# TW_LONG (512, 2), TW_SHORT (64, 2): Q30 pre/post twiddles exp(-i pi (k + 1/8) / M) as [re, im]
# rows, M = 1024 and 128; FFT_TW (256, 2): Q30 exp(-2 pi i j / 512) (a 64-point FFT uses every
# 8th); WIN_Q (4, 2048): Q31 windows times sqrt(2/M) by kind, row SHORT = the 256-sample short window
TW_LONG, TW_SHORT, FFT_TW, WIN_Q = _build_tables()
REV_LONG, REV_SHORT = _bitrev(512), _bitrev(64)
for _t in (TW_LONG, TW_SHORT, FFT_TW, WIN_Q):
    _t.flags.writeable = False


def table_bytes() -> bytes:
    """The tables as hashed by spec 5.4: TW_LONG, TW_SHORT, FFT_TW, WIN_Q, little-endian int64, row-major."""
    return b"".join(np.ascontiguousarray(t, dtype="<i8").tobytes() for t in (TW_LONG, TW_SHORT, FFT_TW, WIN_Q))


# ============================================================================ window sequences (spec 3)
def is_legal(kinds) -> bool:
    """True when ``kinds`` holds only 0..3 and every adjacent pair is in :data:`TRANSITIONS`."""
    k = np.asarray(kinds)
    if k.ndim != 1 or (k.size and (k.min() < 0 or k.max() > 3)):
        return False
    return bool(_legal_nb(k.astype(np.int64)))


@kernel
def _legal_nb(kinds):
    """numba form of :func:`is_legal` for decoders: a kind's right half must match the next one's
    left half (short slope after START/SHORT) and START/STOP exist only next to SHORT."""
    for t in range(kinds.shape[0]):
        k = kinds[t]
        if k < 0 or k > 3:
            return False
        if t > 0:
            p = kinds[t - 1]
            if (p == START or p == SHORT) != (k == SHORT or k == STOP):
                return False
            if p == START and k == STOP:
                return False
    return True


def plan_kinds(want_short) -> np.ndarray:
    """A legal kinds sequence (int64, ``(F,)``) that is SHORT wherever ``want_short`` is.

    A frame before a SHORT run becomes START and one after it STOP (AAC's
    LONG_START / LONG_STOP); a single frame between two SHORT runs could be
    neither, so it becomes SHORT too.
    """
    s = np.asarray(want_short, dtype=bool).copy()
    if s.ndim != 1:
        raise ValueError("want_short must be one-dimensional")
    if s.size >= 3:
        s[1:-1] |= s[:-2] & s[2:]  # one pass suffices: filling a gap never creates a new one
    prev = np.zeros_like(s)
    nxt = np.zeros_like(s)
    prev[1:] = s[:-1]
    nxt[:-1] = s[1:]
    kinds = np.full(s.shape, LONG, dtype=np.int64)
    kinds[~s & nxt] = START
    kinds[~s & prev] = STOP  # prev and nxt both short cannot happen after the fill
    kinds[s] = SHORT
    return kinds


# ============================================================================ transient detector
#: per-128-sample decay of the detector's peak-hold envelope (-1.5 dB: tracks a drum's decay)
ENV_DECAY = 0.7


@kernel
def _attacks(E, thr, floor):
    """Sub-blocks whose energy exceeds ``thr`` times the decaying peak of the earlier ones."""
    nb, nc = E.shape
    hit = np.zeros(nb, dtype=np.bool_)
    for c in range(nc):
        env = E[0, c]  # row 0 straddles the packet start: context only, never an attack
        for b in range(1, nb):
            e = E[b, c]
            if e > floor and e > thr * env:
                hit[b] = True
            env = max(e, ENV_DECAY * env)
    return hit


def detect_transients(x, *, threshold_db: float = 10.0, floor_db: float = -75.0,
                      full_scale: float = 32768.0) -> np.ndarray:
    """Frames (bool ``(F,)``) that should be SHORT so attacks in ``x`` get no pre-echo.

    ``x`` is ``(L, C)`` or ``(L,)`` in the units of :func:`forward` (``full_scale``
    is their full scale: 32768 for 16-bit PCM, 1.0 for float audio).  Each channel
    is high-passed (first difference: attacks are broadband, low notes swell) and cut
    into 128-sample sub-blocks on the short-window grid, ``[128 b + 64, 128 b + 192)``.
    Sub-block ``b`` is an attack when its energy exceeds the peak-hold envelope of the
    earlier sub-blocks (decaying 1.5 dB per sub-block) by ``threshold_db`` and its RMS
    is above ``floor_db`` re full scale, so silence, steady tones and noise
    (128-sample energies of white noise vary by ~1 dB) never trigger.

    Which frame: a SHORT frame ``t`` needs a START at ``t-1`` and a STOP at ``t+1``;
    START's window ends at ``1024 t - 448`` and STOP's begins at ``1024 t + 448``
    (its short rising slope), so an attack in ``[1024 t - 448, 1024 t + 576)`` is
    seen by no long window before it -- at most by STOP's 128-sample slope, which is
    no more pre-echo than a short window's.  These ranges tile the time axis on the
    sub-block grid: sub-block ``b`` belongs to frame ``(b + 4) // 8`` (spec 3.3).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError("x must be (L,) or (L, C)")
    L = x.shape[0]
    F = n_frames(L)
    want = np.zeros(F, dtype=bool)
    nb = -(-(L - 64) // SHORT_N) + 1 if L > 64 else 0  # sub-blocks -1 .. nb-2 start before L
    if nb < 2:
        return want
    d = np.empty_like(x)
    d[0] = x[0]
    np.subtract(x[1:], x[:-1], out=d[1:])
    pad = np.zeros((nb * SHORT_N, x.shape[1]))
    pad[64 : 64 + L] = d  # row i of pad is sample i - 64, so sub-block b is rows 128 (b + 1) ...
    r = pad.reshape(nb, SHORT_N, -1)
    E = np.einsum("bnc,bnc->bc", r, r)
    floor = SHORT_N * (full_scale * 10.0 ** (floor_db / 20.0)) ** 2
    hit = _attacks(np.ascontiguousarray(E), 10.0 ** (threshold_db / 10.0), floor)
    b = np.nonzero(hit)[0] - 1
    want[np.minimum((b + 4) // 8, F - 1)] = True
    return want


# ============================================================================ float transforms
def _sine(n2: int) -> np.ndarray:
    return np.sin(np.pi * (np.arange(n2) + 0.5) / n2)


_W_LONG = _sine(2048)
_W_SHORT = _sine(256)
_W_FLOAT = np.zeros((4, 2048))
_W_FLOAT[LONG] = _W_LONG
_W_FLOAT[START, :1024] = _W_LONG[:1024]
_W_FLOAT[START, 1024:1472] = 1.0
_W_FLOAT[START, 1472:1600] = _W_SHORT[128:]
_W_FLOAT[STOP] = _W_FLOAT[START, ::-1]


def window(kind: int) -> np.ndarray:
    """The analysis/synthesis window (float64 (2048,)) of a long-type kind, or (256,) for SHORT."""
    if kind == SHORT:
        return _W_SHORT.copy()
    if kind not in (LONG, START, STOP):
        raise ValueError(f"unknown frame kind {kind!r}")
    return _W_FLOAT[kind].copy()


def _check_kinds(kinds, F: int) -> np.ndarray:
    k = np.asarray(kinds)
    if k.shape != (F,) or not np.issubdtype(k.dtype, np.integer):
        raise ValueError(f"kinds must be integers of shape ({F},), got {k.dtype} {k.shape}")
    if not is_legal(k):
        raise ValueError("kinds is not a legal window sequence (spec 3.2)")
    return k.astype(np.int64)


def _fold(z: np.ndarray) -> np.ndarray:
    """Time-domain aliasing of 2M windowed samples (..., 2M) -> (..., M): (-c_r - d, a - b_r)."""
    a, b, c, d = np.split(z, 4, axis=-1)
    return np.concatenate((-c[..., ::-1] - d, a - b[..., ::-1]), axis=-1)


def _unfold(v: np.ndarray) -> np.ndarray:
    """Inverse of the folding: M DCT-IV outputs (..., M) -> 2M aliased samples."""
    v1, v2 = np.split(v, 2, axis=-1)
    return np.concatenate((v2, -v2[..., ::-1], -v1[..., ::-1], -v1), axis=-1)


def forward(x, kinds) -> np.ndarray:
    """Orthonormal MDCT of one channel ``x`` (float64 ``(L,)``) -> float64 ``(F, 1024)``.

    ``kinds`` (int64 ``(F,)``, legal) selects each frame's windows; a SHORT frame holds
    its eight 128-coefficient blocks block-major.  Folding + DCT-IV (spec 7).
    """
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("forward takes one channel, shape (L,)")
    L = x.shape[0]
    F = n_frames(L)
    kinds = _check_kinds(kinds, F)
    xp = np.zeros((F + 1) * HOP)
    xp[HOP : HOP + L] = x
    frames = np.lib.stride_tricks.sliding_window_view(xp, 2 * HOP)[::HOP]
    out = np.empty((F, HOP))
    lng = kinds != SHORT
    if lng.any():
        z = frames[lng] * _W_FLOAT[kinds[lng]]
        out[lng] = _fft.dct(_fold(z), type=4, norm="ortho", axis=-1, workers=1)
    sh = np.nonzero(~lng)[0]
    if sh.size:
        # short block j of frame t starts at xp[t*1024 + 448 + 128 j]; 448 = 7 * 64
        blocks = np.lib.stride_tricks.sliding_window_view(xp, 2 * SHORT_N)[::64]
        idx = sh[:, None] * (HOP // 64) + SHORT_OFFSET // 64 + 2 * np.arange(N_SHORT)
        z = blocks[idx] * _W_SHORT
        out[sh] = _fft.dct(_fold(z), type=4, norm="ortho", axis=-1, workers=1).reshape(-1, HOP)
    return out


def inverse(coefs, kinds, L: int) -> np.ndarray:
    """Float64 inverse of :func:`forward`: ``(F, 1024)`` coefficients -> ``(L,)`` samples."""
    from scipy import fft as _fft  # imported on use: keeps scipy out of `import snc` and decoding

    F = n_frames(L)
    coefs = np.asarray(coefs, dtype=np.float64)
    if coefs.shape != (F, HOP):
        raise ValueError(f"coefs must have shape ({F}, {HOP}), got {coefs.shape}")
    kinds = _check_kinds(kinds, F)
    spans = np.zeros((F, 2 * HOP))
    lng = kinds != SHORT
    if lng.any():
        v = _fft.dct(coefs[lng], type=4, norm="ortho", axis=-1, workers=1)
        spans[lng] = _unfold(v) * _W_FLOAT[kinds[lng]]
    if (~lng).any():
        v = _fft.dct(coefs[~lng].reshape(-1, N_SHORT, SHORT_N), type=4, norm="ortho", axis=-1, workers=1)
        u = _unfold(v) * _W_SHORT
        part = np.zeros((u.shape[0], 2 * HOP))
        for j in range(N_SHORT):
            o = SHORT_OFFSET + SHORT_N * j
            part[:, o : o + 2 * SHORT_N] += u[:, j]
        spans[~lng] = part
    y = np.zeros((F + 1) * HOP)
    y2 = y.reshape(F + 1, HOP)
    y2[:F] += spans[:, :HOP]
    y2[1:] += spans[:, HOP:]
    return y[HOP : HOP + L].copy()


# ============================================================================ integer inverse (spec 6)
_HALF_TW = 1 << (TW_BITS - 1)


@njit(cache=True, inline="always")
def _shr_even(v, s):
    """round(v / 2**s) with ties to even for s > 0 (exact v * 2**-s for s <= 0).  Used for the
    block-floating-point shift, where ties are common (half of all values when s = 1) and
    ties-up would add a bias of 1/4 to every coefficient -- a coherent error in the FFT."""
    if s > 0:
        return (v + (np.int64(1) << (s - 1)) - 1 + ((v >> s) & 1)) >> s
    return v << (-s)


@kernel
def _imdct_block(X, M, tw, fft_tw, rev, win, acc, off, re, im, y):
    """Add the windowed inverse MDCT of the M integer coefficients ``X`` to ``acc[off:off+2M]``
    (spec 6.1 - 6.5); ``re``, ``im``, ``y`` are scratch of at least M/2, M/2, M entries.
    Returns False (and adds nothing) when some ``|X[k]| > MAX_ABS_COEF``."""
    P = M >> 1
    # 6.1 block floating point: shift so that sum |X'| < 2**32
    l1 = np.int64(0)
    for k in range(M):
        v = X[k]
        if v > MAX_ABS_COEF or v < -MAX_ABS_COEF:
            return False
        l1 += v if v >= 0 else -v
    nbits = 0
    while (l1 >> nbits) != 0:
        nbits += 1
    s = nbits - BFP_BITS
    # 6.2 pre-twiddle into bit-reversed order: v[k] = (X'[2k] + i X'[M-1-2k]) * exp(-i pi (k+1/8)/M)
    for k in range(P):
        xr = _shr_even(X[2 * k], s)
        xi = _shr_even(X[M - 1 - 2 * k], s)
        wr = tw[k, 0]
        wi = tw[k, 1]
        j = rev[k]
        re[j] = (xr * wr - xi * wi + _HALF_TW) >> TW_BITS
        im[j] = (xr * wi + xi * wr + _HALF_TW) >> TW_BITS
    # 6.3 radix-2 decimation-in-time FFT, two stages per pass (same roundings, half the memory
    # traffic); the first two stages have the exact twiddles 1 and -i and need no multiply
    for g in range(0, P, 4):
        b0r = re[g] + re[g + 1]
        b0i = im[g] + im[g + 1]
        b1r = re[g] - re[g + 1]
        b1i = im[g] - im[g + 1]
        b2r = re[g + 2] + re[g + 3]
        b2i = im[g + 2] + im[g + 3]
        b3r = re[g + 2] - re[g + 3]
        b3i = im[g + 2] - im[g + 3]
        re[g] = b0r + b2r
        im[g] = b0i + b2i
        re[g + 2] = b0r - b2r
        im[g + 2] = b0i - b2i
        re[g + 1] = b1r + b3i  # (b3r + i b3i) * (-i) = b3i - i b3r
        im[g + 1] = b1i - b3r
        re[g + 3] = b1r - b3i
        im[g + 3] = b1i + b3r
    h = 4
    while 4 * h <= P:  # stages h and 2h: W1 = W_2h^j, W2 = W_4h^j, W3 = W_4h^(j+h)
        s1 = 256 // h
        s2 = 128 // h
        for j in range(h):
            w1r = fft_tw[j * s1, 0]
            w1i = fft_tw[j * s1, 1]
            w2r = fft_tw[j * s2, 0]
            w2i = fft_tw[j * s2, 1]
            w3r = fft_tw[j * s2 + 128, 0]
            w3i = fft_tw[j * s2 + 128, 1]
            for g in range(j, P, 4 * h):
                a0r = re[g]
                a0i = im[g]
                a1r = re[g + h]
                a1i = im[g + h]
                a2r = re[g + 2 * h]
                a2i = im[g + 2 * h]
                a3r = re[g + 3 * h]
                a3i = im[g + 3 * h]
                tr = (a1r * w1r - a1i * w1i + _HALF_TW) >> TW_BITS
                ti = (a1r * w1i + a1i * w1r + _HALF_TW) >> TW_BITS
                b0r = a0r + tr
                b0i = a0i + ti
                b1r = a0r - tr
                b1i = a0i - ti
                tr = (a3r * w1r - a3i * w1i + _HALF_TW) >> TW_BITS
                ti = (a3r * w1i + a3i * w1r + _HALF_TW) >> TW_BITS
                b2r = a2r + tr
                b2i = a2i + ti
                b3r = a2r - tr
                b3i = a2i - ti
                tr = (b2r * w2r - b2i * w2i + _HALF_TW) >> TW_BITS
                ti = (b2r * w2i + b2i * w2r + _HALF_TW) >> TW_BITS
                re[g] = b0r + tr
                im[g] = b0i + ti
                re[g + 2 * h] = b0r - tr
                im[g + 2 * h] = b0i - ti
                tr = (b3r * w3r - b3i * w3i + _HALF_TW) >> TW_BITS
                ti = (b3r * w3i + b3i * w3r + _HALF_TW) >> TW_BITS
                re[g + h] = b1r + tr
                im[g + h] = b1i + ti
                re[g + 3 * h] = b1r - tr
                im[g + 3 * h] = b1i - ti
        h *= 4
    if h < P:  # one radix-2 stage left (P = 512: h = 256)
        s1 = 256 // h
        for j in range(h):
            w1r = fft_tw[j * s1, 0]
            w1i = fft_tw[j * s1, 1]
            for g in range(j, P, 2 * h):
                a1r = re[g + h]
                a1i = im[g + h]
                tr = (a1r * w1r - a1i * w1i + _HALF_TW) >> TW_BITS
                ti = (a1r * w1i + a1i * w1r + _HALF_TW) >> TW_BITS
                a0r = re[g]
                a0i = im[g]
                re[g] = a0r + tr
                im[g] = a0i + ti
                re[g + h] = a0r - tr
                im[g + h] = a0i - ti
    # 6.4 post-twiddle: y[2n] = Re Z[n], y[M-1-2n] = -Im Z[n]
    for n in range(P):
        wr = tw[n, 0]
        wi = tw[n, 1]
        zr = re[n]
        zi = im[n]
        y[2 * n] = (zr * wr - zi * wi + _HALF_TW) >> TW_BITS
        y[M - 1 - 2 * n] = -((zr * wi + zi * wr + _HALF_TW) >> TW_BITS)
    # 6.5 unfold (y2, -y2_r, -y1_r, -y1), window, scale to ACC_FRAC fractional bits, accumulate
    sh = WIN_BITS + COEF_FRAC - ACC_FRAC - s
    if sh > 0:
        rc = np.int64(1) << (sh - 1)
        for n in range(P):
            acc[off + n] += (y[P + n] * win[n] + rc) >> sh
            acc[off + P + n] += (rc - y[M - 1 - n] * win[P + n]) >> sh
            acc[off + M + n] += (rc - y[P - 1 - n] * win[M + n]) >> sh
            acc[off + M + P + n] += (rc - y[n] * win[M + P + n]) >> sh
    else:  # only when sum |X| >= 2**54 (spec 6.8)
        for n in range(P):
            acc[off + n] += (y[P + n] * win[n]) << -sh
            acc[off + P + n] -= (y[M - 1 - n] * win[P + n]) << -sh
            acc[off + M + n] -= (y[P - 1 - n] * win[M + n]) << -sh
            acc[off + M + P + n] -= (y[n] * win[M + P + n]) << -sh
    return True


#: return codes of :func:`inverse_int_nb`
INV_OK, INV_SHAPE, INV_KINDS, INV_RANGE = range(4)
INV_MESSAGES = ("ok", "coefficient array does not match the packet length",
                "illegal window sequence", "coefficient magnitude above MAX_ABS_COEF")


@kernel
def inverse_int_nb(coefs, kinds, out):
    """Integer inverse MDCT of a packet into ``out`` (int64, length L): the numba-callable core
    of :func:`inverse_int` for decoders.  ``coefs`` is int64 ``(F, 1024)``, ``kinds`` int64
    ``(F,)``.  Checks everything it relies on and returns ``INV_OK`` or an ``INV_*`` code
    (``out`` is then unspecified); never overflows, never indexes out of bounds."""
    F = coefs.shape[0]
    L = out.shape[0]
    if coefs.shape[1] != HOP or kinds.shape[0] != F or F != (L + HOP - 1) // HOP + 1:
        return INV_SHAPE
    if not _legal_nb(kinds):
        return INV_KINDS
    # acc[i] is sample (t-1)*1024 + i while frame t is added; after it, acc[:1024] is final
    acc = np.zeros(2 * HOP, dtype=np.int64)
    re = np.empty(512, dtype=np.int64)
    im = np.empty(512, dtype=np.int64)
    y = np.empty(1024, dtype=np.int64)
    win_short = WIN_Q[SHORT, :256]
    half = np.int64(1) << (ACC_FRAC - 1)
    for t in range(F):
        k = kinds[t]
        if k == SHORT:
            for j in range(N_SHORT):
                if not _imdct_block(coefs[t, SHORT_N * j : SHORT_N * (j + 1)], SHORT_N, TW_SHORT, FFT_TW,
                                    REV_SHORT, win_short, acc, SHORT_OFFSET + SHORT_N * j, re, im, y):
                    return INV_RANGE
        elif not _imdct_block(coefs[t], HOP, TW_LONG, FFT_TW, REV_LONG, WIN_Q[k], acc, 0, re, im, y):
            return INV_RANGE
        base = (t - 1) * HOP
        for i in range(max(0, -base), min(HOP, L - base)):
            out[base + i] = (acc[i] + half) >> ACC_FRAC  # 6.6: floor(A / 2**16 + 1/2)
        # element loop, not slice assignment: a slice copy compiles numba's shape-mismatch error
        # formatting (string code) into the kernel, seconds of first-run compile for nothing
        for i in range(HOP):
            acc[i] = acc[HOP + i]
            acc[HOP + i] = 0
    return INV_OK


def inverse_int(coefs, kinds, L: int) -> np.ndarray:
    """Bit-exact integer inverse MDCT (spec 6) -> int64 ``(L,)``.

    ``coefs`` is integer ``(F, 1024)``, ``F = n_frames(L)``, in units of ``2**-COEF_FRAC``
    of the orthonormal coefficient, ``|c| <= MAX_ABS_COEF``; ``kinds`` a legal sequence.
    The output is in the units of :func:`forward`'s input, rounded to nearest with ties
    upwards (``floor(v + 1/2)``).  Integer-only (no float, no libm): identical on every
    machine.  Raises ValueError for inputs outside that contract.
    """
    F = n_frames(L)
    coefs = np.asarray(coefs)
    if coefs.shape != (F, HOP) or coefs.dtype.kind not in "iu":
        raise ValueError(f"coefs must be integers of shape ({F}, {HOP}), got {coefs.dtype} {coefs.shape}")
    if coefs.dtype.kind == "u" and coefs.size and coefs.max() > MAX_ABS_COEF:
        raise ValueError(INV_MESSAGES[INV_RANGE])
    kinds = np.asarray(kinds)
    if kinds.shape != (F,) or kinds.dtype.kind not in "iu" or (F and (kinds.min() < 0 or kinds.max() > 3)):
        raise ValueError(f"kinds must be integers 0..3 of shape ({F},)")
    out = np.empty(int(L), dtype=np.int64)
    err = inverse_int_nb(np.ascontiguousarray(coefs, dtype=np.int64), kinds.astype(np.int64), out)
    if err != INV_OK:
        raise ValueError(INV_MESSAGES[err])
    return out
