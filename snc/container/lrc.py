"""LRC lyrics files: time-tagged lines as the ``lyrics`` and ``synced_lyrics`` members of META ``music``.

An LRC line starts with one or more time tags ``[mm:ss.xx]`` (also ``[mm:ss]``, ``[mm:ss.xxx]``, ``[mm:ss:xx]``),
several when a line is sung more than once; ID tags ``[ar:...]``, ``[ti:...]`` and the like stand on lines of
their own.  ``[offset:+/-ms]`` moves every line: a positive offset shows the lines sooner.  Word tags of
enhanced LRC (``<mm:ss.xx>`` inside a line) are dropped: the members hold lines, not words.
"""

from __future__ import annotations

import re

from ..errors import InputError

_TIME_TAG = re.compile(r"\[(\d+):(\d{1,2}(?:[.:]\d+)?)\]")
_ID_TAG = re.compile(r"^\[([A-Za-z#][^:\]]*):(.*)\]$")
_WORD_TAG = re.compile(r"<\d+:\d{1,2}(?:[.:]\d+)?>")
_OFFSET = re.compile(r"^[+-]?\d+$")


def parse_lrc(text: str, samplerate: int) -> tuple[str, list[dict]]:
    """``(plain lyrics, synced lines)`` of an LRC file's ``text``: the synced lines as ``{"frame", "text"}``
    at ``samplerate``, sorted by frame, and the plain lyrics their text in that order (blank lines between
    stanzas kept, one at most).  A text without any time tag is read as plain lyrics alone."""
    if not isinstance(samplerate, int) or samplerate <= 0:
        raise InputError(f"sample rate must be a positive whole number, got {samplerate!r}")
    offset_ms = 0
    timed: list[tuple[float, str]] = []
    untimed: list[str] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        line = raw.strip()
        times, rest = [], line
        while match := _TIME_TAG.match(rest):
            minutes, seconds = match.groups()
            times.append(60 * int(minutes) + float(seconds.replace(":", ".")))
            rest = rest[match.end():].lstrip()
        if times:
            words = _WORD_TAG.sub("", rest).strip()
            timed += [(t, words) for t in times]
        elif tag := _ID_TAG.match(line):
            if tag.group(1).strip().lower() == "offset":
                value = tag.group(2).strip()
                if not _OFFSET.match(value):
                    raise InputError(f"LRC line {number}: offset must be whole milliseconds (e.g. +250), got "
                                     f"{value!r}")
                offset_ms = int(value)
        else:
            untimed.append(line)
    if not timed:
        return _joined(untimed), []
    timed.sort(key=lambda item: item[0])  # stable: a line's repeats keep the file's order
    synced = [{"frame": max(0, round((t - offset_ms / 1000) * samplerate)), "text": words} for t, words in timed]
    return _joined(words for _, words in timed), synced


def _joined(lines) -> str:
    """Lines as text, runs of blank lines as one, none at either end."""
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
