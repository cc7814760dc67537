"""The perceptual packet kernel's dequantisation (:func:`snc.kernels.perceptual_packet.dequantise`) against
spec/codec-perceptual.md section 4 written out with Python integers."""

from __future__ import annotations

import numpy as np
import pytest

from snc.kernels import coefcode, mdct
from snc.kernels import perceptual_packet as pk


def _dequantise_reference(q, sf, short: bool, nf=None, seed: int = 0):
    """spec/codec-perceptual.md section 4 with Python integers: ``(out, next seed)``, or None where a
    decoder must reject; ``nf``: noise bands (4.1), whose values are +-1 with the generator's signs."""
    edges = coefcode.EDGES_SHORT if short else coefcode.EDGES_LONG
    width, nblk = (128, 8) if short else (1024, 1)
    out = [0] * 1024
    for b in range(len(edges) - 1):
        s = int(sf[b])
        m, e = int(pk.MANT[s & 3]), (s >> 2) - 30 + mdct.COEF_FRAC
        for j in range(nblk):
            for k in range(j * width + int(edges[b]), j * width + int(edges[b + 1])):
                if nf is not None and nf[b]:
                    seed = (seed * 1664525 + 1013904223) % (1 << 32)
                    v = -m if seed >= 1 << 31 else m
                else:
                    v = int(q[k]) * m
                if v == 0:
                    out[k] = 0
                elif e >= 0:
                    if e > 47 or abs(v) > ((1 << 47) - 1) >> e:
                        return None
                    out[k] = v << e
                elif e > -62:
                    out[k] = (v + (1 << (-e - 1))) >> -e
                else:
                    out[k] = 0
    return out, seed


@pytest.mark.parametrize("noise", [False, True])
@pytest.mark.parametrize("short", [False, True])
def test_dequantise_matches_spec_formula(short, noise):
    rng = np.random.default_rng(30 + short + 2 * noise)
    nb = coefcode.NB_SHORT if short else coefcode.NB_LONG
    rejected = accepted = 0
    seed = 3
    for trial in range(40):
        sf = np.zeros(coefcode.NB_LONG, np.int64)
        # odd trials: any legal sf (large ones overflow: rejected); even: sf <= 40, always in range
        sf[:nb] = rng.integers(pk.SF_MIN, pk.SF_MAX + 1, nb) if trial % 2 else rng.integers(pk.SF_MIN, 41, nb)
        mags = rng.choice([0, 1, 2, 3, 100, 1 << 12, 1 << 20, pk.Q_LIMIT], 1024, p=[.3, .2, .1, .1, .1, .1, .05, .05])
        q = (mags * rng.choice([-1, 1], 1024)).astype(np.int64)
        nf = (rng.random(coefcode.NB_LONG) < 0.3).astype(np.int64) if noise else np.zeros(coefcode.NB_LONG, np.int64)
        for b in np.nonzero(nf[:nb])[0]:  # a noise band's values are not coded: zero
            e = (coefcode.EDGES_SHORT if short else coefcode.EDGES_LONG)[b : b + 2]
            q.reshape(-1, 128 if short else 1024)[:, e[0] : e[1]] = 0
        out = np.zeros(1024, np.int64)
        got = pk.dequantise(q, sf, nf, short, out, seed)
        ref = _dequantise_reference(q, sf, short, nf, seed)
        assert (got >= 0) == (ref is not None)
        if ref is not None:
            accepted += 1
            assert out.tolist() == ref[0] and got == ref[1]
            seed = got
        else:
            rejected += 1
    assert accepted > 5 and rejected > 5
    # spec section 1: -5 & 3 == 3 and -5 >> 2 == -2 -> step 2^(-5/4) = MANT[3] * 2^(-2 - 30)
    sf = np.full(coefcode.NB_LONG, -5, np.int64)
    q = np.zeros(1024, np.int64)
    q[0] = 1000
    out = np.zeros(1024, np.int64)
    assert pk.dequantise(q, sf, np.zeros(coefcode.NB_LONG, np.int64), short, out, 0) == 0
    assert out[0] == (1000 * int(pk.MANT[3]) + (1 << 23)) >> 24 == round(1000 * 2 ** (-5 / 4) * 256)
