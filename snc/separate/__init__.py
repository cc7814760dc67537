"""Separators: stems from a mix when the user has none (``--separator auto|dsp|demucs|none``).

- ``dsp`` (:mod:`.dsp`): built in, no model, always available;
- ``demucs`` (:mod:`.demucs`): HTDemucs through the optional ``demucs`` package (``pip install
  snc[demucs]``) with weights from ``--model PATH`` or the local caches -- never downloaded here;
- ``auto``: demucs when it is installed and its weights are found, else dsp.

:func:`separate_mix` runs a separator over a whole mix in chunks (memory stays bounded) and
returns the stems as memory-mapped arrays in the mix's sample format, whose sum is the mix
(the last stem takes what the others leave; only clipping to the format's range can break the
sum, and the encoder's residual absorbs that).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as _np

from ..errors import InputError, NotAvailableError
from ..signal.audio_io import AudioSource, NativeAudio, release_pages, to_native
from .base import STEM_NAMES, ProgressCallback, Separator

SEPARATORS = ("auto", "dsp", "demucs", "none")

__all__ = ["SEPARATORS", "STEM_NAMES", "Separator", "Separation", "get_separator", "separate_mix"]


def get_separator(name: str, *, model=None, threads: int | None = None) -> tuple[Separator, str]:
    """The separator for ``--separator name`` and a note on how ``auto`` chose (else "").

    ``model``: demucs checkpoint path or model name; ``threads``: demucs CPU threads."""
    if name not in SEPARATORS or name == "none":
        raise InputError(f"unknown separator {name!r}; choose one of {', '.join(s for s in SEPARATORS if s != 'none')}")
    if name == "dsp":
        if model is not None:
            raise InputError("--model applies to the demucs separator, not dsp")
        from .dsp import DspSeparator

        return DspSeparator(), ""
    if name == "demucs":
        from .demucs import DemucsSeparator

        return DemucsSeparator(model, threads=threads), ""
    # auto: demucs if it can run here, else the built-in separator, and say why; the cheap checks
    # first, so a machine without demucs or its weights does not import torch (seconds) for nothing
    from . import demucs
    from .dsp import DspSeparator

    if model is not None:  # a model asked for by name or path: its errors are the user's to see
        return demucs.DemucsSeparator(model, threads=threads), "auto: --model given, used demucs"
    if not demucs.installed():
        return DspSeparator(), "auto: demucs is not installed (pip install 'snc[demucs]'), used dsp"
    no_weights = "auto: no demucs weights here (--separator demucs says how to get them), used dsp"
    if not demucs.weights_may_be_cached():
        return DspSeparator(), no_weights
    try:
        return demucs.DemucsSeparator(threads=threads), "auto: demucs weights found, used demucs"
    except NotAvailableError:
        return DspSeparator(), no_weights


@dataclass
class Separation:
    """Separated stems of one mix: ``stems`` maps names to :class:`~snc.signal.audio_io.NativeAudio`
    (memory-mapped files in a temporary directory that lives as long as the context of
    :func:`separate_mix`); ``provenance`` is the separator's (stored with every stem)."""

    separator: str
    provenance: dict
    note: str = ""
    stems: dict[str, NativeAudio] = field(default_factory=dict)


def _aligned(seconds: float, samplerate: int, align: int, up: bool) -> int:
    frames = seconds * samplerate / align
    return max(int(math.ceil(frames) if up else math.floor(frames)), 1) * align


@contextlib.contextmanager
def separate_mix(mix, *, separator: str | Separator = "auto", samplerate: int | None = None,
                 bits: int | None = None, model=None, threads: int | None = None,
                 progress: ProgressCallback | None = None) -> Iterator[Separation]:
    """Separate ``mix`` (path or array, as :func:`snc.encode` takes it) into stems.

    A context manager: the stems are memory-mapped temporary files, removed on exit::

        with separate_mix("song.flac", separator="dsp") as sep:
            snc.encode("song.flac", "song.snc", stems=sep.stems)

    ``progress`` gets ``{"stage": "separate", "frames_done", "frames_total", "separator"}`` per chunk.
    """
    note = ""
    if isinstance(separator, str):
        separator, note = get_separator(separator, model=model, threads=threads)
    src = AudioSource(mix, name="mix", samplerate=samplerate, bits=bits)
    try:
        fmt = src.format
        if src.frames == 0:
            raise InputError("mix: the audio is empty (0 frames)")
        with tempfile.TemporaryDirectory(prefix="snc-separate-") as tmp:
            stems = {name: _np.lib.format.open_memmap(os.path.join(tmp, f"{i}.npy"), mode="w+", dtype=fmt.dtype,
                                                      shape=(src.frames, fmt.channels))
                     for i, name in enumerate(separator.stem_names)}
            _run_chunks(separator, src, stems, progress)
            yield Separation(separator=separator.name, provenance=separator.provenance(), note=note,
                             stems={name: NativeAudio(arr, fmt) for name, arr in stems.items()})
            for arr in stems.values():
                arr._mmap.close()  # release the file before the directory goes
    finally:
        src.close()


def _run_chunks(separator: Separator, src: AudioSource, stems: dict[str, _np.ndarray], progress) -> None:
    """Separate ``src`` chunk by chunk into the ``stems`` arrays (mix format); the last stem is the
    mix minus the others in the mix's own arithmetic, so the stems sum to the mix."""
    fmt = src.format
    rate, n = fmt.sample_rate, src.frames
    align = separator.frame_alignment(rate)
    chunk = max(separator.chunk_frames(rate) // align, 1) * align
    before = _aligned(separator.context_seconds, rate, align, up=True)
    after_seconds = separator.context_after_seconds
    after = before if after_seconds is None else _aligned(after_seconds, rate, align, up=True)
    scale = float(1 << (fmt.bits - 1)) if fmt.sample_format == "int" else 1.0
    names = separator.stem_names
    # a rolling window over the mix: [start, start + len(buf)) with start = max(0, a - context)
    buf = _np.zeros((0, fmt.channels), dtype=fmt.dtype)
    start = 0
    a = 0
    while a < n:
        b = min(a + chunk, n)
        want_end = min(n, b + after)
        have_end = start + len(buf)
        if want_end > have_end:
            buf = _np.concatenate([buf, src.read(want_end - have_end, fmt)])
        block = buf.astype(_np.float64) / scale
        if progress is not None and hasattr(separator, "progress"):  # finer steps from a slow separator
            separator.progress = _within_chunk(progress, a, b, n, separator.name)
        try:
            out = separator.separate(block, rate)
        except MemoryError:
            raise InputError(f"{separator.name}: out of memory separating a "
                             f"{chunk / rate:.3g} s chunk") from None
        keep = slice(a - start, b - start)
        mix_part = buf[keep].astype(_np.float64 if fmt.sample_format != "int" else _np.int64)
        rest = _np.zeros_like(mix_part)
        for name in names[:-1]:
            part = to_native(out[name][keep], fmt)
            stems[name][a:b] = part
            rest += part
        last = mix_part - rest
        if fmt.sample_format == "int":  # already native units: only the range to keep
            last = _np.clip(last, -(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1)
        stems[names[-1]][a:b] = last.astype(fmt.dtype)
        for arr in stems.values():  # written: out of this process's memory, kept in the file
            release_pages(arr, a, b)
        # slide: keep the context before the next chunk
        new_start = max(0, b - before)
        buf = buf[new_start - start:]
        start = new_start
        a = b
        if progress is not None:
            progress({"stage": "separate", "frames_done": b, "frames_total": n, "separator": separator.name})


def _within_chunk(progress, a: int, b: int, total: int, name: str):
    """Turn a separator's progress through one block into progress through the whole mix."""
    def report(event: dict) -> None:
        part = event["frames_done"] / max(event["frames_total"], 1)
        progress({"stage": "separate", "frames_done": a + int(part * (b - a)), "frames_total": total,
                  "separator": name})
    return report
