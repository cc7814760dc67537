"""Option values of the snc commands: argparse types (times, finite and positive numbers, positions) and
NAME=VALUE lists, each refusing bad input with one line that says what was expected."""

from __future__ import annotations

import argparse
import math
import re

from ..errors import InputError

_TIME = re.compile(r"^(?:(\d+):)??(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(value: str) -> float:
    """``SECONDS``, ``M:SS`` or ``H:MM:SS`` (seconds may have a fraction) -> seconds; an argparse type."""
    match = _TIME.match(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid time {value!r}: give SECONDS, M:SS or H:MM:SS (e.g. 90, 1:30, "
                                         f"1:02:03.5)")
    hours, minutes, seconds = match.groups()  # the lazy first group leaves M:SS to the minutes
    seconds = float(seconds)
    if minutes is not None and seconds >= 60 or hours is not None and int(minutes) >= 60:
        raise argparse.ArgumentTypeError(f"invalid time {value!r}: minutes and seconds after a ':' must be < 60")
    return 3600 * int(hours or 0) + 60 * int(minutes or 0) + seconds


def finite_float(value: str) -> float:
    """A float that is not inf or nan; an argparse type."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def positive_float(value: str) -> float:
    number = finite_float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be positive")
    return number


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid whole number {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be positive")
    return number


def parse_position(value: str) -> tuple[float, float]:
    """``"AZ,EL"`` (degrees) -> (azimuth, elevation); ``"AZ"`` alone has elevation 0."""
    parts = value.split(",")
    if not 1 <= len(parts) <= 2:
        raise ValueError(value)
    az = float(parts[0])
    el = float(parts[1]) if len(parts) == 2 else 0.0
    if not (math.isfinite(az) and math.isfinite(el)):
        raise ValueError("angles must be finite")
    return az, el


def parse_assignments(items, what: str, convert=str) -> dict:
    """``["a=1", "b=2"]`` -> ``{"a": convert("1"), ...}`` with a clear error on bad or repeated items.

    A name given twice is an error: which one was meant cannot be known (SNC tags hold one value each).
    ``convert`` may raise ValueError with a message, which is shown.
    """
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"{what} must look like NAME=VALUE, got {item!r}")
        if name in out:
            raise InputError(f"{what} gives {name!r} twice")
        try:
            out[name] = convert(value)
        except ValueError as exc:
            why = str(exc) if str(exc) and str(exc) != value and "could not convert" not in str(exc) else ""
            raise InputError(f"{what} {item!r}: {value!r} is not a valid value" + (f" ({why})" if why else "")) \
                from None
    return out
