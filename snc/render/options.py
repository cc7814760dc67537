"""What a render is asked for: :class:`RenderOptions`, one frozen, checked object.

``render``, ``render_blocks`` and the :class:`~snc.render.player.Player` take these settings (as
keywords, or as one object); what needs the file to check (a profile's name, stem names, stored
positions) is resolved by :class:`snc.render.request.RenderRequest`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from .profiles import Profile, check_gain_db
from .remix import check_attribution


@dataclass(frozen=True)
class RenderOptions:
    """The settings of a render, checked once when made.

    ``profile``: a name (authored in the file, or built in) or a :class:`~snc.render.profiles.Profile`;
    ``context``: a dict for :func:`~snc.render.profiles.choose_profile` instead; ``target_lufs``
    overrides the profile's loudness target (and alone normalises the plain mix); ``gains`` (dB per
    stem name), ``mute`` and ``solo`` add to the profile's remix; ``attribution``: how the residual
    follows it (:data:`snc.render.remix.ATTRIBUTIONS`).  ``layout``
    (:data:`snc.render.spatial.SPATIAL_LAYOUTS`) places the stems at their stored positions, or at
    ``positions={name: (azimuth, elevation)}``; ``binaural`` takes ``head_yaw_deg`` and ``hrtf`` (a
    SOFA file instead of the shipped MIT KEMAR set).
    """

    profile: str | Profile | None = None
    context: dict | None = None
    target_lufs: float | None = None
    gains: Mapping[str, float] | None = None
    mute: tuple = ()
    solo: tuple = ()
    attribution: str = "tiles"
    layout: str | None = None
    positions: Mapping | None = None
    head_yaw_deg: float = 0.0
    hrtf: str | None = None

    def __post_init__(self):
        # copies: what was checked is what is used, whatever the caller later does with its own objects
        for name, value in (("gains", _copy(self.gains, dict)), ("positions", _copy(self.positions, dict)),
                            ("mute", tuple(self.mute)), ("solo", tuple(self.solo))):
            object.__setattr__(self, name, value)
        if self.profile is not None and self.context is not None:
            raise InputError("give a profile or a context, not both")
        if self.target_lufs is not None and not (
                isinstance(self.target_lufs, (int, float)) and -70.0 <= self.target_lufs <= 0.0):
            raise InputError(f"target loudness must be -70..0 LUFS, got {self.target_lufs!r}")
        for name, db in dict(self.gains or {}).items():
            check_gain_db(f"gain of {name!r}", db)
        check_attribution(self.attribution)
        if self.layout is None and (self.hrtf is not None or self.head_yaw_deg):
            raise InputError("head_yaw_deg and hrtf need layout='binaural'")
        if self.spatial and not (isinstance(self.head_yaw_deg, (int, float)) and math.isfinite(self.head_yaw_deg)):
            raise InputError(f"head yaw must be a number of degrees, got {self.head_yaw_deg!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> RenderOptions:
        """These options with ``changes`` (checked again); an unknown name is an InputError."""
        unknown = set(changes) - set(self.names())
        if unknown:
            raise InputError(f"unknown render settings {sorted(unknown)} (known: {sorted(self.names())})")
        return dataclasses.replace(self, **changes)

    @property
    def spatial(self) -> bool:
        """Whether the stems are placed (a layout, a head yaw or an HRTF asked for)."""
        return self.layout is not None or self.hrtf is not None or bool(self.head_yaw_deg)


def _copy(value, kind):
    return None if value is None else kind(value)
