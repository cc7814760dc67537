"""What an encode did (:class:`EncodeReport`) and how it reports progress while working (:data:`ProgressCallback`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

ProgressCallback = Callable[[dict], None]
"""Called with ``{"stage": str, "frames_done": int, "frames_total": int}`` as the work advances, stage by stage
in this order: ``"separate"`` (without stems; per chunk, also ``"separator"``), ``"measure"`` (perceptual
presets: a pass for the stems' loudness), ``"bitrate search"`` (with ``bitrate=``: the frames count the search
steps; also ``step``, ``steps``, ``offset_db``, ``kbps``) and ``"encode"`` (after every segment).  Within a
stage ``frames_done`` grows to ``frames_total``; snc-encode's progress bars are drawn from these events."""


@dataclass
class EncodeReport:
    """What :func:`snc.encode` did: sizes, timings and, with ``verify=True``, the verification result."""

    path: str | None
    file_bytes: int
    frames: int
    sample_rate: int
    channels: int
    preset: str
    streams: list[dict] = field(default_factory=list)  # name, role, codec, bytes
    encode_seconds: float = 0.0
    #: the separator that made the stems (None: user stems or none), how ``auto`` chose, its time
    separator: str | None = None
    separator_note: str = ""
    separate_seconds: float = 0.0
    verified: bool | None = None
    verify_details: dict | None = None

    @property
    def realtime_factor(self) -> float:
        return (self.frames / self.sample_rate) / self.encode_seconds if self.encode_seconds else math.inf
