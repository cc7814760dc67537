"""A streaming player: blocks of a render, with remix and profile changes ramped (no clicks).

>>> with snc.open("song.snc") as f:
...     player = f.player(blocksize=4096, profile="night")
...     for block in player:                    # float64 (frames, channels)
...         device.write(block)
...         if user_pressed_karaoke:
...             player.set(profile="karaoke")   # crossfaded over RAMP_MS from the next sample on

A change takes effect at the next block: for :data:`RAMP_MS` both the old and the new render are
computed and crossfaded linearly (a remix is linear in its gains, so this is the same as ramping
every gain).  Layouts work too (``f.player(layout="binaural")``; moving a stem with
``set(layout=..., positions=...)`` is crossfaded the same way, a new binaural renderer being fed
the HRIR's length of the past first); a change of the channel count cannot be.  The true-peak limiter is shared by both and never reset, so its look-ahead delay
stays constant; without a profile or a loudness target it passes the audio through unchanged
(still delayed).  Memory is bounded by a few decoded segments.  :meth:`Player.seek` jumps
sample-exactly (and restarts the processing state, without a ramp).
"""

from __future__ import annotations

import math

import numpy as _np

from ..errors import InputError
from .dynamics import TruePeakLimiter
from .renderer import _Chain, _Request

#: length of the crossfade of a change (milliseconds)
RAMP_MS = 5.0


class _State:
    """What is rendered now: the stream gains of the remix (None: the exact mix) and the chain."""

    def __init__(self, f, request: _Request, gain_db: float):
        self.gains = f.remix_gains(request.gains, request.mute, request.solo) \
            if (request.gains or request.mute or request.solo) else None
        self.profile = request.profile
        self.spatial = request.spatial
        self.channels = request.channels
        self.chain = _Chain(request.profile, f.samplerate, self.channels, gain_db) if request.profile is not None else None
        self.cache: dict[int, object] = {}


class Player:
    def __init__(self, f, *, blocksize: int = 4096, start: int = 0, attribution: str = "tiles", **render):
        if not (isinstance(blocksize, int) and blocksize > 0):
            raise InputError(f"blocksize must be a positive integer, got {blocksize!r}")
        self.f = f
        self.blocksize = blocksize
        self.attribution = attribution
        self.ramp = max(1, int(round(RAMP_MS * f.samplerate / 1000.0)))
        self._render = {}
        self._state = self._make_state(render)
        self._old: _State | None = None
        self._ramp_done = 0
        self._limiter = self._new_limiter()
        self._flushed = False
        self.seek(start)

    # ------------------------------------------------------------------ control
    def set(self, **render) -> None:
        """Change the render (``profile``, ``context``, ``target_lufs``, ``gains``, ``mute``,
        ``solo``, ``layout``, ``positions``, ``head_yaw_deg``, ``hrtf``; omitted ones are reset);
        crossfaded over :data:`RAMP_MS` from the next block.  A change of the number of output
        channels (another layout) cannot be crossfaded: :meth:`seek` after it."""
        new = self._make_state(render)
        if new.channels != self._state.channels:
            self._render = self._state_render
            raise InputError(f"a change from {self._state.channels} to {new.channels} output channels cannot be "
                             "ramped; make a new player (or set it and seek)")
        self._prime(new)
        if self._old is None:
            self._old = self._state
        self._state = new
        self._ramp_done = 0

    def seek(self, frame: int) -> None:
        """Continue from ``frame`` (sample-exact); processing state restarts, no ramp."""
        if not isinstance(frame, (int, _np.integer)) or not 0 <= frame <= self.f.frames:
            raise InputError(f"seek position must be 0..{self.f.frames}, got {frame!r}")
        self.pos = int(frame)
        self._state = self._make_state(self._render)
        self._old = None
        self._limiter = self._new_limiter()
        self._flushed = False

    # ------------------------------------------------------------------ output
    def read(self) -> _np.ndarray | None:
        """The next block (up to ``blocksize`` frames; the first is shorter by the limiter's
        look-ahead, which the last call returns), or None at the end."""
        n = min(self.blocksize, self.f.frames - self.pos)
        if n <= 0:
            if self._flushed:
                return None
            self._flushed = True
            tail = self._limiter.flush()
            return tail if len(tail) else None
        y = self._through(self._state, self.pos, n)
        if self._old is not None:
            r = _np.clip((_np.arange(n) + self._ramp_done + 1) / self.ramp, 0.0, 1.0)[:, None]
            y = (1.0 - r) * self._through(self._old, self.pos, n) + r * y
            self._ramp_done += n
            if self._ramp_done >= self.ramp:
                self._old = None
        self.pos += n
        return self._limiter.process(y)

    def __iter__(self):
        while (block := self.read()) is not None:
            yield block

    # ------------------------------------------------------------------ internals
    def _make_state(self, render: dict) -> _State:
        known = {"profile", "context", "target_lufs", "gains", "mute", "solo", "layout", "positions", "head_yaw_deg",
                 "hrtf"}
        unknown = set(render) - known
        if unknown:
            raise InputError(f"unknown render settings {sorted(unknown)} (known: {sorted(known)})")
        args = {k: render.get(k) for k in ("profile", "context", "target_lufs", "gains")}
        request = _Request(self.f, args["profile"], args["context"], args["target_lufs"], args["gains"],
                           render.get("mute", ()), render.get("solo", ()), 0, None, 65536, self.attribution,
                           render.get("layout"), render.get("positions"), render.get("head_yaw_deg", 0.0),
                           render.get("hrtf"))
        self._state_render = getattr(self, "_render", {})
        self._render = dict(render)
        gain_db = request.loudness_gain_db() if request.profile is not None else 0.0
        return _State(self.f, request, gain_db)

    def _new_limiter(self) -> TruePeakLimiter:
        ceiling = self._state.profile.true_peak_dbtp if self._state.profile is not None else math.inf
        return TruePeakLimiter(self.f.samplerate, self._state.channels, ceiling)

    def _prime(self, state: _State) -> None:
        """A binaural renderer starting mid-stream needs the HRIR's length of the past, or the
        crossfade would bring in a render without its reverberant tail."""
        if state.spatial is None or state.spatial.binaural is None:
            return
        taps = state.spatial.binaural.ir.shape[-1]
        back = min(taps, self.pos)
        if back:
            self._remix(state, self.pos - back, back)

    def _remix(self, state: _State, start: int, n: int) -> _np.ndarray:
        """The remix (or, with a layout, the placed streams) of frames ``[start, start + n)``; a
        spatial renderer keeps state, so it must be called on consecutive spans."""
        f = self.f
        seg_frames = f.info.segment_frames
        parts, pos = [], start
        while pos < start + n:
            index = pos // seg_frames
            seg = f._reader.segments[index]
            if index not in state.cache:
                if len(state.cache) >= 2:
                    state.cache.pop(next(iter(state.cache)))
                state.cache[index] = f._segment_output(seg, None, state.gains, "float64", self.attribution) \
                    if state.spatial is None else f.remix_parts(seg, state.gains, self.attribution)
            end = min(start + n, seg.start_frame + seg.frames)
            cut = slice(pos - seg.start_frame, end - seg.start_frame)
            cached = state.cache[index]
            if state.spatial is None:
                parts.append(cached[cut])
            elif cached:
                parts.append(state.spatial.process({i: x[cut] / f._scale() for i, x in cached.items()}))
            else:
                parts.append(_np.zeros((end - pos, state.channels)))
            pos = end
        return _np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _through(self, state: _State, start: int, n: int) -> _np.ndarray:
        y = self._remix(state, start, n)
        return state.chain.shape(y) * state.chain.gain if state.chain is not None else y
