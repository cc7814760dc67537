"""What every snc command shares: one-line errors and exit codes, signals, options, stdin/stdout, progress."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import InputError, SncError, SncWarning
from ..fileutil import TEMP_SUFFIX, OutputExistsError, is_special

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SIGNAL_BASE = 128  # interrupted: 128 + the signal's number, as a shell reports it (SIGINT 130, SIGTERM 143)

STDIO = "-"
BUG_HINT = "this is a bug: please report it with the command line"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, like every other snc error."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {printable(message, limit=None)} (see {self.prog} --help)\n")


def add_common_options(p: argparse.ArgumentParser, *, writes: bool) -> None:
    """``-q``/``-v`` on every command; ``-f`` on those that write files."""
    if writes:
        p.add_argument("-f", "--force", action="store_true", help="replace an existing output file")
    talk = p.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="say more: stage timings, and a traceback if something unexpected fails")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that the same clean-up runs (temporary files go)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_interrupt():
    """While a command runs, SIGTERM and SIGHUP interrupt it like SIGINT; the old handlers come back after."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:  # nohup stays nohup
                previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class OutputError(SncError):
    """An output could not be written (full disk, read-only directory, ...)."""


@contextlib.contextmanager
def writing(path, *, via=None):
    """Turn an OSError while writing output ``path`` (its temporary file, or ``via``, the file written in
    its place) into one line that names ``path``."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        name = os.fspath(exc.filename) if exc.filename is not None else None
        if name is not None and not name.endswith(TEMP_SUFFIX) and Path(name) not in {Path(path), Path(via or path)}:
            raise
        shown = "stdout" if path == STDIO else path
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None


def printable(value, *, limit: int | None = 80) -> str:
    """Text from a file or an exception is untrusted (spec section 21): control and format characters
    (terminal escapes, bidi overrides) become ``?``; long text is cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def _os_error_text(exc: OSError) -> str:
    if exc.filename is None:
        return exc.strerror or str(exc)
    return f"{os.fspath(exc.filename)}: {exc.strerror or exc}"


def run(prog: str, body: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv) -> int:
    """Parse ``argv`` and run ``body``; every failure becomes one line on stderr and an exit code:
    1 runtime error, 2 usage error (from the parser), 130 interrupted (128 + the signal number)."""
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if getattr(args, "quiet", False):
        from ..kernels import warmup

        warmup.set_messages(False)

    def fail(message: str) -> int:
        print(f"{prog}: error: {printable(message, limit=None)}", file=sys.stderr)
        return EXIT_ERROR

    def show_warning(message, category, filename, lineno, file=None, line=None):
        label = "warning" if issubclass(category, SncWarning) else category.__name__
        print(f"{prog}: {label}: {printable(message, limit=None)}", file=sys.stderr)

    with warnings.catch_warnings(), _signals_interrupt():
        warnings.showwarning = show_warning
        try:
            return body(args)
        except OutputExistsError as exc:
            return fail(f"output file {exc.path} already exists, use -f to override")
        except SncError as exc:
            return fail(str(exc))
        except KeyboardInterrupt as exc:
            print(f"{prog}: interrupted", file=sys.stderr)
            return EXIT_SIGNAL_BASE + getattr(exc, "signum", signal.SIGINT)
        except BrokenPipeError:
            _drop_stdout()
            return EXIT_ERROR
        except OSError as exc:
            if verbose:
                traceback.print_exc()
            return fail(_os_error_text(exc))
        except Exception as exc:  # noqa: BLE001 -- the last line of defence: one line, not a traceback
            if verbose:
                traceback.print_exc()
            hint = "" if verbose else "; -v shows the traceback"
            return fail(f"unexpected {type(exc).__name__}: {exc} ({BUG_HINT}{hint})")


def _drop_stdout() -> None:
    """The reader of stdout went away: point stdout at /dev/null so that the flush at exit is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class Messages:
    """Informational lines: on stdout, or on stderr when stdout carries audio; none with ``--quiet``."""

    def __init__(self, args, *, audio_on_stdout: bool = False):
        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", False)
        self.stream = sys.stderr if audio_on_stdout else sys.stdout

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream)

    def detail(self, text: str) -> None:
        if self.verbose:
            print(text, file=self.stream)


def human_bytes(n: int) -> str:
    return f"{n:,}"


# ---------------------------------------------------------------------------------------------------------
# stdin and stdout

@contextlib.contextmanager
def input_path(name: str) -> Iterator[str]:
    """The path to read for input ``name``: itself, or for ``-`` a private copy of stdin (the readers
    seek), removed afterwards."""
    if name != STDIO:
        yield name
        return
    if sys.stdin.isatty():
        raise InputError("refusing to read audio from a terminal: pipe a file into stdin, or name one")
    with tempfile.TemporaryDirectory(prefix="snc-stdin-") as tmp_dir:
        path = os.path.join(tmp_dir, "stdin")
        with open(path, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
        yield path


def streams_output(name: str) -> bool:
    """True for outputs that cannot be written in place: ``-`` (stdout) and existing FIFOs or devices."""
    return name == STDIO or is_special(name)


@contextlib.contextmanager
def output_path(name: str, *, suffix: str) -> Iterator[str]:
    """The path a writer should write for output ``name``: itself, or for ``-`` and FIFOs/devices a
    private temporary file copied there once complete (the writers seek back to patch headers, which a
    pipe cannot do; soundfile writes a wrong WAV header into one)."""
    if not streams_output(name):
        yield name
        return
    if name == STDIO and sys.stdout.isatty():
        raise InputError("refusing to write audio to a terminal: redirect stdout, or give -o FILE")
    with tempfile.TemporaryDirectory(prefix="snc-out-") as tmp_dir:
        path = os.path.join(tmp_dir, "out" + suffix)
        yield path
        _copy_out(path, name)


def _copy_out(path: str, name: str) -> None:
    with open(path, "rb") as src:
        if name == STDIO:
            sys.stdout.flush()
            _copy_to_stdout(src)
        else:
            with writing(name), open(name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _copy_to_stdout(src) -> None:
    """Copy to the stdout file descriptor with os.write: a BufferedWriter reports a pipe whose reader went
    away as a short write, and the rest would be lost with exit status 0; os.write raises BrokenPipeError."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by an object without a descriptor
        shutil.copyfileobj(src, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
        return
    while chunk := src.read(1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


# ---------------------------------------------------------------------------------------------------------
# progress

class Progress:
    """Progress of one file: a tqdm bar per stage with ETA when stderr is a terminal, and one line when
    the file is done (``song.snc: 45.0 s encoded in 3.1 s (14.5x realtime)``), never ``\\r`` in a log.

    Called with :func:`snc.encode`'s progress events (``{"stage", "frames_done", "frames_total"}``);
    :meth:`track` wraps a decoder's block iterator.
    """

    def __init__(self, name: str, verb: str, *, samplerate: int | None = None, quiet: bool = False,
                 verbose: bool = False):
        self.name, self.verb = printable(name, limit=None), verb
        self.samplerate = samplerate
        self.enabled = not quiet
        self.verbose = verbose
        self.bars = self.enabled and sys.stderr.isatty()
        self._bar = None
        self._stage = None
        self._stage_t0 = self._t0 = time.perf_counter()

    def __call__(self, event: dict) -> None:
        if not self.enabled:
            return
        stage = event.get("stage", "encode")
        if stage != self._stage:
            self._start_stage(stage, event["frames_total"])
        if self._bar is not None:
            self._bar.update(self._amount(stage, event["frames_done"]) - self._bar.n)

    def track(self, blocks: Iterable, total_frames: int, stage: str = "decode") -> Iterator:
        """Yield ``blocks`` unchanged, counting their frames."""
        done = 0
        for block in blocks:
            yield block
            done += len(block)
            self({"stage": stage, "frames_done": done, "frames_total": total_frames})

    def done(self, frames: int | None = None) -> None:
        """Close the bar and print the file's line (``frames``: audio length, for the realtime factor)."""
        self._close_stage()
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self._t0
        if frames is not None and self.samplerate:
            seconds = frames / self.samplerate
            speed = f" ({seconds / elapsed:.1f}x realtime)" if elapsed > 0 else ""
            print(f"{self.name}: {seconds:.1f} s {self.verb} in {elapsed:.1f} s{speed}", file=sys.stderr)
        else:
            print(f"{self.name}: {self.verb} in {elapsed:.1f} s", file=sys.stderr)

    def _amount(self, stage: str, frames: int) -> float:
        return frames / self.samplerate if self.samplerate and stage != "bitrate search" else frames

    def _start_stage(self, stage: str, total: int) -> None:
        self._close_stage()
        self._stage, self._stage_t0 = stage, time.perf_counter()
        if self.bars:
            from tqdm import tqdm

            in_seconds = self.samplerate and stage != "bitrate search"
            self._bar = tqdm(total=self._amount(stage, total), desc=f"{self.name}: {stage}", leave=False,
                             unit="s" if in_seconds else "step", file=sys.stderr, dynamic_ncols=True,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} {unit} "
                                        "[{elapsed}<{remaining}]" if in_seconds else None)

    def _close_stage(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._stage is not None and self.verbose:
            print(f"{self.name}: {self._stage} took {time.perf_counter() - self._stage_t0:.1f} s", file=sys.stderr)
        self._stage = None
