"""Render a file for a listener: remix (profile gains) -> EQ -> compressor -> loudness -> true-peak limit.

``render(f, profile="night")`` returns the whole render; :func:`render_blocks` streams it with
memory bounded by a few segments.  Both take the settings of :class:`~snc.render.options.RenderOptions`
(as keywords, or as one ``options`` object).  Loudness normalisation (``target_lufs``, or the profile's)
measures the render before its gain (BS.1770-4 integrated loudness, :mod:`snc.signal.loudness`) in a
first pass over the file, applies the gain and limits the true peak; :func:`render` then checks
the result and corrects once more, so it lands within 0.1 LU of the target unless the limiter had
to take more than that.  Without a profile and a target the exact mix (or plain remix) is
returned untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as _np

from ..signal.loudness import LoudnessMeter
from .options import RenderOptions
from .request import RenderRequest

#: render() corrects its loudness once more when it misses the target by more than this (LU)
LOUDNESS_TOLERANCE_LU = 0.1


def _options(options: RenderOptions | None, settings: dict) -> RenderOptions:
    if options is None:
        return RenderOptions(**settings)
    return options.replace(**settings) if settings else options


def render_blocks(f, options: RenderOptions | None = None, *, start: int = 0, frames: int | None = None,
                  blocksize: int = 65536, **settings) -> Iterator[_np.ndarray]:
    """Stream a render of ``f`` in blocks of ``blocksize`` frames (float64, full scale 1.0), from
    ``start`` on (``frames`` of them, all by default).  ``settings``: those of :class:`RenderOptions`
    (``profile``, ``context``, ``target_lufs``, ``gains``, ``mute``, ``solo``, ``attribution``,
    ``layout``, ``positions``, ``head_yaw_deg``, ``hrtf``), or changes to ``options``."""
    # the request is checked now, not at the first block: errors come before any output is written
    req = RenderRequest(f, _options(options, settings), start=start, frames=frames, blocksize=blocksize)
    return _normalised_stream(req)


def _normalised_stream(req: RenderRequest) -> Iterator[_np.ndarray]:
    gain_db = req.loudness_gain_db() if req.profile is not None else 0.0
    yield from req.stream(gain_db)


def render(f, options: RenderOptions | None = None, *, start: int = 0, frames: int | None = None,
           blocksize: int = 65536, **settings) -> _np.ndarray:
    """The whole render as one array (arguments as :func:`render_blocks`); with a loudness target it
    checks the result and, when the limiter took more than :data:`LOUDNESS_TOLERANCE_LU`, renders
    again with the gain corrected by what was missed."""
    req = RenderRequest(f, _options(options, settings), start=start, frames=frames, blocksize=blocksize)
    gain_db = req.loudness_gain_db() if req.profile is not None else 0.0
    out = _concat(req.stream(gain_db), req.channels)
    target = req.profile.target_lufs if req.profile is not None else None
    if target is None or not len(out):
        return out
    meter = LoudnessMeter(f.samplerate, req.channels)
    meter.update(out)
    got = meter.integrated_lufs()
    if math.isfinite(got) and abs(got - target) > LOUDNESS_TOLERANCE_LU:
        out = _concat(req.stream(gain_db + target - got), req.channels)
    return out


def _concat(parts, channels: int) -> _np.ndarray:
    parts = list(parts)
    return _np.concatenate(parts) if parts else _np.zeros((0, channels))
