"""Audio for the web player: spans of a stem, the mix, the residual or a render, as WAV bytes streamed block by
block (or FLAC / Opus for a whole span), and waveform overviews.

Only the packets of the span are decoded (:meth:`snc.SncFile.blocks` and ``render_blocks`` read the segments
they need).  WAV is streamed with its length known up front, so a browser sees a normal file; FLAC and Opus
are written whole through soundfile (a span is at most :data:`MAX_SPAN_SECONDS`).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as _np

from ..errors import InputError

MAX_SPAN_SECONDS = 60.0
MAX_PEAKS_WIDTH = 4096
BLOCK_FRAMES = 16384
FORMATS = {"wav": "audio/wav", "flac": "audio/flac", "opus": "audio/ogg"}


@dataclass
class AudioRequest:
    """A checked ``/audio`` query: what to play (``stem``: a stem, ``mix`` or ``residual``; or a render with
    ``profile``, ``layout``, ``gains``, ``mute``, ``solo``), from ``start`` for ``duration`` seconds."""

    stem: str | None = None
    start: float = 0.0
    duration: float = 10.0
    fmt: str = "wav"
    profile: str | None = None
    layout: str | None = None
    gains: dict = field(default_factory=dict)
    mute: tuple = ()
    solo: tuple = ()

    @property
    def is_render(self) -> bool:
        return self.stem is None

    def render_options(self) -> dict:
        out = {"gains": self.gains or None, "mute": self.mute, "solo": self.solo}
        if self.profile:
            out["profile"] = self.profile
        if self.layout:
            out["layout"] = self.layout
        return out


def parse_request(query) -> AudioRequest:
    """An :class:`AudioRequest` from a query (a multi-dict: ``getlist`` for repeated keys); bad values are
    InputErrors naming the parameter."""
    def number(name: str, default: float) -> float:
        text = query.get(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{name}: not a number: {text[:20]!r}") from None
        if not _np.isfinite(value) or value < 0:
            raise InputError(f"{name}: must be a finite number >= 0")
        return value

    req = AudioRequest(stem=query.get("stem") or None, start=number("start", 0.0),
                       duration=number("duration", 10.0), fmt=query.get("format", "wav"),
                       profile=query.get("profile") or None, layout=query.get("layout") or None,
                       mute=tuple(query.getlist("mute")), solo=tuple(query.getlist("solo")))
    if req.fmt not in FORMATS:
        raise InputError(f"format: one of {', '.join(FORMATS)}")
    if not 0 < req.duration <= MAX_SPAN_SECONDS:
        raise InputError(f"duration: more than 0 and at most {MAX_SPAN_SECONDS:g} seconds")
    if req.layout not in (None, "binaural", "stereo"):
        raise InputError("layout: binaural or stereo")
    if req.layout == "stereo":
        req.layout = None
    for item in query.getlist("gain"):
        name, sep, db = item.rpartition(":")
        try:
            req.gains[name] = float(db)
        except ValueError:
            raise InputError(f"gain: NAME:DB, got {item[:40]!r}") from None
        if not sep or not name or not -120 <= req.gains[name] <= 40:
            raise InputError(f"gain: NAME:DB with DB in -120..40, got {item[:40]!r}")
    if not req.is_render and (req.profile or req.layout or req.gains or req.mute or req.solo):
        raise InputError("stem= plays one stream as it is; profile, layout, gain, mute and solo are for renders")
    return req


def span(f, req: AudioRequest) -> tuple[int, int]:
    """``(start frame, frames)`` of the request in ``f`` (clamped to the song; a start past its end is an error)."""
    start = int(round(req.start * f.samplerate))
    if start >= f.frames:
        raise InputError(f"start: past the end of the song ({f.frames / f.samplerate:.2f} s)")
    return start, min(int(round(req.duration * f.samplerate)), f.frames - start)


def blocks(f, req: AudioRequest) -> Iterator[_np.ndarray]:
    """Float blocks (full scale 1.0) of the request's span."""
    start, frames = span(f, req)
    if req.is_render:
        return f.render_blocks(BLOCK_FRAMES, start=start, frames=frames, **req.render_options())
    stem = None if req.stem == "mix" else req.stem
    if stem is not None and stem not in f.stems and stem != "residual":
        raise InputError(f"stem: no {stem!r} in this song (stems: {', '.join(f.stems)}, mix, residual)")
    return f.blocks(BLOCK_FRAMES, start=start, frames=frames, stem=stem, played=stem not in (None, "residual"))


def output_channels(f, req: AudioRequest) -> int:
    return 2 if req.layout == "binaural" else f.channels


def wav_header(frames: int, channels: int, rate: int) -> bytes:
    """A 16-bit PCM WAV header for ``frames`` frames (RIFF/WAVE, ``fmt `` and ``data`` chunks)."""
    data = frames * channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " +
            struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16) +
            b"data" + struct.pack("<I", data))


def pcm16(block: _np.ndarray) -> bytes:
    return (_np.clip(_np.rint(block * 32768.0), -32768, 32767).astype("<i2")).tobytes()


def wav_stream(f, req: AudioRequest) -> tuple[int, Iterator[bytes]]:
    """``(byte length, chunks)`` of the request as a 16-bit WAV; the blocks are decoded as the chunks are read."""
    start, frames = span(f, req)
    channels = output_channels(f, req)
    source = blocks(f, req)  # checked now: a bad request fails before the response starts

    def chunks():
        yield wav_header(frames, channels, f.samplerate)
        for block in source:
            yield pcm16(block)

    return 44 + frames * channels * 2, chunks()


def encoded(f, req: AudioRequest) -> bytes:
    """The request's span as one FLAC or Opus (Ogg) file."""
    import soundfile as sf

    x = _np.concatenate(list(blocks(f, req)) or [_np.zeros((0, output_channels(f, req)))])
    buf = io.BytesIO()
    if req.fmt == "flac":
        sf.write(buf, x, f.samplerate, format="FLAC", subtype="PCM_16")
    else:
        rate = 48000 if f.samplerate % 8000 else f.samplerate  # Opus runs at 8/12/16/24/48 kHz
        if rate != f.samplerate:
            from scipy.signal import resample_poly

            x = resample_poly(x, rate, f.samplerate, axis=0)
        sf.write(buf, x, rate, format="OGG", subtype="OPUS")
    return buf.getvalue()


def peaks(f, stem: str | None, width: int) -> dict:
    """``{"width", "min", "max"}``: the waveform in ``width`` columns, each the lowest and highest sample of its
    stretch (every channel), full scale 1.0; one pass over the stream."""
    if not 1 <= width <= MAX_PEAKS_WIDTH:
        raise InputError(f"width: 1..{MAX_PEAKS_WIDTH}")
    name = None if stem in (None, "mix") else stem
    if name is not None and name not in f.stems and name != "residual":
        raise InputError(f"stem: no {name!r} in this song")
    edges = _np.linspace(0, f.frames, width + 1).astype(_np.int64)
    lo, hi = _np.zeros(width), _np.zeros(width)
    at = 0
    for block in f.blocks(1 << 18, stem=name, played=name not in (None, "residual"), dtype="float32"):
        n = len(block)
        if n:
            cols = _np.clip(_np.searchsorted(edges, _np.arange(at, at + n), side="right") - 1, 0, width - 1)
            first = _np.flatnonzero(_np.diff(cols, prepend=-1))  # columns are in order: reduce each run
            where = cols[first]
            lo[where] = _np.minimum(lo[where], _np.minimum.reduceat(block.min(axis=1), first))
            hi[where] = _np.maximum(hi[where], _np.maximum.reduceat(block.max(axis=1), first))
        at += n
    return {"width": width, "min": _np.round(lo, 4).tolist(), "max": _np.round(hi, 4).tolist()}
