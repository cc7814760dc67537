"""Profiles: stem gains + dynamics + EQ + a loudness target, built in or authored in the file.

A profile's ``gains`` and ``mute`` name stems by **role** or by name (``"vocals"`` matches the
stems whose role or name is vocals), so one profile fits every file.  The key ``lead`` matches the
file's lead stem (META ``lead``, ``snc-encode --lead NAME``), or the vocals in a file that names
none.  Built-ins:

============== ==============================================================================
karaoke        the lead muted; the melody-carrying ``other`` stem 2 dB up
instrumental   the lead muted
vocal-boost    vocals +6 dB
night          reduced dynamic range: a 3:1 compressor from -30 dBFS, vocals +2 dB, -20 LUFS
noisy          a loud room: 4:1 from -36 dBFS, a presence lift, vocals +3 dB, -14 LUFS
small-speaker  phones and laptops: high-pass at 120 Hz, the bass's harmonics lifted, a gentle
               compressor, -16 LUFS
============== ==============================================================================

:func:`choose_profile` picks and tunes one from what a player knows (``ambient_db``, ``device``,
``night``, ``prefer``); authored profiles come from ``snc-encode --profiles FILE.json`` and are
stored in the file's metadata (``profiles``), listed by ``snc-info``.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace

from ..errors import InputError, SncWarning
from .dynamics import CompressorSettings, EqBand, check_number
from .remix import REMIX_GAIN_RANGE_DB

MAX_PROFILES = 64


def check_gain_db(what: str, db) -> float:
    """A stem gain in dB: -inf (mute) or a finite number within :data:`snc.render.remix.REMIX_GAIN_RANGE_DB`."""
    if isinstance(db, (int, float)) and not isinstance(db, bool) and db == -math.inf:
        return -math.inf
    return check_number(what, db, *REMIX_GAIN_RANGE_DB)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    #: dB per stem role or name; -inf mutes
    gains: dict = field(default_factory=dict)
    mute: tuple = ()
    eq: tuple = ()
    compressor: CompressorSettings | None = None
    #: integrated loudness the render is normalised to (LUFS); None keeps the level
    target_lufs: float | None = None
    #: ceiling of the true-peak limiter (dBTP), applied whenever the render would exceed it
    true_peak_dbtp: float = -1.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["gains"] = {k: (None if v == -math.inf else v) for k, v in self.gains.items()}
        d["mute"] = list(self.mute)
        d["eq"] = [asdict(b) for b in self.eq]
        return d

    @classmethod
    def from_json(cls, name: str, d) -> Profile:
        """A profile from its JSON form (as in ``--profiles FILE.json``); unknown keys are errors."""
        if not isinstance(d, dict):
            raise InputError(f"profile {name!r}: expected an object, got {type(d).__name__}")
        known = {"name", "description", "gains", "mute", "eq", "compressor", "target_lufs", "true_peak_dbtp"}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"profile {name!r}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
        try:
            gains = {str(k): (-math.inf if v is None else v) for k, v in dict(d.get("gains", {})).items()}
            eq = tuple(EqBand(**b) for b in d.get("eq", ()))
            comp = d.get("compressor")
            profile = cls(name=name, description=str(d.get("description", "")), gains=gains,
                          mute=tuple(str(m) for m in d.get("mute", ())), eq=eq,
                          compressor=CompressorSettings(**comp) if comp is not None else None,
                          target_lufs=d.get("target_lufs"), true_peak_dbtp=d.get("true_peak_dbtp", -1.0))
        except InputError:
            raise
        except (TypeError, ValueError) as exc:
            raise InputError(f"profile {name!r}: {exc}") from None
        return profile

    def remix(self, stems, lead: str | None = None) -> tuple[dict[str, float], list[str]]:
        """The profile's remix for stems ``[(name, role), ...]``: ``({name: dB}, [muted names])``; a key
        matches a stem by name or by role (``lead``: see :func:`matches`), and the dB of every matching
        key add up.  ``lead``: the file's lead stem (META ``lead``), if it names one."""
        gains, muted = {}, []
        for name, role in stems:
            hits = [db for key, db in self.gains.items() if matches(key, name, role, lead)]
            if hits:
                gains[name] = sum(hits)
            if any(matches(key, name, role, lead) for key in self.mute):
                muted.append(name)
        return gains, muted

    def __post_init__(self):
        self.check()  # every profile, also one made in code and handed to the encoder, is valid

    def check(self) -> None:
        """Every number finite and within its documented range (:data:`REMIX_GAIN_RANGE_DB`, ``EqBand.RANGES``,
        ``CompressorSettings.RANGES``, target -70..0 LUFS, ceiling -20..0 dBTP): one InputError naming the
        profile and the field."""
        if not isinstance(self.name, str) or not self.name or len(self.name) > 64:
            raise InputError(f"profile name must be 1..64 characters, got {self.name!r}")
        try:
            if not isinstance(self.gains, dict):
                raise InputError(f"gains must be an object of stem -> dB, got {self.gains!r}")
            for key, db in self.gains.items():
                check_gain_db(f"gain of {key!r}", db)
            for band in self.eq:
                if not isinstance(band, EqBand):
                    raise InputError(f"EQ bands must be EqBand, got {band!r}")
                band.check()
            if self.compressor is not None:
                if not isinstance(self.compressor, CompressorSettings):
                    raise InputError(f"compressor must be CompressorSettings, got {self.compressor!r}")
                self.compressor.check()
            if self.target_lufs is not None:
                check_number("target_lufs", self.target_lufs, -70.0, 0.0)
            check_number("true_peak_dbtp", self.true_peak_dbtp, -20.0, 0.0)
        except InputError as exc:
            raise InputError(f"profile {self.name!r}: {exc}") from None


#: the profile key that names the file's lead stem
LEAD = "lead"


def matches(key: str, name: str, role: str, lead: str | None = None) -> bool:
    """Whether a profile key names the stem ``(name, role)``: by name, by role, or, for the key ``lead``,
    as the file's lead stem ``lead`` -- or, in a file without one, as a stem of role ``vocals``."""
    if key in (name, role):
        return True
    return key == LEAD and (name == lead if lead is not None else role == "vocals")


BUILTIN = {
    p.name: p
    for p in (
        Profile("karaoke", "the lead muted, the melody instruments 2 dB up", gains={"other": 2.0}, mute=(LEAD,)),
        Profile("instrumental", "the lead muted", mute=(LEAD,)),
        Profile("vocal-boost", "vocals 6 dB louder (true peak limited)", gains={"vocals": 6.0}),
        Profile("night", "quiet listening: reduced dynamic range, clear dialogue", gains={"vocals": 2.0},
                compressor=CompressorSettings(threshold_db=-30.0, ratio=3.0, knee_db=8.0, attack_ms=5.0,
                                              release_ms=250.0, makeup_db=6.0),
                target_lufs=-20.0),
        Profile("noisy", "a loud room: compressed, vocals forward, presence lifted", gains={"vocals": 3.0},
                eq=(EqBand("peak", 3000.0, 3.0, 1.0),),
                compressor=CompressorSettings(threshold_db=-36.0, ratio=4.0, knee_db=6.0, attack_ms=5.0,
                                              release_ms=150.0, makeup_db=10.0),
                target_lufs=-14.0),
        Profile("small-speaker", "phones and laptops: no sub-bass, the bass's harmonics lifted",
                gains={"bass": 3.0},
                # two biquads: 24 dB/octave below 120 Hz, which such speakers cannot play (it only eats headroom)
                eq=(EqBand("highpass", 120.0, 0.0, 0.707), EqBand("highpass", 120.0, 0.0, 0.707),
                    EqBand("peak", 250.0, 3.0, 0.9)),
                compressor=CompressorSettings(threshold_db=-24.0, ratio=2.0, knee_db=6.0, attack_ms=10.0,
                                              release_ms=200.0, makeup_db=3.0),
                target_lufs=-16.0),
    )
}


def load_profiles_json(text: str) -> dict[str, Profile]:
    """Authored profiles: ``{"name": {profile fields}, ...}`` (the ``--profiles FILE.json`` format)."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"profiles: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError("profiles: expected a JSON object of name -> profile")
    if len(data) > MAX_PROFILES:
        raise InputError(f"profiles: at most {MAX_PROFILES}")
    return {str(name): Profile.from_json(str(name), body) for name, body in data.items()}


def _no_constant(token: str):
    """NaN and Infinity are not JSON (RFC 8259); Python's parser takes them unless told."""
    raise InputError(f"profiles: {token} is not a JSON number (use null for a muted stem)")


def authored_profiles(f) -> dict[str, Profile]:
    """The profiles stored in file ``f``'s metadata (``snc-encode --profiles``); one that this
    version cannot interpret or whose values are out of range (NaN, inf, absurd) is skipped with a
    warning (spec section 10.1), never half-used."""
    usable, unusable = stored_profiles(f)
    for reason in unusable.values():
        warnings.warn(f"skipping a stored profile: {reason}", SncWarning, stacklevel=3)
    return usable


def stored_profiles(f) -> tuple[dict[str, Profile], dict[str, str]]:
    """``(usable profiles, {name: why not} of the others)`` stored in file ``f``."""
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
    """The profile of a render of file ``f``: ``profile`` (a :class:`Profile`, or a name the file
    authored or a built-in), or the one :func:`choose_profile` picks for ``context``, or None."""
    if profile is not None and context is not None:
        raise InputError("give a profile or a context, not both")
    if isinstance(profile, Profile):
        return profile
    if profile is not None:
        _, unusable = stored_profiles(f)
        if str(profile) in unusable:  # asked for by name: say why, rather than play another of that name
            raise InputError(f"the file's profile {str(profile)!r} cannot be used: {unusable[str(profile)]}")
        return resolve(str(profile), authored_profiles(f))
    if context is not None:
        return choose_profile(context, authored_profiles(f))
    return None


def stem_gains(f, profile: Profile | None, gains=None, mute=(), solo=()) -> tuple[dict, list, list]:
    """The remix request of a profile (roles or names) plus the caller's own, in file ``f``'s stem names."""
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


def resolve(name: str, authored: dict | None = None) -> Profile:
    """A profile by name: authored ones (from the file) first, then the built-ins."""
    authored = authored or {}
    if name in authored:
        return authored[name]
    if name in BUILTIN:
        return BUILTIN[name]
    raise InputError(f"unknown profile {name!r}; this file offers: {', '.join([*authored, *BUILTIN])}")


#: ambient levels (dB SPL) where the context picks a quieter or a louder profile
QUIET_ROOM_DB, LOUD_ROOM_DB = 35.0, 65.0
SMALL_DEVICES = ("phone", "laptop", "tablet", "smart-speaker")
#: devices :func:`choose_profile` knows; another is taken as full-range speakers, with a warning
DEVICES = (*SMALL_DEVICES, "headphones", "speakers", "car")
CONTEXT_KEYS = ("ambient_db", "device", "night", "prefer", "profile")


def choose_profile(context: dict, authored: dict | None = None) -> Profile:
    """Pick and tune a profile from what the player knows.

    ``context`` keys (all optional): ``ambient_db`` (room noise, dB SPL), ``device`` (``phone``,
    ``laptop``, ``tablet``, ``smart-speaker``, ``headphones``, ``speakers``, ``car``), ``night``
    (bool: others are asleep), ``prefer`` (``"vocals"`` or ``"instrumental"``), ``profile`` (a
    name: used as is).  A loud room picks ``noisy`` and compresses more the louder it is; night or
    a quiet room picks ``night``; a small device ``small-speaker`` (with ``noisy``'s compression
    when the room is loud as well); otherwise the mix, with ``prefer`` applied."""
    if not isinstance(context, dict):
        raise InputError("context must be a dict, e.g. {'ambient_db': 70, 'device': 'phone'}")
    unknown = sorted(set(map(str, context)) - set(CONTEXT_KEYS))
    if unknown:  # a newer player's keys are not an error, but a typo should not pass unseen
        warnings.warn(f"context keys {', '.join(map(repr, unknown))} are not used (known: {', '.join(CONTEXT_KEYS)})",
                      SncWarning, stacklevel=2)
    if "profile" in context:
        return resolve(str(context["profile"]), authored)
    ambient = context.get("ambient_db")
    if ambient is not None:
        ambient = check_number("context ambient_db", ambient, 0.0, 200.0)
    device = str(context.get("device", "")).lower()
    if device and device not in DEVICES:
        warnings.warn(f"context device {device!r} is not one of {', '.join(DEVICES)}: taken as full-range speakers",
                      SncWarning, stacklevel=2)
    loud = ambient is not None and ambient >= LOUD_ROOM_DB
    if loud:
        base = BUILTIN["noisy"]
        # 1 dB more compression per 3 dB of extra noise, up to 8:1; louder target in louder rooms
        extra = (ambient - LOUD_ROOM_DB) / 3.0
        comp = replace(base.compressor, ratio=min(base.compressor.ratio + extra, 8.0))
        profile = replace(base, compressor=comp, target_lufs=min(-14.0 + extra / 2.0, -9.0))
        if device in SMALL_DEVICES:
            profile = replace(profile, name="noisy+small-speaker", eq=BUILTIN["small-speaker"].eq + profile.eq)
    elif context.get("night") or (ambient is not None and ambient <= QUIET_ROOM_DB):
        profile = BUILTIN["night"]
    elif device in SMALL_DEVICES:
        profile = BUILTIN["small-speaker"]
    else:
        profile = Profile("mix", "the mix as authored")
    prefer = context.get("prefer")
    if prefer == "vocals":
        profile = replace(profile, gains={**profile.gains, "vocals": profile.gains.get("vocals", 0.0) + 4.0})
    elif prefer == "instrumental":
        profile = replace(profile, mute=tuple({*profile.mute, "vocals"}))
    elif prefer is not None:
        raise InputError(f"context prefer must be 'vocals' or 'instrumental', got {prefer!r}")
    return profile
