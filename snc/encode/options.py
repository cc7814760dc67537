"""The options of one encode, checked before any work is done (:class:`EncodeOptions`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..codecs import available_codecs
from ..container.model import PRESETS as FORMAT_PRESETS
from ..container.model import parse_direction
from ..container.music import checked_music
from ..container.schema import MAX_PICTURE, MAX_SEGMENT_FRAMES, MIN_SEGMENT_FRAMES
from ..errors import InputError, NotAvailableError
from ..separate import SEPARATORS
from .presets import PRESETS, Preset
from .tuning import DEFAULT_HEADROOM_DB

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
#: the versions a file may be asked to stay readable by (None: the newest, 1.4)
FORMAT_VERSIONS = (None, "1.1", "1.2", "1.3", "1.4")


@dataclass(frozen=True)
class EncodeOptions:
    """Everything :func:`snc.encode` takes besides its input and output, validated and normalised on
    construction: ``preset`` becomes its :class:`~snc.encode.presets.Preset`, ``segment_frames`` the preset's
    default when None, ``profiles`` their stored JSON objects, ``positions`` checked directions, ``pictures``
    checked dicts, ``music`` its META object (:func:`~snc.container.music.checked_music`), ``colours`` lower
    case.  Bad values raise :class:`~snc.errors.InputError` (or NotAvailableError) naming the option."""

    samplerate: int | None = None
    bits: int | None = None
    preset: Preset | str = "transparent"
    separator: object = "none"
    bitrate: float | None = None
    verify: bool = False
    tags: Mapping[str, str] | None = None
    pictures: list[dict] | None = None
    codec: str = "lossless"
    remix_headroom: float = DEFAULT_HEADROOM_DB
    segment_frames: int | None = None
    progress: object = None
    model: object = None
    threads: int | None = None
    profiles: object = None
    positions: object = None
    lead: str | None = None
    music: object = None
    colours: object = None
    #: None: the newest format; "1.1": a file every 1.1 reader decodes (no range-coded lossless packets)
    format_version: str | None = None

    def __post_init__(self):
        preset = self.preset.name if isinstance(self.preset, Preset) else self.preset
        if preset not in FORMAT_PRESETS:
            raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(FORMAT_PRESETS)}")
        if preset not in PRESETS:
            raise NotAvailableError(f"preset {preset!r} is not available yet (this version implements: "
                                    f"{', '.join(PRESETS)})")
        preset = PRESETS[preset]
        if isinstance(self.separator, str) and self.separator not in SEPARATORS:
            raise InputError(f"unknown separator {self.separator!r}; choose one of {', '.join(SEPARATORS)}")
        if self.bitrate is not None:
            if not preset.perceptual_residual:  # a search over the tuning: nothing may have to stay exact
                searchable = " and ".join(name for name, p in PRESETS.items() if p.perceptual_residual)
                raise InputError(f"--bitrate applies to the {searchable} presets, not {preset.name!r}")
            if not (isinstance(self.bitrate, (int, float)) and 8 <= self.bitrate <= 4000):
                raise InputError(f"bitrate must be 8..4000 kbps, got {self.bitrate!r}")
        profiles = _checked_profiles(self.profiles)
        positions = {str(name): parse_direction(name, value) for name, value in dict(self.positions or {}).items()}
        if self.lead is not None and (not isinstance(self.lead, str) or not self.lead):
            raise InputError(f"lead must be a stem name, got {self.lead!r}")
        segment_frames = preset.segment_frames if self.segment_frames is None else self.segment_frames
        if not MIN_SEGMENT_FRAMES <= segment_frames <= MAX_SEGMENT_FRAMES:
            raise InputError(f"segment_frames must be {MIN_SEGMENT_FRAMES}..{MAX_SEGMENT_FRAMES}")
        if self.codec not in available_codecs():
            raise InputError(f"unknown codec {self.codec!r}; available: {', '.join(available_codecs())}")
        if self.format_version not in FORMAT_VERSIONS:
            raise InputError(f"format version must be one of {', '.join(v for v in FORMAT_VERSIONS if v)}, "
                             f"got {self.format_version!r}")
        if not (isinstance(self.remix_headroom, (int, float)) and 0.0 <= self.remix_headroom <= 24.0):
            raise InputError(f"remix headroom must be 0..24 dB, got {self.remix_headroom!r}")
        for name, value in (("preset", preset), ("profiles", profiles), ("positions", positions),
                            ("segment_frames", segment_frames), ("pictures", _checked_pictures(self.pictures)),
                            ("music", checked_music(self.music)), ("colours", _checked_colours(self.colours))):
            object.__setattr__(self, name, value)

    @property
    def residual_coding(self) -> str:
        """The ``lossless`` codec's residual coding: range coding (format 1.2) unless 1.1 is asked for."""
        return "rice" if self.format_version == "1.1" else "adaptive"

    @property
    def master_eq(self) -> bool:
        """May the master stream carry an EQ (format 1.3)?  Unless an older version is asked for."""
        return self.format_version in (None, "1.3", "1.4")

    @property
    def master_compressor(self) -> bool:
        """May the master stream carry a compressor (format 1.4)?  Unless an older version is asked for."""
        return self.format_version in (None, "1.4")

    def check_stems(self, names: list[str]) -> None:
        """Refuse positions, colours and a lead that name none of the stems ``names`` (empty: the mix alone),
        before any pass over the input."""
        shown = names or ["mix"]
        for what, given in (("positions", self.positions), ("colours", self.colours)):
            unknown = set(given) - set(shown)
            if unknown:
                raise InputError(f"{what} name no stem: {', '.join(map(repr, sorted(unknown)))} "
                                 f"(stems: {', '.join(shown)})")
        if self.lead is not None and (not names or self.lead not in names):
            raise InputError(f"lead {self.lead!r} names no stem" + (f" (stems: {', '.join(names)})" if names else
                                                                    " (a file without stems has no lead)"))


def _checked_profiles(profiles) -> dict:
    """Authored profiles as their stored JSON objects, validated before any work is done."""
    from ..render.profiles import MAX_PROFILES, Profile, load_profiles_json

    if profiles is None:
        return {}
    if isinstance(profiles, str):
        parsed = load_profiles_json(profiles)
    elif isinstance(profiles, Mapping):
        if len(profiles) > MAX_PROFILES:
            raise InputError(f"at most {MAX_PROFILES} profiles")
        parsed = {str(k): v if isinstance(v, Profile) else Profile.from_json(str(k), v) for k, v in profiles.items()}
    else:
        raise InputError("profiles must be a dict of name -> profile, or JSON text")
    for p in parsed.values():
        p.check()
    return {name: {k: v for k, v in p.to_json().items() if k != "name"} for name, p in parsed.items()}


def _checked_colours(colours) -> dict[str, str]:
    """``{stem name: "#rrggbb"}`` (sRGB, as the STRM chunk stores it), lower case."""
    if colours is None:
        return {}
    if not isinstance(colours, Mapping):
        raise InputError(f"colours must be a dict of stem name -> '#rrggbb', got {type(colours).__name__}")
    out = {}
    for name, colour in colours.items():
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            raise InputError(f"colour of {name!r} must be '#rrggbb' (hex digits), got {colour!r}")
        out[str(name)] = colour.lower()
    return out


def _checked_pictures(pictures) -> list[dict]:
    out = []
    for pic in pictures or ():
        try:
            item = dict(picture_type=int(pic.get("picture_type", 3)), mime=str(pic["mime"]),
                        description=str(pic.get("description", "")), data=bytes(pic["data"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError("a picture is a dict with 'mime' and 'data' (and optional 'picture_type', "
                             "'description')") from None
        if not 0 <= item["picture_type"] <= 255 or len(item["data"]) > MAX_PICTURE or not item["mime"].isascii():
            raise InputError(f"picture out of range (type 0..255, ASCII mime, at most {MAX_PICTURE} bytes)")
        out.append(item)
    return out
