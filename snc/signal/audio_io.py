"""Reading input audio (anything soundfile reads, or NumPy arrays) block by block.

Integer files are read as the exact integers they hold (``int32`` carrying
``bits``-bit values); float files as float32/float64.  Every failure becomes an
:class:`~snc.errors.InputError` naming the file.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass

import numpy as _np
import soundfile as _sf

from ..errors import InputError
from .audio_out import write_audio  # noqa: F401  (re-exported: the writing side lives in audio_out)
from .flac_tags import read_vorbis_comments

# soundfile subtype -> (sample format, bits).  Compressed/other subtypes decode as float32.
_SUBTYPES = {
    "PCM_S8": ("int", 8), "PCM_U8": ("int", 8), "PCM_16": ("int", 16), "PCM_24": ("int", 24),
    "PCM_32": ("int", 32), "FLOAT": ("float32", 32), "DOUBLE": ("float64", 64),
}
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 8
_TAG_NAMES = ("title", "artist", "album", "date", "genre", "comment", "copyright", "license", "tracknumber")


@dataclass
class AudioFormat:
    sample_rate: int
    channels: int
    sample_format: str  # "int" | "float32" | "float64"
    bits: int

    @property
    def subtype(self) -> str:
        if self.sample_format == "int":
            return {8: "PCM_S8", 16: "PCM_16", 24: "PCM_24", 32: "PCM_32"}.get(self.bits, "PCM_32")
        return "FLOAT" if self.sample_format == "float32" else "DOUBLE"

    @property
    def dtype(self):
        return _np.int32 if self.sample_format == "int" else _np.dtype(self.sample_format)


@dataclass
class NativeAudio:
    """Samples already in a known format (e.g. a memory-mapped separated stem): read as they are,
    without the copy and range scan that arbitrary arrays get."""

    array: _np.ndarray  # (frames, channels), fmt.dtype
    format: AudioFormat


def release_pages(array: _np.ndarray, start: int, stop: int) -> None:
    """Unmap frames ``[start, stop)`` of a memory-mapped ``array`` from this process (madvise DONTNEED): the
    data stays in its file (a dirty page is still written back), but no longer counts in the process's
    resident memory, so streaming through a long mapped signal keeps memory flat.  Anything else: no-op."""
    mm = getattr(array, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED") or stop <= start:
        return
    row = array.strides[0]
    skew = array.offset % mmap.ALLOCATIONGRANULARITY  # where the array starts inside the mapping
    lo = -(-(skew + start * row) // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages only
    hi = (skew + stop * row) // mmap.PAGESIZE * mmap.PAGESIZE
    if hi > lo:
        mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


class AudioSource:
    """Block reader over a file (via soundfile), an in-memory array or :class:`NativeAudio`,
    in a given target format."""

    def __init__(self, source, *, name: str, samplerate: int | None = None, bits: int | None = None):
        self.name = name
        self._sf = None
        self._array = None
        self.tags: dict[str, str] = {}
        #: every Vorbis comment of a FLAC file (lower-case names), also those libsndfile does not expose
        self.comments: dict[str, str] = {}
        self._pos = 0
        #: the file's path (None for arrays)
        self.path: str | None = None
        #: float samples beyond an integer target's range, clipped by :meth:`read`, and the largest magnitude
        self.clipped = 0
        self.peak = 0.0
        if isinstance(source, NativeAudio):
            self.format, self._array, self.frames = source.format, source.array, source.array.shape[0]
        elif isinstance(source, (str, os.PathLike)):
            self._open_file(os.fspath(source))
        else:
            self._open_array(source, samplerate, bits)
        if not MIN_RATE <= self.format.sample_rate <= MAX_RATE:
            raise InputError(f"{name}: sample rate {self.format.sample_rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
        if not 1 <= self.format.channels <= MAX_CHANNELS:
            raise InputError(f"{name}: {self.format.channels} channels (SNC takes 1..{MAX_CHANNELS})")

    def _open_file(self, path: str) -> None:
        self.path = path
        if not os.path.exists(path):
            raise InputError(f"{self.name}: no such file: {path}")
        if os.path.isdir(path):
            raise InputError(f"{self.name}: is a directory, not an audio file: {path}")
        try:
            self._sf = _sf.SoundFile(path)
        except (_sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise InputError(f"{self.name}: not a readable audio file: {path} ({exc})") from None
        if self._sf.seekable():
            # libsndfile's MP3 decoder gives floats 1 ulp apart before and after a seek; soundfile.read seeks,
            # so seeking too makes "exact" mean the samples every soundfile user reads
            self._sf.seek(0)
        fmt, bits = _SUBTYPES.get(self._sf.subtype, ("float32", 32))
        self.format = AudioFormat(self._sf.samplerate, self._sf.channels, fmt, bits)
        self.frames = self._sf.frames
        for tag in _TAG_NAMES:
            value = getattr(self._sf, tag, "")
            if value:
                self.tags[tag] = value
        if os.path.isfile(path):  # not a pipe: it is read once, by libsndfile
            self.comments = read_vorbis_comments(path)

    def _open_array(self, data, samplerate, bits) -> None:
        if samplerate is None:
            raise InputError(f"{self.name}: samplerate= is required for array input")
        arr = _np.asarray(data)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(f"{self.name}: expected a (frames, channels) array, got shape {arr.shape}")
        kind = arr.dtype.kind
        if kind in "iu":
            if bits is None:
                bits = {1: 8, 2: 16}.get(arr.dtype.itemsize, 32 if arr.dtype.itemsize == 4 else 0)
                if not bits:
                    raise InputError(f"{self.name}: give bits= for {arr.dtype} input")
            lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise InputError(f"{self.name}: samples exceed the {bits}-bit range")
            self.format = AudioFormat(int(samplerate), arr.shape[1], "int", int(bits))
            arr = arr.astype(_np.int32)
        elif kind == "f":
            fmt = "float64" if arr.dtype == _np.float64 else "float32"
            self.format = AudioFormat(int(samplerate), arr.shape[1], fmt, 64 if fmt == "float64" else 32)
            arr = arr.astype(fmt)
        else:
            raise InputError(f"{self.name}: unsupported array dtype {arr.dtype}")
        self._array = arr
        self.frames = arr.shape[0]

    # ------------------------------------------------------------------
    def read(self, frames: int, target: AudioFormat) -> _np.ndarray:
        """Next ``frames`` frames converted to ``target``'s sample format (zero-padded past the end)."""
        if self._sf is not None:
            block = self._read_file(frames)
        elif isinstance(self._array, _np.memmap):  # a copy, and the pages read given back (release_pages)
            block = _np.array(self._array[self._pos:self._pos + frames])
            release_pages(self._array, self._pos, self._pos + frames)
        else:
            block = self._array[self._pos:self._pos + frames]
        if block.dtype.kind == "f" and not _np.isfinite(block).all():
            bad = int(_np.argmax(~_np.isfinite(block).all(axis=1)))
            raise InputError(f"{self.name}: NaN or infinite sample near frame {self._pos + bad}")
        if block.dtype.kind == "f" and target.sample_format == "int":
            self._count_clipped(block, target.bits)
        block = _convert(block, self.format, target)
        self._pos += frames
        if len(block) < frames:
            pad = _np.zeros((frames - len(block), block.shape[1]), dtype=block.dtype)
            block = _np.concatenate([block, pad])
        return block

    def _count_clipped(self, block: _np.ndarray, bits: int) -> None:
        """Count the float samples whose rounded value leaves the ``bits``-bit range (``_convert`` clips them)."""
        if not block.size:
            return
        full = float(1 << (bits - 1))
        scaled = _np.round(block.astype(_np.float64) * full)
        self.clipped += int(_np.count_nonzero((scaled < -full) | (scaled > full - 1)))
        self.peak = max(self.peak, float(_np.abs(block).max()))

    def _read_file(self, frames: int) -> _np.ndarray:
        """Next frames in the file's own format."""
        try:
            if self.format.sample_format == "int":
                return self._sf.read(frames, dtype="int32", always_2d=True) >> (32 - self.format.bits)
            return self._sf.read(frames, dtype=self.format.sample_format, always_2d=True)
        except (_sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(f"{self.name}: read error: {exc}") from None

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()


def _convert(block: _np.ndarray, src: AudioFormat, dst: AudioFormat) -> _np.ndarray:
    """Convert samples between formats; integers change bit depth by rounding shifts."""
    if src.sample_format == dst.sample_format and src.bits == dst.bits:
        return block
    if dst.sample_format == "int":
        lo, hi = -(1 << (dst.bits - 1)), (1 << (dst.bits - 1)) - 1
        if src.sample_format == "int":
            x = block.astype(_np.int64)
            shift = src.bits - dst.bits
            if shift > 0:
                x = (x + (1 << (shift - 1))) >> shift
            else:
                x = x << -shift
        else:
            x = _np.round(block.astype(_np.float64) * (1 << (dst.bits - 1)))
        return _np.clip(x, lo, hi).astype(_np.int32)
    scale = float(1 << (src.bits - 1)) if src.sample_format == "int" else 1.0
    return (block.astype(_np.float64) / scale).astype(dst.sample_format)


def to_native(block: _np.ndarray, fmt: AudioFormat) -> _np.ndarray:
    """Float samples (full scale 1.0) to ``fmt``'s native samples, rounding and clipping integers."""
    return _convert(block, AudioFormat(fmt.sample_rate, fmt.channels, "float64", 64), fmt)
