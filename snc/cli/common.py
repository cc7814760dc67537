"""What every snc command shares: one-line errors, warnings on stderr, a progress line."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable

from ..errors import SncError, SncWarning

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other snc error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def run(prog: str, body: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv) -> int:
    """Parse ``argv``, run ``body``; turn every SncError into one line on stderr and exit code 1."""
    args = parser.parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        label = "warning" if issubclass(category, SncWarning) else category.__name__
        print(f"{prog}: {label}: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return body(args)
        except SncError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            return EXIT_ERROR


def parse_position(value: str) -> tuple[float, float]:
    """``"AZ,EL"`` (degrees) -> (azimuth, elevation); ``"AZ"`` alone has elevation 0."""
    parts = value.split(",")
    if not 1 <= len(parts) <= 2:
        raise ValueError(value)
    az = float(parts[0])
    el = float(parts[1]) if len(parts) == 2 else 0.0
    return az, el


def parse_assignments(items, what: str, convert=str) -> dict:
    """``["a=1", "b=2"]`` -> ``{"a": convert("1"), ...}`` with a clear error on bad items."""
    from ..errors import InputError

    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"{what} must look like NAME=VALUE, got {item!r}")
        try:
            out[name] = convert(value)
        except ValueError:
            raise InputError(f"{what} {item!r}: {value!r} is not a valid value") from None
    return out


class Progress:
    """A one-line progress indicator on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = None

    def __call__(self, event: dict) -> None:
        if not self.enabled:
            return
        pct = int(100 * event["frames_done"] / max(event["frames_total"], 1))
        stage = event.get("stage", "")
        if (stage, pct) != self._last:
            self._last = (stage, pct)
            what = self.label if stage in ("", "encode") else f"{self.label} ({stage})"
            print(f"\r{what}: {pct:3d}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled and self._last is not None:
            print(file=sys.stderr)


def human_bytes(n: int) -> str:
    return f"{n:,}"
