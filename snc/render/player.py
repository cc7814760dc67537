"""A streaming player: blocks of a render, with remix and profile changes ramped (no clicks).

>>> with snc.open("song.snc") as f, f.player(blocksize=1024, profile="night") as player:
...     for block in player:                    # float64 (frames, channels)
...         device.write(block)
...         if user_pressed_karaoke:
...             player.set(profile="karaoke")   # crossfaded over RAMP_MS from the next sample on

A change takes effect at the next block: for :data:`RAMP_MS` both the old and the new render are
computed and crossfaded linearly (a remix is linear in its gains, so this is the same as ramping
every gain).  Layouts work too (``f.player(layout="binaural")``; moving a stem with
``set(layout=..., positions=...)`` is crossfaded the same way, a new binaural renderer being fed
the HRIR's length of the past first); a change of the channel count cannot be.  The true-peak
limiter is shared by both and never reset, so its look-ahead delay stays constant; without a
profile or a loudness target it passes the audio through unchanged (still delayed).
:meth:`Player.seek` jumps sample-exactly (and restarts the processing state, without a ramp).

Real time: decoding and the tile rule's analysis run ahead in a thread (:mod:`snc.render.prefetch`,
a few segments in memory), so a block costs its own remix, shaping and limiting only, and ``set()``
no decoding: a profile's loudness gain comes from the loudness stored at encode (an estimate under
the caller's own remix, a context's tuning or a layout).  Only a file without stored loudness
(archival) makes a ``set()`` that needs a loudness target measure in a first pass, which holds that
block up.  The first block waits for the first segments.  ``close()`` (or ``with``) stops the
thread; it also stops at the end of the file and on an error, which the block that needs the
damaged segment raises.  The thread shares the file's handle: while a player plays, read the file
elsewhere through another ``snc.open`` of it.
"""

from __future__ import annotations

import math
import weakref

import numpy as _np

from ..errors import InputError
from .dynamics import Chain, TruePeakLimiter
from .options import RenderOptions
from .prefetch import SegmentPrefetcher, file_lock
from .request import RenderRequest, finite

#: length of the crossfade of a change (milliseconds)
RAMP_MS = 5.0


class _State:
    """What is rendered now: a render request from some frame on, its remix taken block by block from the
    prepared segments (a placed render through its own spatial renderer), then its EQ/compressor/gain."""

    def __init__(self, f, request: RenderRequest, gain_db: float, prefetch: SegmentPrefetcher, pos: int):
        self.profile = request.profile
        self.spatial = request.spatial
        self.channels = request.channels
        self.chain = (Chain(request.profile, f.samplerate, self.channels, gain_db)
                      if request.profile is not None else None)
        self.gains = f.remix_gains(request.gains or None, request.mute, request.solo)
        self.scale = f.scale
        self.prefetch = prefetch
        self.pos = pos
        self.frames = f.frames

    def take(self, n: int) -> _np.ndarray:
        """The next ``n`` frames (fewer only at the end of the file), through the chain's shaping."""
        stop = min(self.pos + n, self.frames)
        y = _np.concatenate([self._piece(p, a, b) for p, a, b in self.prefetch.pieces(self.pos, stop)] or
                            [_np.zeros((0, self.channels))])
        self.pos = stop
        return self.chain.shape(y) * self.chain.gain if self.chain is not None else y

    def _piece(self, prepared, a: int, b: int) -> _np.ndarray:
        if self.spatial is not None:
            parts = prepared.streams_at(a, b) if self.gains is None else prepared.parts(a, b, self.gains)
            if not parts:
                return _np.zeros((b - a, self.channels))
            return self.spatial.process({i: x / self.scale for i, x in parts.items()})
        if self.gains is None:
            return prepared.mix[a:b]
        parts = prepared.parts(a, b, self.gains)
        out = sum(parts.values()) if parts else _np.zeros((b - a, self.channels))
        return out / self.scale


def _load_kernels() -> None:
    """Load the dynamics kernels now: the first profile with a compressor would otherwise pay for it in
    the block after its set()."""
    from ..kernels.dynamics import compressor_gain_db, hold_release

    level = _np.zeros(1)
    compressor_gain_db(level, 0.0, 1.0, 0.0, 0.5, 0.5, _np.zeros(1))
    hold_release(level, 0.5, _np.zeros(1))


class Player:
    """Blocks of a render of ``f`` (a :class:`snc.render.file.SncFile`) from frame ``start`` on, with the
    settings of :class:`~snc.render.options.RenderOptions` (:attr:`options`); the ``attribution`` is the
    player's for its whole life (its decoding thread prepares for it)."""

    def __init__(self, f, *, blocksize: int = 4096, start: int = 0, attribution: str = "tiles", **settings):
        if not (isinstance(blocksize, int) and blocksize > 0):
            raise InputError(f"blocksize must be a positive integer, got {blocksize!r}")
        #: what set() starts from: every setting at its default but the player's attribution
        self._defaults = RenderOptions(attribution=attribution)
        self.f = f
        self.blocksize = blocksize
        self.attribution = attribution
        self.ramp = max(1, int(round(RAMP_MS * f.samplerate / 1000.0)))
        self.options = self._settings(settings)
        _ = f.streams  # read every segment header now: the decoding thread is then the only reader of the file
        _load_kernels()
        self._prefetch = SegmentPrefetcher(f, self.attribution)
        self._finalizer = weakref.finalize(self, self._prefetch.close)
        self.seek(start)

    # ------------------------------------------------------------------ control
    def set(self, **settings) -> None:
        """Change the render (``profile``, ``context``, ``target_lufs``, ``gains``, ``mute``,
        ``solo``, ``layout``, ``positions``, ``head_yaw_deg``, ``hrtf``; omitted ones are reset);
        crossfaded over :data:`RAMP_MS` from the next block.  A change of the number of output
        channels (another layout) cannot be crossfaded: make a new player."""
        options = self._settings(settings)
        new = self._state_at(options, self.pos, prime=True)
        if new.channels != self._state.channels:
            raise InputError(f"a change from {self._state.channels} to {new.channels} output channels cannot be "
                             "ramped; make a new player")
        self.options = options
        if self._old is None:
            self._old = self._state
        self._state = new
        self._ramp_done = 0

    def seek(self, frame: int) -> None:
        """Continue from ``frame`` (sample-exact); processing state restarts, no ramp."""
        if not isinstance(frame, (int, _np.integer)) or not 0 <= frame <= self.f.frames:
            raise InputError(f"seek position must be 0..{self.f.frames}, got {frame!r}")
        self.pos = int(frame)
        self._state = self._state_at(self.options, self.pos, prime=False)
        self._old = None
        self._ramp_done = 0
        ceiling = self._state.profile.true_peak_dbtp if self._state.profile is not None else math.inf
        self._limiter = TruePeakLimiter(self.f.samplerate, self._state.channels, ceiling)
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
            self._prefetch.close()
            tail = self._limiter.flush()
            return tail if len(tail) else None
        self._prefetch.follow(self.pos)
        y = self._state.take(n)
        if self._old is not None:
            r = _np.clip((_np.arange(n) + self._ramp_done + 1) / self.ramp, 0.0, 1.0)[:, None]
            y = (1.0 - r) * self._old.take(n) + r * y
            self._ramp_done += n
            if self._ramp_done >= self.ramp:
                self._old = None
        self.pos += n
        return self._limiter.process(finite(y))

    def __iter__(self):
        while (block := self.read()) is not None:
            yield block

    def close(self) -> None:
        """Stop the decoding thread (a later read or seek starts it again)."""
        self._prefetch.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ------------------------------------------------------------------ internals
    #: the settings set() takes: all of RenderOptions but the attribution, which is the player's
    KNOWN = frozenset(RenderOptions.names()) - {"attribution"}

    def _known(self, settings: dict) -> dict:
        unknown = set(settings) - self.KNOWN
        if unknown:
            raise InputError(f"unknown render settings {sorted(unknown)} (known: {sorted(self.KNOWN)})")
        return settings

    def _settings(self, settings: dict) -> RenderOptions:
        """The player's defaults with ``settings``: what is not given is reset."""
        return self._defaults.replace(**self._known(settings))

    def _loudness_gain_db(self, req: RenderRequest) -> float:
        """The loudness gain of a state: from the loudness stored at encode (an estimate under the caller's
        own remix, see :meth:`RenderRequest.loudness_gain_db`), else from a measuring pass, which reads the
        file (so under its lock) and holds up this block: files without stored loudness (archival) only."""
        if req.profile is None or req.profile.target_lufs is None:
            return 0.0
        stored = req.stored_loudness(estimate=True)
        if stored is not None:
            return req.profile.target_lufs - stored
        with file_lock(self.f):
            return req.loudness_gain_db()

    def _state_at(self, options: RenderOptions, pos: int, prime: bool) -> _State:
        """A state reading from ``pos``.  ``prime``: a binaural renderer starting mid-stream is first
        fed the HRIR's length of the past, or the crossfade would bring in a render without its tail."""
        req = RenderRequest(self.f, options, start=pos, blocksize=self.blocksize)
        back = 0
        if prime and req.spatial is not None and req.spatial.binaural is not None:
            back = min(req.spatial.binaural.ir.shape[-1], pos)
        gain_db = self._loudness_gain_db(req)
        self._prefetch.follow(pos)
        state = _State(self.f, req, gain_db, self._prefetch, pos - back)
        if back:
            state.take(back)
        return state
