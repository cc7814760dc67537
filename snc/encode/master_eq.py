"""The master's EQ: the filter a mastering chain put on the sum of the stems before its compressor or limiter.

A mastered mix is ``M ~ g(t) * H(D)``: ``D`` the sum of the stems, ``H`` the chain's EQ (a low-order IIR
filter: shelves and peaks are biquads) and ``g`` its time-varying gain.  Neither is known.  Both are fitted by
alternating least squares:

- with ``H`` fixed, the gain's knots are linear least squares (:func:`snc.encode.master.fit_knots`);
- with ``g`` fixed, ``y = M / g ~ H(D)``, and ``H = B / A`` is fitted by the Steiglitz-McBride iteration
  (K. Steiglitz and L. McBride, "A technique for the identification of linear systems", IEEE Trans. Automatic
  Control 10(4), 1965): the equation error ``A(y) - B(D)`` with both signals prefiltered by ``1 / A`` of the
  previous estimate, which approaches the output error ``y - H(D)`` that the residual pays for.

The rounds stop when the fitted residual's energy no longer falls; an EQ that does not halve what the gain alone
leaves is no EQ (:data:`EXPLAINED`).  The result is factored into biquads and
quantised (:mod:`snc.kernels.master_eq`); a filter whose quantised poles are not strictly inside the unit circle
is refused.  Whether the EQ pays is measured in bytes by :func:`snc.encode.master.fit_master`, never assumed.
"""

from __future__ import annotations

import numpy as np

from .knots import gain_of

#: biquads per channel: as many as the format allows (snc.codecs.gain.MAX_EQ_SECTIONS).  A mastering EQ has a low
#: and a high band, but the sections beyond them take up the bias the limiter's gain error leaves in a
#: least-squares fit, and each one more took more of it (docs/mastering.md)
SECTIONS = 4
#: at most this many alternating rounds; they stop earlier once the residual stops falling
MAX_ROUNDS = 12
#: Steiglitz-McBride prefilter passes per round (the rounds themselves iterate: one more pass within a round
#: changed the fitted residual by less than 0.1 %, docs/mastering.md)
SM_PASSES = 1
#: a round that lowers the residual's energy by less than this fraction ends the fit (convergence, not tuning)
TOLERANCE = 1e-3
#: an EQ is kept only if it leaves at most this fraction of the energy the gain alone leaves (3 dB): a filter in
#: the chain leaves most of what the gain cannot explain to it (25 dB on the corpus's EQ item), a mix whose
#: chain has none leaves it nothing (under 0.3 dB on the six others); what lies between is not worth a pass
EXPLAINED = 0.5
#: samples where the fitted gain is below this are left out of the EQ's fit (M / g is noise there)
MIN_GAIN = 1.0 / 16


def fit_eq(mix: np.ndarray, total: np.ndarray, knot_shift: int, sections: int = SECTIONS):
    """The quantised EQ of ``mix ~ g * EQ(total)``: one ``(sections, 5)`` int64 array of rows ``b0 b1 b2 a1 a2``
    (Q24) per channel, or None when the fit fails (silence, an unstable filter, coefficients out of range).

    One EQ for every channel, each with its own gain: a mastering EQ sits on the stereo bus, and a linked fit
    has twice the data for the same unknowns."""
    m = [mix[:, c].astype(np.float64) for c in range(mix.shape[1])]
    d = [total[:, c].astype(np.float64) for c in range(total.shape[1])]
    order = 2 * sections
    if len(mix) <= 3 * order + 1 or not any(x.any() for x in d) or not any(x.any() for x in m):
        return None  # fewer equations than unknowns, or nothing to fit
    try:
        fitted = _fit(m, d, knot_shift, order)
    except np.linalg.LinAlgError:  # a singular fit: signals with less in them than the filter's unknowns
        return None
    if fitted is None:
        return None  # the EQ explains too little of what the gain leaves: the chain has none
    b, a = fitted
    rows = _quantised_sections(b, a, sections)
    return None if rows is None else [rows.copy() for _ in m]


def _fit(m: list, d: list, knot_shift: int, order: int):
    """``(b, a)``: the alternating rounds of the module docstring over every channel, the best round kept; None
    unless it leaves at most half the energy the gain alone leaves (:data:`EXPLAINED`)."""
    from scipy.signal import lfilter

    b, a = np.r_[1.0, np.zeros(order)], np.r_[1.0, np.zeros(order)]
    best, e = None, d
    for _ in range(MAX_ROUNDS):
        gains = [gain_of(mc, ec, knot_shift) for mc, ec in zip(m, e)]
        energy = sum(float(np.dot(mc - g * ec, mc - g * ec)) for mc, g, ec in zip(m, gains, e))
        if best is None:
            alone = energy  # the first round has no EQ: the gain alone
        elif energy > best[0] * (1.0 - TOLERANCE):
            break
        best = (energy, b, a)
        y = [np.where(g > MIN_GAIN, mc / np.where(g > MIN_GAIN, g, 1.0), 0.0) for mc, g in zip(m, gains)]
        fitted = _steiglitz_mcbride(y, d, order)
        if fitted is None:
            break  # an unstable estimate: the best round so far stands
        b, a = fitted
        e = [lfilter(b, a, v) for v in d]
    return (best[1], best[2]) if best[0] <= EXPLAINED * alone else None


def _steiglitz_mcbride(ys: list, xs: list, order: int):
    """``(b, a)`` of ``y ~ B / A (x)``: the plain equation error, then :data:`SM_PASSES` more with both signals
    prefiltered by ``1 / A`` of the pass before; None when an estimate's poles leave the unit circle."""
    from scipy.signal import lfilter

    a = np.ones(1)  # each round starts from the plain equation error: its own a, not the last round's
    for _ in range(SM_PASSES + 1):
        b, a = _equation_error([lfilter([1.0], a, v) for v in ys], [lfilter([1.0], a, v) for v in xs], order)
        if not np.all(np.abs(np.roots(a)) < 1.0):
            return None
    return b, a


def _equation_error(ys: list, xs: list, order: int):
    """Least squares ``y[t] + sum a_k y[t-k] = sum b_k x[t-k]`` (k up to ``order``) over the pairs of ``ys``
    and ``xs``: ``(b, a)``, ``a[0] = 1``.

    The lags of music are nearly collinear, so the unknowns are solved for in the basis of differences
    (``y[t-1], (1 - z^-1) y[t-1], (1 - z^-1)^2 y[t-1], ...``): the same least squares, with normal equations
    well enough conditioned to keep the poles near z = 1 that a bass shelf has."""
    parts, targets = [], []
    for y, x in zip(ys, xs):
        n = len(y)
        design = np.empty((n - order, 2 * order + 1), order="F")  # columns contiguous: each is one signal
        for j in range(order):  # column j: the j-th backward difference of y at t-1
            design[:, j] = np.diff(y, j)[order - 1 - j:n - 1 - j]
        np.negative(design[:, :order], out=design[:, :order])
        for j in range(order + 1):  # then the j-th backward difference of x at t
            design[:, order + j] = np.diff(x, j)[order - j:n - j]
        parts.append(design)
        targets.append(y[order:])
    design = parts[0] if len(parts) == 1 else np.asfortranarray(np.concatenate(parts))
    target = np.concatenate(targets)
    scale = np.sqrt(np.einsum("ij,ij->j", design, design)) + 1e-300
    design /= scale
    gram = design.T @ design
    coef = np.linalg.solve(gram + np.eye(len(gram)) * 1e-12, design.T @ target) / scale
    a = _difference_rows(order).T @ coef[:order]
    b = _difference_rows(order + 1).T @ coef[order:]
    return b, np.r_[1.0, a]


def _difference_rows(count: int) -> np.ndarray:
    """Row j: the coefficients over ``count`` consecutive lags of the j-th backward difference."""
    from math import comb

    return np.array([[(-1) ** k * comb(j, k) if k <= j else 0 for k in range(count)] for j in range(count)],
                    dtype=np.float64)


def _quantised_sections(b, a, sections: int):
    """``B / A`` as ``sections`` biquads in Q24 (spec snc-format.md 3.7), or None when a quantised section is
    unstable or a coefficient is out of range."""
    from scipy.signal import tf2sos

    from ..kernels.master_eq import EQ_SHIFT, MAX_EQ_COEF  # here: numba loads only when an EQ is fitted

    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(a))):
        return None
    sos = tf2sos(b, a, pairing="nearest")
    if len(sos) != sections:
        return None
    rows = np.rint(np.concatenate([sos[:, :3], sos[:, 4:]], axis=1) * (1 << EQ_SHIFT)).astype(np.int64)
    if np.abs(rows).max() > MAX_EQ_COEF:
        return None
    for row in rows:
        if not np.all(np.abs(np.roots([1 << EQ_SHIFT, row[3], row[4]])) < 1.0):
            return None
    return rows
