"""Atomic output files: write to a temporary name beside the target, rename on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import InputError


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"output directory does not exist: {target.parent}")
    if target.is_dir():
        raise InputError(f"output path is a directory: {target}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
