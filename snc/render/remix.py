"""The remix rule: stem gains, mute and solo, and how the residual follows them (spec section 19).

A remix applies linear gains to the decoded streams in float64.  The stems take the gains asked for
(in dB per stem name; mute and solo set some to zero); the residual -- the mix's own detail and the
stems' coding noise -- follows the stems by one of :data:`ATTRIBUTIONS`:

``global``  one gain for the file: the stem gains weighted by each stem's mean square
            (:func:`residual_gain`), so all gains at 0 dB give the exact mix;
``tiles``   per time-frequency tile by the stems' power there, at most the global gain
            (:mod:`snc.render.attribution`; the default);
``share``   the tile share alone.

Used by :meth:`snc.render.file.SncFile.read` and ``blocks`` (``gains=``), the renderer, the player's
prefetch and the loudness measured at encode (:mod:`snc.render.measure`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as _np

from ..errors import InputError
from .attribution import attributed_residual, frame_size

#: how the residual follows a remix (spec section 19): per time-frequency tile, or one gain for the file
ATTRIBUTIONS = ("tiles", "share", "global")
#: a stem gain (dB) of a remix or a profile: louder than +40 dB (10^2 in amplitude) is a mistake, not a mix;
#: -120 dB is below any remix a listener means (-inf mutes).  The remix refuses only the top, a profile both ends
REMIX_GAIN_RANGE_DB = (-120.0, 40.0)
#: frames the tile rule attributes at once (a multiple of every hop size): its transforms of one stream,
#: not of the whole segment, are what it holds
ATTRIBUTION_PIECE = 1 << 16


def check_attribution(attribution) -> str:
    if attribution not in ATTRIBUTIONS:
        raise InputError(f"attribution must be one of {ATTRIBUTIONS}, got {attribution!r}")
    return attribution


def db_to_gain(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


def checked_gain_db(name: str, value) -> float:
    """A remix gain in dB: a number up to the top of REMIX_GAIN_RANGE_DB, or -inf to mute; NaN and +inf are
    refused."""
    top = REMIX_GAIN_RANGE_DB[1]
    try:
        db = float(value)
    except (TypeError, ValueError):
        raise InputError(f"gain of {name!r} must be a number of dB, got {value!r}") from None
    if math.isnan(db) or db > top:
        raise InputError(f"gain of {name!r} must be at most +{top:g} dB (or -inf to mute), got {value!r}")
    return db


def residual_gain(gains: Sequence[float], weights: Sequence[float]) -> float:
    """The global rule's residual gain: the stem ``gains`` (linear) weighted by their power ``weights``
    (any common scale, 0 for a silent stem); the mean of the gains when no stem has power."""
    total = sum(weights)
    if total > 0:
        return sum(g * w for g, w in zip(gains, weights)) / total
    return sum(gains) / max(len(gains), 1)


def mean_square_weights(mean_square_db: Sequence[float]) -> list[float]:
    """:func:`residual_gain`'s weights from the stems' stored mean squares (dB), relative to the loudest
    stem so no stored value can overflow them; a stem without a finite value weighs 0."""
    finite = [db for db in mean_square_db if math.isfinite(db)]
    top = max(finite, default=0.0)
    return [10.0 ** ((db - top) / 10.0) if math.isfinite(db) else 0.0 for db in mean_square_db]


def remix_gains(f, gains: Mapping[str, float] | None = None, mute=(), solo=()) -> dict[int, float] | None:
    """Linear gain per stream index of file ``f`` for a remix, or ``None`` for the exact mix.

    ``gains`` are in dB per stem name.  The residual follows the stems: its gain is the mean of the stem
    gains weighted by each stem's stored mean square (:func:`residual_gain`), so all gains at 0 dB give
    the exact mix."""
    streams = f.stream_infos
    gains = dict(gains or {})
    for name in [*gains, *mute, *solo]:
        if streams[f.stream_index(name)].is_residual:  # also rejects unknown names
            raise InputError("the residual follows the stems; give gains to stems only")
    if not gains and not mute and not solo:
        return None
    linear: dict[int, float] = {}
    for i, st in enumerate(streams):
        if st.is_residual:
            continue
        g = db_to_gain(checked_gain_db(st.name, gains.get(st.name, 0.0)))
        if st.name in mute or (solo and st.name not in solo):
            g = 0.0
        linear[i] = g
    weights = mean_square_weights([streams[i].mean_square_db for i in linear])
    linear[f.residual_index] = residual_gain(list(linear.values()), weights)
    return linear


def remix_segment(f, seg, gains: dict[int, float], attribution: str, sink) -> None:
    """Hand each gained stream of segment ``seg`` of ``f`` to ``sink(stream, lo, hi, values)`` (float64,
    native units) in pieces: stems in stream order, then the residual (the order spec section 19 sums
    them in)."""
    if attribution == "global":  # needs only the streams it plays
        for i, g in gains.items():
            if g != 0.0:
                sink(i, 0, seg.frames, g * f.decode_packet(seg, i).astype(_np.float64))
        return
    res = f.residual_index
    stem_ids = [i for i in range(len(f.stream_infos)) if i != res]
    # in pieces with a tile frame of context each side: a piece's transforms are the segment's there
    for lo in range(0, seg.frames, ATTRIBUTION_PIECE):
        _attribute_piece(f, seg, lo, min(seg.frames, lo + ATTRIBUTION_PIECE), gains, stem_ids, res, sink,
                         ceiling=attribution == "tiles")


def _attribute_piece(f, seg, lo: int, hi: int, gains, stem_ids, res, sink, *, ceiling: bool) -> None:
    """Frames ``lo:hi`` of ``seg`` under the tile rule, one stream in memory at a time."""
    pad = frame_size(f.samplerate)
    first = seg.start_frame + lo
    left = min(pad, first)
    start, stop = first - left, seg.start_frame + hi + pad
    keep = slice(left, left + hi - lo)

    def stems():  # the attribution reads each stem once, in order: keep its gained part on the way
        for i in stem_ids:
            span = f.stream_span(i, start, stop)
            if gains[i] != 0.0:
                sink(i, lo, hi, gains[i] * span[keep])
            yield span

    residual = attributed_residual(stems(), f.stream_span(res, start, stop), [gains[i] for i in stem_ids],
                                   gains[res], f.samplerate, ceiling=ceiling)
    sink(res, lo, hi, residual[keep])


def remix_parts(f, seg, gains: dict[int, float] | None, attribution: str = "tiles") -> dict[int, _np.ndarray]:
    """The gained streams of one segment before they are summed, ``{stream index: float64 signal in
    native units}`` (streams at gain 0 left out; ``gains`` None = all at 1, the residual as is): what a
    spatial renderer places one by one.  Under the tile rule the transform sees one frame of context on
    either side, so segment edges leave no trace."""
    if gains is None:
        return {i: f.stream_span(i, seg.start_frame, seg.start_frame + seg.frames)
                for i in range(len(f.stream_infos))}
    parts: dict[int, _np.ndarray] = {}

    def store(i: int, lo: int, hi: int, values: _np.ndarray) -> None:
        if i not in parts:
            parts[i] = _np.empty((seg.frames, f.channels))
        parts[i][lo:hi] = values

    remix_segment(f, seg, gains, attribution, store)
    return parts


def remixed_segment(f, seg, gains: dict[int, float], attribution: str, dtype: str) -> _np.ndarray:
    """One segment of a remix, summed as its parts come (none kept), scaled to full scale 1, in ``dtype``."""
    out = _np.zeros((seg.frames, f.channels))

    def add(i: int, lo: int, hi: int, values: _np.ndarray) -> None:
        out[lo:hi] += values

    remix_segment(f, seg, gains, attribution, add)
    out /= f.scale
    return out.astype(dtype, copy=False)
