"""The MDCT filter bank of the ``perceptual`` codec against NumPy references
(``spec/perceptual-transform.md``).

``ref_forward`` is the direct O(M^2) MDCT formula and ``ref_inverse_int`` the
fixed-point inverse written from the spec alone (recursive FFT, vectorised over
blocks, generic over the integer type: with ``dtype=object`` it runs on Python
integers, which cannot overflow, so agreeing with it proves the int64 kernel
did not overflow either).

Speed (not a timed test; 2 shared cores make timings noisy, take the best of several)::

    python3 - <<'EOF'
    import time, numpy as np
    from snc.kernels import mdct
    rng = np.random.default_rng(0); L = 60 * 44100; F = mdct.n_frames(L)
    x = rng.standard_normal(L) * 3000
    k = mdct.plan_kinds(rng.random(F) < 0.1)
    c = mdct.forward(x, k); ci = np.round(c * 2**mdct.COEF_FRAC).astype(np.int64)
    mdct.inverse_int(ci, k, L)
    best = lambda f: min((lambda t: (f(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
    print("forward     x%.0f" % (60 / best(lambda: mdct.forward(x, k))))
    print("inverse_int x%.0f" % (60 / best(lambda: mdct.inverse_int(ci, k, L))))
    EOF
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snc.kernels import mdct

RNG_SEED = 20240917
LONG, START, SHORT, STOP = 0, 1, 2, 3

# ----------------------------------------------------------------------------- references


def ref_legal(kinds) -> bool:
    """Spec 3.2 as a transition table."""
    ok = {(LONG, LONG), (LONG, START), (START, SHORT), (SHORT, SHORT), (SHORT, STOP), (STOP, LONG), (STOP, START)}
    return all(int(k) in range(4) for k in kinds) and all((int(a), int(b)) in ok for a, b in zip(kinds, kinds[1:]))


def legal_sequences(n: int):
    return [np.array(s, dtype=np.int64) for s in itertools.product(range(4), repeat=n) if ref_legal(s)]


def ref_window(kind: int) -> np.ndarray:
    """Spec 3.1 windows written out sample by sample."""
    if kind == SHORT:
        return np.array([math.sin(math.pi * (n + 0.5) / 256) for n in range(256)])
    long_ = [math.sin(math.pi * (n + 0.5) / 2048) for n in range(2048)]
    if kind == LONG:
        return np.array(long_)
    start = long_[:1024] + [1.0] * 448 + [math.sin(math.pi * (n - 1344 + 0.5) / 256) for n in range(1472, 1600)]
    start += [0.0] * 448
    return np.array(start if kind == START else start[::-1])


def ref_mdct(z: np.ndarray) -> np.ndarray:
    """Direct orthonormal MDCT of windowed 2M-sample blocks (..., 2M)."""
    M = z.shape[-1] // 2
    n = np.arange(2 * M)
    k = np.arange(M)
    basis = math.sqrt(2 / M) * np.cos(np.pi / M * np.outer(k + 0.5, n + 0.5 + M / 2))
    return z @ basis.T


def ref_forward(x: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    F = len(kinds)
    xp = np.zeros((F + 1) * 1024)
    xp[1024 : 1024 + len(x)] = x
    out = np.zeros((F, 1024))
    for t, kind in enumerate(kinds):
        span = xp[t * 1024 : t * 1024 + 2048]
        if kind == SHORT:
            for j in range(8):
                o = 448 + 128 * j
                out[t, 128 * j : 128 * j + 128] = ref_mdct(span[o : o + 256] * ref_window(SHORT))
        else:
            out[t] = ref_mdct(span * ref_window(kind))
    return out


def _rnd(v, s: int):
    """floor(v / 2**s + 1/2) for s > 0, v * 2**-s otherwise (spec 1)."""
    return (v + (1 << (s - 1))) >> s if s > 0 else v * (1 << -s)


def _rnd_even(v, s: int):
    """Spec 6.2: v / 2**s rounded to nearest, ties to even (s > 0); v * 2**-s otherwise."""
    if s <= 0:
        return v * (1 << -s)
    q, r = v >> s, v & ((1 << s) - 1)
    half = 1 << (s - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1)))


def _cmul(ar, ai, w, dtype):
    wr, wi = w[..., 0].astype(dtype), w[..., 1].astype(dtype)
    return _rnd(ar * wr - ai * wi, 30), _rnd(ar * wi + ai * wr, 30)


def _ref_fft(re, im, dtype):
    """Spec 6.4, recursively: FFT_P(x) = (E + W O, E - W O)."""
    P = re.shape[-1]
    if P == 1:
        return re, im
    er, ei = _ref_fft(re[:, 0::2], im[:, 0::2], dtype)
    orr, oi = _ref_fft(re[:, 1::2], im[:, 1::2], dtype)
    tr, ti = _cmul(orr, oi, mdct.FFT_TW[np.arange(P // 2) * (512 // P)], dtype)
    return np.concatenate((er + tr, er - tr), axis=1), np.concatenate((ei + ti, ei - ti), axis=1)


def _ref_imdct(X, win, dtype):
    """Spec 6.2 - 6.6 for blocks X (B, M): windowed output (B, 2M) at 16 fractional bits."""
    B, M = X.shape
    P = M // 2
    X = X.astype(dtype)
    tw = mdct.TW_LONG if M == 1024 else mdct.TW_SHORT
    s = [int(sum(abs(int(v)) for v in row)).bit_length() - 32 for row in X]
    Xs = np.stack([_rnd_even(row, sb) for row, sb in zip(X, s)])
    vr, vi = _cmul(Xs[:, 0::2], Xs[:, ::-1][:, 0::2], tw, dtype)
    zr, zi = _ref_fft(vr, vi, dtype)
    yr, yi = _cmul(zr, zi, tw, dtype)
    y = np.empty((B, M), dtype=dtype)
    y[:, 0::2] = yr
    y[:, ::-1][:, 0::2] = -yi
    u = np.concatenate((y[:, P:], -y[:, P:][:, ::-1], -y[:, :P][:, ::-1], -y[:, :P]), axis=1)
    p = u * win.astype(dtype)
    return np.stack([_rnd(row, 31 + 8 - 16 - sb) for row, sb in zip(p, s)])


def ref_inverse_int(coefs, kinds, L, dtype=np.int64):
    F = len(kinds)
    acc = np.zeros((F + 1) * 1024, dtype=dtype)
    for t, kind in enumerate(kinds):
        if kind == SHORT:
            out = _ref_imdct(coefs[t].reshape(8, 128), mdct.WIN_Q[SHORT, :256], dtype)
            for j in range(8):
                o = t * 1024 + 448 + 128 * j
                acc[o : o + 256] += out[j]
        else:
            acc[t * 1024 : t * 1024 + 2048] += _ref_imdct(coefs[t][None], mdct.WIN_Q[kind], dtype)[0]
    return _rnd(acc[1024 : 1024 + L], 16)


def random_kinds(rng, F, p=0.3):
    return mdct.plan_kinds(rng.random(F) < p)


# ----------------------------------------------------------------------------- framing, tables


@pytest.mark.parametrize("L,F", [(0, 1), (1, 2), (1023, 2), (1024, 2), (1025, 3), (44100, 45)])
def test_n_frames(L, F):
    assert mdct.n_frames(L) == F


#: SHA-256 of the integer tables (spec 5.4); a change here is a format change
TABLE_SHA256 = {
    "TW_LONG": "94311bf3eef49ee488c69f5aa0be861f42bbc90b2811516ee7213ae900601ace",
    "TW_SHORT": "448d650cd206bfe4b02741b43f627183642e43aa318578b23f93fdced94994dc",
    "FFT_TW": "10f0c84ff5eb738dc19eb6ab3b88a9fed282b56df4774d6692a88ed0bb536880",
    "WIN_Q": "6545e9d833b2501ee7be1b1f2339cfc1e24bcbf0637bc61cd75ab9894c041d37",
    "all": "289ef88058b0764faf9165a57b557ce05113bc1c2af57b04dcff49ae354536cd",
}


def test_table_hashes():
    for name in ("TW_LONG", "TW_SHORT", "FFT_TW", "WIN_Q"):
        got = hashlib.sha256(np.ascontiguousarray(getattr(mdct, name), dtype="<i8").tobytes()).hexdigest()
        assert got == TABLE_SHA256[name], name
    assert hashlib.sha256(mdct.table_bytes()).hexdigest() == TABLE_SHA256["all"]


def test_tables_match_float_formulas():
    """The exact-integer tables equal round(2**q * f) evaluated in float64 (no entry is near a tie)."""
    k = np.arange(512)
    for tw, M in ((mdct.TW_LONG, 1024), (mdct.TW_SHORT, 128)):
        a = np.pi * (np.arange(M // 2) + 0.125) / M
        np.testing.assert_array_equal(tw, np.round(np.stack([np.cos(a), -np.sin(a)], 1) * 2**30))
    a = 2 * np.pi * k[:256] / 512
    np.testing.assert_array_equal(mdct.FFT_TW, np.round(np.stack([np.cos(a), -np.sin(a)], 1) * 2**30))
    for kind in (LONG, START, STOP):
        np.testing.assert_array_equal(mdct.WIN_Q[kind], np.round(ref_window(kind) * 2**26.5))
    np.testing.assert_array_equal(mdct.WIN_Q[SHORT, :256], np.round(ref_window(SHORT) * 2**28))
    assert not mdct.WIN_Q[SHORT, 256:].any()


def test_sine_grid_is_accurate():
    g = mdct._sin_grid()
    for m in (1, 7, 1000, 2048, 4095, 4096):
        assert abs(g[m] / 2**mdct._PREC - math.sin(math.pi * m / 8192)) < 1e-15


# ----------------------------------------------------------------------------- window sequences


def test_legal_rule_matches_transition_table():
    for seq in itertools.product(range(4), repeat=3):
        assert mdct.is_legal(np.array(seq)) == ref_legal(seq), seq
    assert mdct.TRANSITIONS == {(a, b) for a in range(4) for b in range(4) if ref_legal((a, b))}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), min_size=0, max_size=40))
def test_plan_kinds_legal_and_minimal(want):
    want = np.array(want, dtype=bool)
    kinds = mdct.plan_kinds(want)
    assert kinds.dtype == np.int64 and kinds.shape == want.shape
    assert ref_legal(kinds)
    short = kinds == SHORT
    assert (short >= want).all()
    squeezed = np.zeros_like(want)
    squeezed[1:-1] = want[:-2] & want[2:] & ~want[1:-1]
    np.testing.assert_array_equal(short, want | squeezed)  # nothing else becomes SHORT
    for t in np.nonzero(~short)[0]:  # START/STOP only where a SHORT neighbour needs them
        nxt = t + 1 < len(kinds) and short[t + 1]
        prev = t > 0 and short[t - 1]
        assert kinds[t] == (START if nxt else STOP if prev else LONG)


# ----------------------------------------------------------------------------- float transforms


@pytest.mark.parametrize("kinds", [np.array(k) for k in ([0, 1, 2, 2, 3, 0], [2, 2, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0],
                                                       [1, 2, 3, 1, 2, 3], [2, 3, 0, 1, 2, 2])])
def test_forward_matches_direct_formula(kinds):
    rng = np.random.default_rng(RNG_SEED)
    L = 1024 * 4 + 321
    x = rng.standard_normal(L) * 1000
    got = mdct.forward(x, kinds)
    np.testing.assert_allclose(got, ref_forward(x, kinds), rtol=0, atol=1e-9 * np.abs(got).max())


def test_perfect_reconstruction_every_legal_sequence():
    rng = np.random.default_rng(RNG_SEED)
    L = 4097  # F = 6: every legal sequence of 6 frames
    seqs = legal_sequences(mdct.n_frames(L))
    assert len(seqs) == 65
    for kinds in seqs:
        x = rng.standard_normal(L)
        y = mdct.inverse(mdct.forward(x, kinds), kinds, L)
        assert np.abs(y - x).max() < 1e-9 * np.abs(x).max(), kinds


@pytest.mark.parametrize("L", [1, 100, 1023, 1024, 1025, 5000, 20480])
def test_perfect_reconstruction_lengths(L):
    rng = np.random.default_rng(L)
    for kinds in (np.zeros(mdct.n_frames(L), np.int64), np.full(mdct.n_frames(L), SHORT),
                  random_kinds(rng, mdct.n_frames(L))):
        x = rng.standard_normal(L) * 3e4
        y = mdct.inverse(mdct.forward(x, kinds), kinds, L)
        assert np.abs(y - x).max() < 1e-9 * np.abs(x).max()


@pytest.mark.parametrize("kind", [LONG, START, SHORT, STOP])
def test_orthonormal_scaling_white_noise(kind):
    """White noise of variance s^2 gives coefficients of variance s^2 in every kind (spec 4.1)."""
    rng = np.random.default_rng(RNG_SEED + kind)
    L = 64 * 1024
    x = rng.standard_normal(L) * 3.0
    F = mdct.n_frames(L)
    kinds = np.full(F, kind, np.int64)
    if kind in (START, STOP):
        kinds = np.resize(np.array([START, SHORT, STOP]), F)
    c = mdct.forward(x, kinds)
    sel = c[2:-2][kinds[2:-2] == kind]
    assert abs(sel.var() / 9.0 - 1) < 0.03


def test_parseval_synthesis():
    """Coefficient-domain energy E becomes time-domain energy E (orthogonal lapped transform)."""
    rng = np.random.default_rng(RNG_SEED)
    L = 10 * 1024
    F = mdct.n_frames(L)
    kinds = np.array([0, 0, 1, 2, 2, 3, 1, 2, 3, 0, 0], np.int64)
    assert len(kinds) == F
    c = rng.standard_normal((F, 1024))
    c[0] = c[-1] = 0  # frames 0 and F-1 reach outside [0, L)
    y = mdct.inverse(c, kinds, L)
    assert abs((y**2).sum() / (c**2).sum() - 1) < 1e-12


def test_windows_are_power_complementary():
    for a, b in mdct.TRANSITIONS:
        if SHORT in (a, b):
            continue
        wa, wb = mdct.window(a)[1024:], mdct.window(b)[:1024]
        np.testing.assert_allclose(wa**2 + wb**2, 1.0, atol=1e-15)
    ws = mdct.window(SHORT)
    np.testing.assert_allclose(ws[128:] ** 2 + ws[:128] ** 2, 1.0, atol=1e-15)


# ----------------------------------------------------------------------------- integer inverse


def _coef_cases(rng):
    """(name, coefs, kinds, L): PCM-scale spectra, random magnitudes, sparse and empty frames."""
    L = 4 * 1024 + 77
    F = mdct.n_frames(L)
    x = rng.integers(-32768, 32768, L).astype(np.float64)
    for kinds in (np.zeros(F, np.int64), np.full(F, SHORT), np.array([0, 1, 2, 3, 0, 0]), np.array([2, 2, 3, 1, 2, 3])):
        yield "pcm", np.round(mdct.forward(x, kinds) * 256).astype(np.int64), kinds, L
    mags = 2 ** rng.integers(0, 47, (F, 1))
    kinds = random_kinds(rng, F, 0.5)
    yield "magnitudes", rng.integers(-mags, mags, (F, 1024)), kinds, L
    sparse = np.zeros((F, 1024), np.int64)
    sparse[rng.integers(0, F, 12), rng.integers(0, 1024, 12)] = rng.integers(-(2**40), 2**40, 12)
    sparse[2] = 0
    yield "sparse", sparse, kinds, L


def test_inverse_int_equals_reference():
    rng = np.random.default_rng(RNG_SEED)
    for name, coefs, kinds, L in _coef_cases(rng):
        got = mdct.inverse_int(coefs, kinds, L)
        assert got.dtype == np.int64 and got.shape == (L,)
        np.testing.assert_array_equal(got, ref_inverse_int(coefs, kinds, L), err_msg=f"{name} {kinds}")


@pytest.mark.parametrize("L", [1, 700, 1024, 2500])
def test_inverse_int_short_packets(L):
    rng = np.random.default_rng(L)
    F = mdct.n_frames(L)
    for kinds in legal_sequences(F)[:: max(1, len(legal_sequences(F)) // 6)]:
        coefs = rng.integers(-(2**30), 2**30, (F, 1024))
        np.testing.assert_array_equal(mdct.inverse_int(coefs, kinds, L), ref_inverse_int(coefs, kinds, L))


def test_inverse_int_accuracy():
    """Against float64 synthesis of the same coefficients: off by the output rounding only."""
    rng = np.random.default_rng(RNG_SEED)
    L = 30 * 1024 + 5
    F = mdct.n_frames(L)
    worst = 0.0
    for kinds in (np.zeros(F, np.int64), np.full(F, SHORT), random_kinds(rng, F)):
        x = rng.uniform(-32768, 32767, L)  # not integers: the outputs land anywhere between two
        coefs = np.round(mdct.forward(x, kinds) * 2**mdct.COEF_FRAC).astype(np.int64)
        exact = mdct.inverse(coefs / 2**mdct.COEF_FRAC, kinds, L)
        err = np.abs(mdct.inverse_int(coefs, kinds, L) - exact)
        worst = max(worst, err.max())
        assert err.max() <= 1.0
    assert worst <= 0.5 + 2**-8  # arithmetic error itself is tiny


def test_pcm_round_trip_is_exact():
    """forward -> round(c * 2**COEF_FRAC) -> inverse_int gives back the PCM integers."""
    rng = np.random.default_rng(RNG_SEED)
    L = 20 * 1024 + 999
    F = mdct.n_frames(L)
    x = rng.integers(-32768, 32768, L)
    for kinds in (np.zeros(F, np.int64), random_kinds(rng, F)):
        coefs = np.round(mdct.forward(x, kinds) * 2**mdct.COEF_FRAC).astype(np.int64)
        y = mdct.inverse_int(coefs, kinds, L)
        assert np.abs(y - x).max() <= 1
        assert (y == x).mean() > 0.999


@pytest.mark.parametrize("mag", [2**45 - 1, mdct.MAX_ABS_COEF])
def test_large_coefficients_do_not_overflow(mag):
    """Python-integer reference (cannot overflow) == int64 kernel, and close to float64."""
    rng = np.random.default_rng(RNG_SEED)
    L = 2048
    kinds = np.array([LONG, START, SHORT])
    signs = rng.choice([-1, 1], (3, 1024))
    for coefs in (np.full((3, 1024), mag, np.int64), -np.full((3, 1024), mag, np.int64), signs * mag,
                  np.where(rng.random((3, 1024)) < 0.5, mag, -mag // 3)):
        got = mdct.inverse_int(coefs, kinds, L)
        np.testing.assert_array_equal(got, ref_inverse_int(coefs, kinds, L, dtype=object).astype(np.int64))
        exact = mdct.inverse(coefs / 2**mdct.COEF_FRAC, kinds, L)
        assert np.abs(got - exact).max() < 2**-20 * np.abs(exact).max()


def test_inverse_int_rejects_bad_input():
    F = 3
    ok = np.zeros((F, 1024), np.int64)
    kinds = np.zeros(F, np.int64)
    with pytest.raises(ValueError):
        mdct.inverse_int(ok, np.array([0, 2, 0]), 2048)  # LONG -> SHORT without START
    with pytest.raises(ValueError):
        mdct.inverse_int(ok, kinds, 3000)  # wrong F
    for bad in (mdct.MAX_ABS_COEF + 1, -(2**63)):
        c = ok.copy()
        c[1, 5] = bad
        with pytest.raises(ValueError):
            mdct.inverse_int(c, kinds, 2048)
    with pytest.raises(ValueError):
        mdct.inverse_int(np.full((F, 1024), 2**63, np.uint64), kinds, 2048)
    with pytest.raises(ValueError):
        mdct.inverse_int(ok.astype(np.float64), kinds, 2048)
    out = np.empty(2048, np.int64)
    assert mdct.inverse_int_nb(ok, np.array([0, 3, 0]), out) == mdct.INV_KINDS
    assert mdct.inverse_int_nb(ok[:2], kinds[:2], out) == mdct.INV_SHAPE


#: SHA-256 of inverse_int's output (little-endian int64) for the fixed input below: pins the format
GOLDEN_OUTPUT_SHA256 = "48cb5d05546eb336f7fd624dca76d80656037aa75520472f9a65dcd45e751715"


def test_golden_output():
    rng = np.random.default_rng(12345)  # PCG64 integers are the same on every platform
    L = 6 * 1024 + 100
    kinds = np.array([0, 1, 2, 2, 3, 1, 2, 3])
    coefs = rng.integers(-(2**27), 2**27, (8, 1024)) >> rng.integers(0, 27, (8, 1))
    out = mdct.inverse_int(coefs, kinds, L)
    assert hashlib.sha256(out.astype("<i8").tobytes()).hexdigest() == GOLDEN_OUTPUT_SHA256


# ----------------------------------------------------------------------------- transients

SR = 44100


def burst(rng, n=400, amp=12000.0):
    """A drum-like hit: noise with a fast exponential decay."""
    return rng.standard_normal(n) * amp * np.exp(-np.arange(n) / 80.0)


@pytest.mark.parametrize("p", [3000, 5000, 5120 - 448, 5120 - 449, 5120 + 300, 9000, 20000])
def test_click_after_silence_makes_its_frame_short(p):
    rng = np.random.default_rng(p)
    L = 24000
    x = np.zeros((L, 2))
    x[p : p + 400, 1] = burst(rng)  # one channel suffices
    want = mdct.detect_transients(x)
    t = (p + 448) // 1024  # spec 3.3
    assert want.shape == (mdct.n_frames(L),)
    assert want[t]
    assert set(np.nonzero(want)[0]) <= {t, t + 1}


@pytest.mark.parametrize("p", [4000, 7777, 15000])
def test_drum_onset_after_steady_tone(p):
    rng = np.random.default_rng(p)
    L = 20000
    n = np.arange(L)
    x = 6000 * np.sin(2 * np.pi * 440 * n / SR) + 3000 * np.sin(2 * np.pi * 97 * n / SR)
    hit = burst(rng, amp=8000.0) + 15000 * np.sin(2 * np.pi * 60 * np.arange(400) / SR) * np.exp(-np.arange(400) / 300)
    x[p : p + 400] += hit
    want = mdct.detect_transients(x[:, None])
    assert want[(p + 448) // 1024]
    assert want.sum() <= 2


@pytest.mark.parametrize("name", ["silence", "tone", "chord", "white", "quiet_noise", "tremolo"])
def test_steady_signals_stay_long(name):
    rng = np.random.default_rng(RNG_SEED)
    L = 3 * SR
    n = np.arange(L)
    x = {
        "silence": np.zeros(L),
        "tone": 20000 * np.sin(2 * np.pi * 1000 * n / SR),
        "chord": sum(5000 * np.sin(2 * np.pi * f * n / SR) for f in (220, 277.2, 329.6, 3520)),
        "white": rng.standard_normal(L) * 8000,
        "quiet_noise": rng.integers(-2, 3, L).astype(float),
        "tremolo": 15000 * np.sin(2 * np.pi * 440 * n / SR) * (0.55 + 0.45 * np.sin(2 * np.pi * 5 * n / SR)),
    }[name]
    assert not mdct.detect_transients(np.stack([x, 0.5 * x], 1)).any()


def test_pre_echo_short_vs_long():
    """A click coded coarsely: SHORT frames keep the noise within a short window of the click."""
    rng = np.random.default_rng(RNG_SEED)
    L = 16384
    p = 8500
    x = np.zeros(L)
    x[p : p + 400] = burst(rng)
    pre = slice(p - 2048, p - 256)
    energies = {}
    for name, kinds in (("short", mdct.plan_kinds(mdct.detect_transients(x))),
                        ("long", np.zeros(mdct.n_frames(L), np.int64))):
        c = mdct.forward(x, kinds)
        step = np.abs(c).max() / 6  # a handful of levels: audible noise
        q = np.round(c / step) * step
        y = mdct.inverse_int(np.round(q * 2**mdct.COEF_FRAC).astype(np.int64), kinds, L)
        energies[name] = float(((y - np.round(x))[pre] ** 2).sum())
    assert (mdct.plan_kinds(mdct.detect_transients(x)) == SHORT).any()
    assert energies["long"] > 1e3
    assert energies["short"] < 1e-3 * energies["long"]
