"""Musical metadata: META ``music`` (spec snc-format.md section 10.2), tempo, key, cues, lyrics and ISRC.

Two doors with one set of rules.  A writer checks strictly (:func:`checked_music`): a bad value is the user's
mistake and one line says which member and what was expected; common spellings (``F# minor``, a hyphenated
ISRC) are normalised first.  A reader is lenient (:func:`read_music`): a file stays readable when one member
is broken, and only that member is dropped.  :func:`music_from_tags` takes what an input file's tags say.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..errors import InputError

MAX_BPM = 999
#: a frame number fits the INFO chunk's 64-bit frame count
MAX_FRAME = (1 << 64) - 1
KEY_PATTERN = re.compile(r"[A-G][#b]?m?")
ISRC_PATTERN = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{2}[0-9]{5}")
_KEY_WORDS = re.compile(r"\s*(minor|min|major|maj)$", re.IGNORECASE)


def _bpm(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= MAX_BPM:
        raise ValueError(f"must be a number in (0, {MAX_BPM}], got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def _key(value):
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
        raise ValueError(f"must be a tonic A-G, then # or b, then m for minor (e.g. F#m, Bb, C), got {value!r}")
    return value


def _isrc(value):
    if not isinstance(value, str) or not ISRC_PATTERN.fullmatch(value):
        raise ValueError(f"must be 12 characters CCXXXYYNNNNN (e.g. USRC17607839), got {value!r}")
    return value


def _lyrics(value):
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {type(value).__name__}")
    return value


def _timed(field: str):
    """The checker of an array of ``{"frame": integer >= 0, field: string}`` sorted by frame."""
    def check(value):
        what = f"an array of {{frame, {field}}} objects sorted by frame"
        if not isinstance(value, list):
            raise ValueError(f"must be {what}")
        out = []
        for item in value:
            frame = item.get("frame") if isinstance(item, Mapping) else None
            text = item.get(field) if isinstance(item, Mapping) else None
            if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame <= MAX_FRAME:
                raise ValueError(f"frame must be a whole number >= 0, got {frame!r} (in {what})")
            if not isinstance(text, str):
                raise ValueError(f"{field} must be text, got {text!r} (in {what})")
            if out and frame < out[-1]["frame"]:
                raise ValueError(f"must be sorted by frame ({frame} after {out[-1]['frame']})")
            out.append({"frame": frame, field: text})
        return out
    return check


#: every member: its checker, which returns the value as stored or raises ValueError saying what is expected
MEMBERS = {"bpm": _bpm, "key": _key, "cues": _timed("label"), "lyrics": _lyrics,
           "synced_lyrics": _timed("text"), "isrc": _isrc}


def _normalised(name: str, value):
    """What a user gives, in the stored notation: ``f# minor`` -> ``F#m``, ``us-rc1-76-07839`` ->
    ``USRC17607839``, CRLF line ends -> LF, cues given as ``(frame, label)`` pairs and in any order sorted."""
    if name == "key" and isinstance(value, str):
        text = value.strip().replace("\u266f", "#").replace("\u266d", "b")
        words = _KEY_WORDS.search(text)
        if words:
            text = text[:words.start()] + ("m" if words.group(1).lower().startswith("min") else "")
        return text[:1].upper() + text[1:]
    if name == "isrc" and isinstance(value, str):
        return value.strip().replace("-", "").upper()
    if name == "lyrics" and isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if name in ("cues", "synced_lyrics") and isinstance(value, (list, tuple)):
        field = "label" if name == "cues" else "text"
        items = [{"frame": item[0], field: item[1]} if isinstance(item, (list, tuple)) and len(item) == 2 else item
                 for item in value]
        if all(isinstance(i, Mapping) and isinstance(i.get("frame"), int) for i in items):
            items.sort(key=lambda i: i["frame"])  # stable: cues at one frame keep their order
        return items
    return value


def _empty(value) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict)) and not value)


def checked_music(obj) -> dict:
    """The META ``music`` object of a writer's ``obj`` (a mapping of the members of spec section 10.2; None:
    none), normalised, empty members left out; an unknown member or a bad value is an InputError."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise InputError(f"music must be a dict of {', '.join(MEMBERS)}, got {type(obj).__name__}")
    out = {}
    for name, value in obj.items():
        if name not in MEMBERS:
            raise InputError(f"unknown music member {name!r} (known: {', '.join(MEMBERS)})")
        value = _normalised(name, value)
        if _empty(value):
            continue
        try:
            out[name] = MEMBERS[name](value)
        except ValueError as exc:
            raise InputError(f"music {name}: {exc}") from None
    return out


def read_music(meta: Mapping) -> dict:
    """The valid members of META ``music`` as a file stores them; unknown and invalid members are dropped
    (spec section 10.2: a reader ignores them rather than fail).  ``{}`` when the file has none."""
    music = meta.get("music") if isinstance(meta, Mapping) else None
    if not isinstance(music, Mapping):
        return {}
    out = {}
    for name, check in MEMBERS.items():
        if name in music:
            try:
                out[name] = check(music[name])
            except ValueError:
                continue
    return out


#: input-file tags (lower case) -> the member they fill; of two tags for one member the first valid one wins
TAG_MEMBERS = {"bpm": "bpm", "tbpm": "bpm", "initialkey": "key", "key": "key", "isrc": "isrc",
               "lyrics": "lyrics", "unsyncedlyrics": "lyrics"}


def music_from_tags(tags: Mapping) -> dict:
    """The members an input file's tags give (``BPM``/``TBPM``, ``INITIALKEY``/``KEY``, ``ISRC``,
    ``LYRICS``/``UNSYNCEDLYRICS``), normalised; a tag whose value is not valid is passed over."""
    found: dict = {}
    for tag, value in tags.items():
        name = TAG_MEMBERS.get(str(tag).lower())
        if name is None or name in found or not isinstance(value, str):
            continue
        if name == "bpm":
            try:
                value = float(value.strip())
            except ValueError:
                continue
        try:
            found.update(checked_music({name: value}))
        except InputError:
            continue
    return found
