"""The ``perceptual`` codec's quantiser (:mod:`snc.codecs.perceptual.quantise`): the rate-distortion-aware
rounding, the coarsest step within the noise tolerance, and bands dropped within ``drop_db`` of their budget."""

from __future__ import annotations

import numpy as np

from snc.codecs.perceptual import quantise as qz
from snc.codecs.perceptual import tables
from snc.kernels.bands import band_edges


def test_quantise_magnitude_thresholds():
    """A zero becomes a one only from 1 - rounding[0]; above one, k becomes k + 1 from k + 1 - rounding[1]."""
    for z, r in (tables.ROUNDING, tables.STEM_ROUNDING):
        assert 0.0 < z <= r < 0.5
        a = np.array([0.0, 1 - z - 1e-9, 1 - z, 1.0, 2 - r - 1e-9, 2 - r, 7 - r - 1e-9, 7 - r])
        np.testing.assert_array_equal(qz.quantise_magnitude(a, (z, r)), [0, 0, 1, 1, 1, 2, 6, 7])


def test_quantiser_takes_the_coarsest_step_within_tolerance():
    """Every active band's noise is within NOISE_TOLERANCE of its budget, and one step coarser would
    not be (the noise lands on the budget instead of up to a step below it)."""
    rng = np.random.default_rng(46)
    edges = band_edges(1024)
    widths = np.diff(edges)
    coefs = rng.laplace(size=(6, 1024)) * 10.0 ** rng.uniform(0, 4, (6, 1))
    budget = tables.band_power(coefs * coefs, edges) * 10.0 ** rng.uniform(-4, 0.3, (6, len(widths)))
    sf, q, floor = qz.quantise_bands(coefs, budget, edges)
    active = sf != tables.INACTIVE
    assert active.any() and (~active).any()

    def noise(sf_):
        step = np.repeat(qz.step_size(np.where(active, sf_, 0)), widths, axis=-1)
        a = np.abs(coefs) / step
        q_ref = np.where(a < 1.0, (a >= 1.0 - tables.ROUNDING[0]).astype(float), np.floor(a + tables.ROUNDING[1]))
        err = (a - q_ref) * step
        return tables.band_power(err * err, edges)

    got, coarser = noise(sf), noise(sf + 1)
    free = active & (sf > floor)  # not held fine by the coder's range
    assert (got[active] <= budget[active] * tables.NOISE_TOLERANCE * (1 + 1e-9)).all()
    # noise is almost monotonic in the step
    assert (coarser[free] > budget[free] * tables.NOISE_TOLERANCE).mean() > 0.95
    assert not q[np.repeat(~active, widths, axis=-1)].any()  # a band below its budget is not coded


def test_quantiser_drops_bands_within_drop_db_of_their_budget():
    """With ``drop_db`` a band is coded only if its energy is more than that far above its budget; the
    bands it codes are quantised exactly as without it."""
    rng = np.random.default_rng(47)
    edges = band_edges(1024)
    widths = np.diff(edges)
    coefs = rng.laplace(size=(6, 1024)) * 10.0 ** rng.uniform(0, 4, (6, 1))
    energy = tables.band_power(coefs * coefs, edges)
    budget = energy * 10.0 ** rng.uniform(-0.6, 0.1, (6, len(widths)))  # 0..6 dB below the energy
    sf0, q0, _ = qz.quantise_bands(coefs, budget, edges)
    sf3, q3, _ = qz.quantise_bands(coefs, budget, edges, drop_db=3.0)
    coded0, coded3 = sf0 != tables.INACTIVE, sf3 != tables.INACTIVE
    assert np.array_equal(coded3, energy > budget * 10.0 ** 0.3)
    assert (coded0 & ~coded3).sum() > 20 and not (coded3 & ~coded0).any()
    np.testing.assert_array_equal(sf3[coded3], sf0[coded3])
    keep = np.repeat(coded3, widths, axis=-1)
    np.testing.assert_array_equal(q3[keep], q0[keep])
    assert not q3[~keep].any()
