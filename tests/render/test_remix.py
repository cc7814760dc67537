"""The remix rule in one place (snc.render.remix): gains, mute/solo, the residual's global rule and its parts."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from conftest import archival_bytes

import snc
from snc.render import remix
from snc.render.measure import ProfileMeters
from snc.render.profiles import Profile


@pytest.fixture(scope="module")
def data():
    return archival_bytes(3, frames=6000)


def test_residual_gain_weights_the_stem_gains_by_power():
    assert remix.residual_gain([1.0, 0.0], [3.0, 1.0]) == pytest.approx(0.75)
    assert remix.residual_gain([0.5, 1.0, 0.0], [0.0, 0.0, 0.0]) == pytest.approx(0.5)  # silence: the mean
    assert remix.residual_gain([], []) == 0.0
    # stored mean squares (dB) weigh as the energies they stand for, whatever their scale
    energy = [4.0, 1.0, 0.25]
    weights = remix.mean_square_weights([10 * math.log10(e) + 4000.0 for e in energy])
    assert weights == pytest.approx([1.0, 0.25, 0.0625])
    gains = [0.1, 1.0, 2.0]
    assert remix.residual_gain(gains, weights) == pytest.approx(remix.residual_gain(gains, energy))
    assert remix.mean_square_weights([-math.inf, float("nan"), -3.0]) == [0.0, 0.0, 1.0]


def test_remix_gains_of_a_file(data):
    with snc.open(io.BytesIO(data)) as f:
        assert f.remix_gains() is None
        all_zero = f.remix_gains({"s0": 0.0})
        assert all_zero == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}
        solo = f.remix_gains(solo=["s1"], gains={"s1": -6.0})
        assert solo[0] == solo[2] == 0.0 and solo[1] == pytest.approx(10 ** (-6 / 20))
        ms = [f.stream_infos[i].mean_square_db for i in range(3)]
        assert solo[3] == pytest.approx(remix.residual_gain([0.0, solo[1], 0.0], remix.mean_square_weights(ms)))
        with pytest.raises(snc.InputError, match="residual follows the stems"):
            f.remix_gains(mute=[f.stream_infos[3].name])
        with pytest.raises(snc.InputError, match="at most \\+40 dB"):
            f.remix_gains({"s0": 41.0})


@pytest.mark.parametrize("attribution", remix.ATTRIBUTIONS)
def test_parts_sum_to_the_remix_and_all_zero_db_is_the_mix(data, attribution):
    with snc.open(io.BytesIO(data)) as f:
        gains = f.remix_gains({"s0": -6.0}, mute=["s2"])
        parts = [f.remix_parts(seg, gains, attribution) for seg in f.segments]
        assert all(2 not in p for p in parts)  # a stem at gain 0 is left out
        summed = np.concatenate([sum(p.values()) for p in parts]) / f.scale
        np.testing.assert_allclose(summed, f.read(gains={"s0": -6.0}, mute=["s2"], attribution=attribution),
                                   atol=1e-12)
        np.testing.assert_allclose(f.read(gains={"s0": 0.0}, attribution=attribution), f.read(), atol=1e-9)


def test_the_loudness_measured_at_encode_follows_the_same_rule():
    """ProfileMeters' residual follows the stems with residual_gain over the stems' energy so far."""
    rng = np.random.default_rng(1)
    stems = [rng.standard_normal((48000, 2)) * a for a in (0.1, 0.02)]
    residual = rng.standard_normal((48000, 2)) * 0.01
    mix = sum(stems) + residual
    prof = Profile("quiet-a", gains={"a": -12.0})
    meters = ProfileMeters({"quiet-a": prof}, ["a", "b"], ["other", "other"], 48000, 2)
    meters.update(mix, stems)
    energy = [float((s * s).sum()) for s in stems]
    g = [10 ** (-12 / 20), 1.0]
    expected = g[0] * stems[0] + g[1] * stems[1] + remix.residual_gain(g, energy) * residual
    from snc.signal.loudness import LoudnessMeter

    meter = LoudnessMeter(48000, 2)
    meter.update(expected)
    assert meters.results()["quiet-a"]["loudness_lufs"] == pytest.approx(round(meter.integrated_lufs(), 3), abs=1e-3)
