"""Render a file for a listener: remix (profile gains) -> EQ -> compressor -> loudness -> true-peak limit.

``render(f, profile="night")`` returns the whole render; :func:`render_blocks` streams it with
memory bounded by a few segments.  Loudness normalisation (``target_lufs``, or the profile's)
measures the render before its gain (BS.1770-4 integrated loudness, :mod:`snc.signal.loudness`) in a
first pass over the file, applies the gain and limits the true peak; :func:`render` then checks
the result and corrects once more, so it lands within 0.1 LU of the target unless the limiter had
to take more than that.  Without a profile and a target the exact mix (or plain remix) is
returned untouched.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import replace

import numpy as _np

from ..container.model import RESIDUAL_ROLE, ROLE_POSITIONS, parse_direction
from ..decoder import rechunk
from ..errors import FormatError, InputError, SncWarning
from ..signal.loudness import LoudnessMeter
from .dynamics import Compressor, Equalizer, TruePeakLimiter
from .profiles import Profile, check_gain_db, choose_profile, matches, resolve

#: render() corrects its loudness once more when it misses the target by more than this (LU)
LOUDNESS_TOLERANCE_LU = 0.1


def authored_profiles(f) -> dict[str, Profile]:
    """The profiles stored in the file's metadata (``snc-encode --profiles``); one that this
    version cannot interpret or whose values are out of range (NaN, inf, absurd) is skipped with a
    warning (spec section 10.1), never half-used."""
    usable, unusable = _stored_profiles(f)
    for reason in unusable.values():
        warnings.warn(f"skipping a stored profile: {reason}", SncWarning, stacklevel=3)
    return usable


def _stored_profiles(f) -> tuple[dict[str, Profile], dict[str, str]]:
    """``(usable profiles, {name: why not} of the others)`` stored in the file."""
    stored = f.metadata.get("profiles")
    if not isinstance(stored, dict):
        return {}, {}
    usable, unusable = {}, {}
    for name, body in stored.items():
        try:
            usable[str(name)] = Profile.from_json(str(name), body)
        except InputError as exc:
            unusable[str(name)] = str(exc)
    return usable, unusable


def select_profile(f, profile=None, context=None) -> Profile | None:
    if profile is not None and context is not None:
        raise InputError("give a profile or a context, not both")
    if isinstance(profile, Profile):
        return profile
    if profile is not None:
        _, unusable = _stored_profiles(f)
        if str(profile) in unusable:  # asked for by name: say why, rather than play another of that name
            raise InputError(f"the file's profile {str(profile)!r} cannot be used: {unusable[str(profile)]}")
        return resolve(str(profile), authored_profiles(f))
    if context is not None:
        return choose_profile(context, authored_profiles(f))
    return None


def stem_gains(f, profile: Profile | None, gains=None, mute=(), solo=()) -> tuple[dict, list, list]:
    """The remix request of a profile (roles or names) plus the caller's own, in the file's stem names."""
    gains = dict(gains or {})
    for name, db in gains.items():
        check_gain_db(f"gain of {name!r}", db)
    mute = list(mute)
    if profile is None:
        return gains, mute, list(solo)
    stems = [(s.name, s.role) for s in f.streams if not s.is_residual]
    lead = f.lead
    profile_gains, profile_mute = profile.remix(stems, lead)
    for name, db in profile_gains.items():
        gains[name] = gains.get(name, 0.0) + db
    for key in profile.mute:
        if not any(matches(key, name, role, lead) for name, role in stems):
            warnings.warn(f"profile {profile.name!r}: this file has no {key!r} stem to mute", SncWarning,
                          stacklevel=4)
    mute.extend(profile_mute)
    return gains, mute, list(solo)


class _Chain:
    """EQ -> compressor -> gain -> limiter, streaming."""

    def __init__(self, profile: Profile, rate: int, channels: int, gain_db: float):
        self.eq = Equalizer(profile.eq, rate, channels)
        self.comp = Compressor(profile.compressor, rate) if profile.compressor is not None else None
        self.gain = 10.0 ** (gain_db / 20.0)
        self._limiter_args = (rate, channels, profile.true_peak_dbtp)
        self._limiter = None

    @property
    def limiter(self) -> TruePeakLimiter:
        # made when first used: a player shapes with the chain but limits with its own
        if self._limiter is None:
            self._limiter = TruePeakLimiter(*self._limiter_args)
        return self._limiter

    def shape(self, block):
        y = self.eq.process(block)
        return self.comp.process(y) if self.comp is not None else y

    def process(self, block):
        return self.limiter.process(self.shape(block) * self.gain)

    def flush(self):
        return self.limiter.flush()


class _Request:
    """One render request, resolved: the profile, the remix in the file's stem names, the span."""

    def __init__(self, f, profile, context, target_lufs, gains, mute, solo, start, frames, blocksize, attribution,
                 layout=None, positions=None, head_yaw_deg=0.0, hrtf=None):
        prof = select_profile(f, profile, context)
        # the loudness measured at encode (META profile_loudness / mix_loudness) describes a profile
        # taken by name as it is, or the plain mix
        self.stored_key = (str(profile) if isinstance(profile, str) else "" if profile is None and context is None
                           else None)
        # what a player takes as an estimate: the profile's stored loudness under the caller's remix or a
        # context's tuning too, the plain mix's under a target alone
        self.estimate_key = (self.stored_key if self.stored_key is not None else
                             getattr(prof, "name", None) if isinstance(profile, Profile) or context is not None else None)
        if gains or mute or solo:  # the caller's own remix on top: not what was measured
            self.stored_key = None
        if target_lufs is not None:
            if not (isinstance(target_lufs, (int, float)) and -70.0 <= target_lufs <= 0.0):
                raise InputError(f"target loudness must be -70..0 LUFS, got {target_lufs!r}")
            prof = replace(prof or Profile("normalised"), target_lufs=float(target_lufs))
        if not (isinstance(blocksize, int) and blocksize > 0):
            raise InputError(f"blocksize must be a positive integer, got {blocksize!r}")
        self.f, self.profile, self.blocksize = f, prof, blocksize
        self.gains, self.mute, self.solo = stem_gains(f, prof, gains, mute, solo)
        self.span = dict(start=start, frames=frames)
        self.attribution = attribution
        self.spatial = None
        if layout is not None or hrtf is not None or head_yaw_deg:
            from .spatial import SpatialRenderer

            if layout is None:
                raise InputError("head_yaw_deg and hrtf need layout='binaural'")
            if f.channels > 2:
                from ..errors import NotAvailableError

                raise NotAvailableError(f"spatial rendering of {f.channels}-channel files is not available yet")
            if not (isinstance(head_yaw_deg, (int, float)) and math.isfinite(head_yaw_deg)):
                raise InputError(f"head yaw must be a number of degrees, got {head_yaw_deg!r}")
            self.spatial = SpatialRenderer(layout, f.samplerate, positions=_positions(f, positions),
                                           head_yaw_deg=head_yaw_deg, hrtf=hrtf)
        self.channels = self.spatial.channels if self.spatial is not None else f.channels

    def source(self) -> Iterator[_np.ndarray]:
        if self.spatial is not None:
            return self._spatial_source()
        if self.gains or self.mute or self.solo:
            return self.f.blocks(self.blocksize, **self.span, gains=self.gains or None, mute=self.mute,
                                 solo=self.solo, attribution=self.attribution)
        return self.f.blocks(self.blocksize, **self.span)

    def _spatial_source(self) -> Iterator[_np.ndarray]:
        """Segment by segment: each stream gained (residual attributed), then placed."""
        f = self.f
        start, stop, _, gains, _ = f._plan(self.span["start"], self.span["frames"], None, self.gains, self.mute,
                                           self.solo, "float64", self.attribution)
        scale = f._scale()
        for seg, cut in f.segment_cuts(start, stop):
            parts = f.remix_parts(seg, gains, self.attribution)
            yield self.spatial.process({i: x[cut] / scale for i, x in parts.items()}) if parts else \
                _np.zeros((cut.stop - cut.start, self.channels))

    def _stored_loudness(self, estimate: bool = False) -> float | None:
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
        if self.profile.target_lufs is None:
            return 0.0
        stored = self._stored_loudness(estimate)
        if stored is not None:
            return self.profile.target_lufs - stored
        chain = _Chain(self.profile, f.samplerate, self.channels, 0.0)
        meter = LoudnessMeter(f.samplerate, self.channels)
        for b in self.source():
            meter.update(chain.shape(b))
        measured = meter.integrated_lufs()
        return self.profile.target_lufs - measured if math.isfinite(measured) else 0.0  # silence: leave it

    def stream(self, gain_db: float) -> Iterator[_np.ndarray]:
        if self.profile is None:  # a spatial source yields whole segments: cut them to the block size too
            blocks = rechunk(self.source(), self.blocksize)
        else:
            chain = _Chain(self.profile, self.f.samplerate, self.channels, gain_db)
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


def render_blocks(f, *, profile=None, context=None, target_lufs=None, gains=None, mute=(), solo=(),
                  start: int = 0, frames: int | None = None, blocksize: int = 65536,
                  attribution: str = "tiles", layout: str | None = None, positions=None,
                  head_yaw_deg: float = 0.0, hrtf: str | None = None) -> Iterator[_np.ndarray]:
    """Stream a render in blocks of ``blocksize`` frames (float64, full scale 1.0).

    ``profile``: a name (authored in the file, or built in) or a :class:`Profile`; ``context``: a
    dict for :func:`choose_profile` instead; ``target_lufs`` overrides the profile's target (and
    alone normalises the plain mix); ``gains``/``mute``/``solo`` add to the profile's remix.
    ``layout`` (:data:`snc.render.spatial.SPATIAL_LAYOUTS`) places the stems at their stored
    positions, or ``positions={name: (azimuth, elevation)}``; ``binaural`` takes ``head_yaw_deg``
    and ``hrtf`` (a SOFA file instead of the shipped MIT KEMAR set)."""
    # the request is checked now, not at the first block: errors come before any output is written
    req = _Request(f, profile, context, target_lufs, gains, mute, solo, start, frames, blocksize, attribution,
                   layout, positions, head_yaw_deg, hrtf)
    return _normalised_stream(req)


def _normalised_stream(req: _Request) -> Iterator[_np.ndarray]:
    gain_db = req.loudness_gain_db() if req.profile is not None else 0.0
    yield from req.stream(gain_db)


def render(f, *, profile=None, context=None, target_lufs=None, gains=None, mute=(), solo=(), start: int = 0,
           frames: int | None = None, blocksize: int = 65536, attribution: str = "tiles",
           layout: str | None = None, positions=None, head_yaw_deg: float = 0.0, hrtf: str | None = None) -> _np.ndarray:
    """The whole render as one array (arguments as :func:`render_blocks`); with a loudness target it
    checks the result and, when the limiter took more than :data:`LOUDNESS_TOLERANCE_LU`, renders
    again with the gain corrected by what was missed."""
    req = _Request(f, profile, context, target_lufs, gains, mute, solo, start, frames, blocksize, attribution,
                   layout, positions, head_yaw_deg, hrtf)
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


def _positions(f, overrides) -> dict[int, tuple]:
    """Stream index -> (azimuth, elevation, distance, width): stored, or overridden by name."""
    overrides = dict(overrides or {})
    out = {}
    for i, st in enumerate(f.streams):
        # the residual is the mix's own detail: at the front, full width, whatever the file says
        p = ROLE_POSITIONS[RESIDUAL_ROLE] if st.is_residual else st.position
        if not _usable_position(p):
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


#: the farthest stored distance taken as it is (metres)
MAX_DISTANCE_M = 1000.0


def _usable_position(p) -> bool:
    """Within the spec's ranges (section "STRM chunk"): azimuth -180..180, elevation -90..90, distance
    0..MAX_DISTANCE_M metres (not 0), width 0..1; NaN fails every comparison."""
    return (-180.0 <= p.azimuth_deg <= 180.0 and -90.0 <= p.elevation_deg <= 90.0
            and 0.0 < p.distance_m <= MAX_DISTANCE_M and 0.0 <= p.width <= 1.0)


def _concat(parts, channels: int) -> _np.ndarray:
    parts = list(parts)
    return _np.concatenate(parts) if parts else _np.zeros((0, channels))
