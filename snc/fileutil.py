"""Output files that never land on an input and never appear half-written.

An output is written to a hidden temporary file beside it, ``.NAME.XXXXXXXX.snc-part``, and renamed into
place only when complete, with the permissions any new file gets under the umask.  The temporary name
neither looks like nor ends like an output, so what a killed run leaves behind is never taken for one.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError

#: every temporary output file ends so (and starts with a dot); a leftover of a killed run can be deleted
TEMP_SUFFIX = ".snc-part"
#: room for the prefix dot, tempfile's 8 random characters and the suffix within a 255-byte file name
_MAX_STEM = 200


class OutputExistsError(InputError):
    """The output file exists and replacing it was not asked for."""

    def __init__(self, path):
        self.path = Path(path)
        super().__init__(f"output file {path} already exists (pass overwrite=True to replace it)")


def is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def is_special(path) -> bool:
    """True for an existing output that is no regular file: a FIFO, a terminal, /dev/null."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output(path, *, inputs=(), overwrite: bool = False) -> Path:
    """Refuse an output ``path`` that is one of ``inputs`` (by resolved path or by device and inode,
    which catches hard links), a directory, a device, or (unless ``overwrite``) an existing file.

    ``inputs`` may hold arrays and file objects; only paths among them are compared.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(f"output path is a directory: {target}")
    if not target.parent.is_dir():
        raise InputError(f"output directory does not exist: {target.parent}")
    resolved, identity = os.path.realpath(target), _identity(target)
    for source in inputs:
        if is_path(source) and (os.path.realpath(source) == resolved
                                or (identity is not None and _identity(source) == identity)):
            raise InputError(f"output {target} is the input {os.fspath(source)}: choose another output name")
    if is_special(target):
        raise InputError(f"output {target} is not a regular file")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(target)
    return target


def temp_beside(target) -> tuple[int, str]:
    """``(fd, path)`` of a new private temporary file in ``target``'s directory (same file system: the
    final rename is atomic)."""
    target = Path(target)
    return tempfile.mkstemp(prefix=temp_prefix(target), suffix=TEMP_SUFFIX, dir=target.parent)


def temp_prefix(target) -> str:
    """The name prefix of :func:`temp_beside`'s files for ``target`` (they end in :data:`TEMP_SUFFIX`)."""
    return f".{Path(target).name[:_MAX_STEM]}."


def current_umask() -> int:
    """The process umask; read from /proc where possible, since setting it to read it races with threads."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp, target) -> None:
    """Give the finished temporary file a new file's permissions (mkstemp made it 0600) and rename it
    to ``target``."""
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, target)


def discard(tmp) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(path, *, inputs=(), overwrite: bool = True):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    Checks ``path`` with :func:`check_output` first; ``overwrite`` defaults to True here because
    callers (the command-line tools) decide about existing files before any work is done.
    """
    target = check_output(path, inputs=inputs, overwrite=overwrite)
    fd, tmp = temp_beside(target)
    os.close(fd)
    try:
        yield tmp
        publish(tmp, target)
    except BaseException:
        discard(tmp)
        raise
