"""snc-encode's musical metadata and stem colours: ``--bpm``, ``--key``, ``--cue``, ``--lyrics``, ``--isrc``,
``--colour``, turned into the ``music`` and ``colours`` options of :func:`snc.encode`.

Cues and LRC lines are given in time and stored in sample frames, so they wait for the mix's sample rate
(:meth:`MusicArgs.at`); everything else is checked as soon as the command line is read, before any audio is.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ..container.lrc import parse_lrc
from ..container.music import checked_music
from ..errors import InputError
from .values import finite_float, parse_assignments, parse_time

#: the options that describe one song: a batch takes them from its manifest
PER_SONG = ("--cue", "--lyrics", "--isrc")


def add_music_options(p: argparse.ArgumentParser) -> None:
    music = p.add_argument_group("musical metadata (stored in the file; snc-info shows it)")
    music.add_argument("--bpm", type=finite_float, metavar="BPM", help="tempo in beats per minute (0 < BPM <= 999)")
    music.add_argument("--key", metavar="KEY", help="musical key: tonic A-G, # or b, m for minor (F#m, Bb, C)")
    music.add_argument("--cue", action="append", default=[], metavar="TIME=LABEL",
                       help="a cue point, TIME in seconds or M:SS.xx (e.g. 83.5=chorus; repeatable)")
    music.add_argument("--lyrics", metavar="FILE", help="lyrics: an .lrc file (time-synced lines) or plain text")
    music.add_argument("--isrc", metavar="CODE", help="International Standard Recording Code (hyphens allowed)")
    music.add_argument("--colour", "--color", dest="colour", action="append", default=[], metavar="NAME=#RRGGBB",
                       help="a stem's colour in players instead of its role's (repeatable)")


@dataclass
class MusicArgs:
    """What the command line says about the music: ``members`` checked, the timed ones waiting for a rate."""

    members: dict = field(default_factory=dict)
    cues: list = field(default_factory=list)  # (seconds, label)
    lrc: str | None = None  # the text of an .lrc file

    def at(self, mix, rate: int | None = None) -> dict | None:
        """The ``music`` option for the mix at path ``mix`` (its sample rate read when a time needs it, unless
        ``rate`` gives it)."""
        music = dict(self.members)
        if self.cues or self.lrc is not None:
            from ..encode.sources import peek_format

            rate = rate or peek_format(mix, None, None).sample_rate
            music["cues"] = [{"frame": round(seconds * rate), "label": label} for seconds, label in self.cues]
            if self.lrc is not None:
                plain, synced = parse_lrc(self.lrc, rate)
                music.update(lyrics=plain, synced_lyrics=synced)
        return music or None


def music_args(args) -> MusicArgs:
    """The musical metadata of one song's command line, checked (a bad value: an InputError naming it)."""
    given = MusicArgs(members={k: v for k, v in (("bpm", args.bpm), ("key", args.key), ("isrc", args.isrc))
                               if v is not None})
    for item in args.cue:
        when, sep, label = item.partition("=")
        try:
            seconds = parse_time(when) if sep else None
        except argparse.ArgumentTypeError as exc:
            raise InputError(f"--cue {item!r}: {exc}") from None
        if seconds is None:
            raise InputError(f"--cue must look like TIME=LABEL (e.g. 83.5=chorus or 1:23.5=chorus), got {item!r}")
        given.cues.append((seconds, label))
    if args.lyrics is not None:
        text = _read_text(args.lyrics)
        if Path(args.lyrics).suffix.lower() == ".lrc":
            given.lrc = text
        else:
            given.members["lyrics"] = text
    given.members = checked_music(given.members)
    return given


def batch_music(args) -> dict | None:
    """The musical metadata a batch gives every song (tempo and key); the per-song options are refused."""
    per_song = [name for name, value in zip(PER_SONG, (args.cue, args.lyrics, args.isrc)) if value]
    if per_song:
        raise InputError(f"{', '.join(per_song)} {'describes' if len(per_song) == 1 else 'describe'} one song: "
                         f"in a batch give each song's in --manifest "
                         f"(JSON lines: \"music\": {{\"cues\", \"lyrics\", \"isrc\", ...}})")
    return music_args(args).members or None


def colours(args) -> dict | None:
    """``--colour NAME=#rrggbb`` as ``{name: colour}`` (the encoder checks the colours and the names)."""
    return parse_assignments(args.colour, "--colour") or None


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--lyrics: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
