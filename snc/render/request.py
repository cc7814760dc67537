"""A render request resolved against a file: the profile, the remix in its stem names, the placement.

:class:`RenderRequest` turns :class:`~snc.render.options.RenderOptions` and a span of a file into what
the renderer and the player run: the source signal (the mix, a remix or placed stems, in blocks), the
profile's processing and the loudness gain that brings it to the target -- from the loudness measured at
encode (META ``profile_loudness`` / ``mix_loudness``) when that describes this render, else from a first
pass over the file.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import replace

import numpy as _np

from ..container.model import RESIDUAL_ROLE, ROLE_POSITIONS, parse_direction
from ..decode.blocks import frame_range, rechunk
from ..errors import FormatError, InputError, NotAvailableError, SncWarning
from ..signal.loudness import LoudnessMeter
from .dynamics import Chain
from .options import RenderOptions
from .profiles import Profile, select_profile, stem_gains

#: the farthest stored distance taken as it is (metres)
MAX_DISTANCE_M = 1000.0


class RenderRequest:
    """One render of file ``f`` (a :class:`snc.render.file.SncFile`) from frame ``start`` on (``frames``
    of them, all by default) in blocks of ``blocksize``: the options resolved and checked against the file."""

    def __init__(self, f, options: RenderOptions, *, start: int = 0, frames: int | None = None,
                 blocksize: int = 65536):
        profile, context = options.profile, options.context
        prof = select_profile(f, profile, context)
        # the loudness measured at encode (META profile_loudness / mix_loudness) describes a profile
        # taken by name as it is, or the plain mix
        self.stored_key = (str(profile) if isinstance(profile, str) else "" if profile is None and context is None
                           else None)
        # what a player takes as an estimate: the profile's stored loudness under the caller's remix or a
        # context's tuning too, the plain mix's under a target alone
        named = isinstance(profile, Profile) or context is not None
        self.estimate_key = (self.stored_key if self.stored_key is not None else
                             getattr(prof, "name", None) if named else None)
        if options.gains or options.mute or options.solo:  # the caller's own remix on top: not what was measured
            self.stored_key = None
        if options.target_lufs is not None:
            prof = replace(prof or Profile("normalised"), target_lufs=float(options.target_lufs))
        if not (isinstance(blocksize, int) and blocksize > 0):
            raise InputError(f"blocksize must be a positive integer, got {blocksize!r}")
        self.f, self.options, self.profile, self.blocksize = f, options, prof, blocksize
        self.gains, self.mute, self.solo = stem_gains(f, prof, options.gains, options.mute, options.solo)
        self.start, self.frames = start, frames
        self.spatial = None
        if options.spatial:
            from .spatial import SpatialRenderer

            if f.channels > 2:
                raise NotAvailableError(f"spatial rendering of {f.channels}-channel files is not available yet")
            self.spatial = SpatialRenderer(options.layout, f.samplerate, positions=positions(f, options.positions),
                                           head_yaw_deg=options.head_yaw_deg, hrtf=options.hrtf)
        self.channels = self.spatial.channels if self.spatial is not None else f.channels

    @property
    def remixed(self) -> bool:
        """Whether the streams are gained (by the profile or the caller), not the plain mix."""
        return bool(self.gains or self.mute or self.solo)

    def source(self) -> Iterator[_np.ndarray]:
        """The signal before the profile's processing: the mix, a remix or the placed stems (float64)."""
        if self.spatial is not None:
            return self._spatial_source()
        if self.remixed:
            return self.f.blocks(self.blocksize, start=self.start, frames=self.frames, gains=self.gains or None,
                                 mute=self.mute, solo=self.solo, attribution=self.options.attribution)
        return self.f.blocks(self.blocksize, start=self.start, frames=self.frames)

    def _spatial_source(self) -> Iterator[_np.ndarray]:
        """Segment by segment: each stream gained (residual attributed), then placed."""
        f = self.f
        start, stop = frame_range(self.start, self.frames, f.frames)
        gains = f.remix_gains(self.gains, self.mute, self.solo)
        for seg, cut in f.segment_cuts(start, stop):
            parts = f.remix_parts(seg, gains, self.options.attribution)
            yield self.spatial.process({i: x[cut] / f.scale for i, x in parts.items()}) if parts else \
                _np.zeros((cut.stop - cut.start, self.channels))

    def stored_loudness(self, estimate: bool = False) -> float | None:
        """The loudness measured at encode, when it describes exactly this render's shaped signal (with
        ``estimate``: also when it describes the profile before the caller's remix, tuning or layout)."""
        key = self.estimate_key if estimate else self.stored_key
        if key is None or (self.spatial is not None and not estimate):
            return None
        meta = self.f.metadata
        entry = meta.get("mix_loudness") if key == "" else (meta.get("profile_loudness") or {}).get(key)
        value = entry.get("loudness_lufs") if isinstance(entry, dict) else None
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def loudness_gain_db(self, estimate: bool = False) -> float:
        """The gain that brings the shaped render to the target: from the loudness stored at encode,
        else from a first pass that measures it.  ``estimate`` (a player, which cannot stop for a
        pass): the stored loudness of the profile also under the caller's remix, a context's tuning
        or a layout."""
        f = self.f
        if self.profile is None or self.profile.target_lufs is None:
            return 0.0
        stored = self.stored_loudness(estimate)
        if stored is not None:
            return self.profile.target_lufs - stored
        chain = Chain(self.profile, f.samplerate, self.channels, 0.0)
        meter = LoudnessMeter(f.samplerate, self.channels)
        for b in self.source():
            meter.update(chain.shape(b))
        measured = meter.integrated_lufs()
        return self.profile.target_lufs - measured if math.isfinite(measured) else 0.0  # silence: leave it

    def stream(self, gain_db: float) -> Iterator[_np.ndarray]:
        """The render in blocks of :attr:`blocksize`, the profile's processing with ``gain_db`` applied."""
        if self.profile is None:  # a spatial source yields whole segments: cut them to the block size too
            blocks = rechunk(self.source(), self.blocksize)
        else:
            chain = Chain(self.profile, self.f.samplerate, self.channels, gain_db)
            blocks = rechunk(_with_tail((chain.process(b) for b in self.source()), chain.flush), self.blocksize)
        for block in blocks:
            yield finite(block)


def finite(block: _np.ndarray) -> _np.ndarray:
    """``block``, if every sample is a number: a value out of range somewhere (the file's, a caller's)
    must end in an error, never in a NaN or silent output."""
    if not _np.isfinite(block).all():
        raise FormatError("the render produced NaN or infinite samples: a value stored in the file or given "
                          "for the render is out of range")
    return block


def _with_tail(pieces, flush):
    yield from pieces
    yield flush()


def positions(f, overrides) -> dict[int, tuple]:
    """Stream index -> (azimuth, elevation, distance, width): stored, or overridden by name."""
    overrides = dict(overrides or {})
    out = {}
    for i, st in enumerate(f.streams):
        # the residual is the mix's own detail: at the front, full width, whatever the file says
        p = ROLE_POSITIONS[RESIDUAL_ROLE] if st.is_residual else st.position
        if not usable_position(p):
            fallback = ROLE_POSITIONS.get(st.role, ROLE_POSITIONS["other"])
            warnings.warn(f"stem {st.name!r}: stored position {p} is out of range; placed at its role's default",
                          SncWarning, stacklevel=4)
            p = fallback
        az, el, dist, width = p.azimuth_deg, p.elevation_deg, p.distance_m, p.width
        if st.name in overrides:
            az, el = parse_direction(st.name, overrides.pop(st.name))
        out[i] = (az, el, dist, width)
    if overrides:
        raise InputError(f"positions name no stem of this file: {', '.join(map(repr, overrides))}")
    return out


def usable_position(p) -> bool:
    """Within the spec's ranges (section "STRM chunk"): azimuth -180..180, elevation -90..90, distance
    0..MAX_DISTANCE_M metres (not 0), width 0..1; NaN fails every comparison."""
    return (-180.0 <= p.azimuth_deg <= 180.0 and -90.0 <= p.elevation_deg <= 90.0
            and 0.0 < p.distance_m <= MAX_DISTANCE_M and 0.0 <= p.width <= 1.0)
