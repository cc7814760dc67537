"""bench/stem_price.py: Opus's bitrate at a given ViSQOL, read off its measured rate-ViSQOL curve."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from stem_price import opus_kbps_at  # noqa: E402

CURVE = [(96.0, 4.2), (128.0, 4.4), (192.0, 4.6), (256.0, 4.7)]


def test_interpolates_in_log_rate_between_the_points_around():
    assert opus_kbps_at(4.4, CURVE) == pytest.approx(128.0)
    mid = opus_kbps_at(4.5, CURVE)
    assert mid == pytest.approx(math.sqrt(128.0 * 192.0))  # halfway in ViSQOL: the geometric mean of the rates
    assert opus_kbps_at(4.65, list(reversed(CURVE))) == pytest.approx(math.sqrt(192.0 * 256.0))


def test_says_when_opus_never_reaches_or_starts_above():
    assert opus_kbps_at(4.71, CURVE) == "above"
    assert opus_kbps_at(4.1, CURVE) == "below"
