"""Decode-ahead for the player: segments decoded and analysed off the audio path, remixed a block at a time.

A remix is linear in its gains, and the tile rule's work that does not depend on them (decoding every
stream, the STFT of the residual and the stems' power per tile) is the expensive part.  So a background
thread prepares the segments around the playing position once -- the one playing, the next one, the one
before (a binaural renderer is primed from the past) -- and a block of any remix is then a few gains, sums
and the inverse transform of the STFT frames under the block (:meth:`snc.render.attribution.Tiles.residual`):
a player's ``set()`` costs no decoding.  Results equal :func:`snc.render.remix.remix_parts` of the same
segment.

The thread reads the file under a lock per :class:`SncFile` (:func:`file_lock`), which the player also holds
for any read of its own; it is stopped by :meth:`SegmentPrefetcher.close` (and when its owner is collected)
and restarted by the next request.  An error while preparing (a corrupt packet) is raised by the request
that needs that segment.
"""

from __future__ import annotations

import threading
import weakref

import numpy as _np

from ..signal.mixing import exact_mix
from .attribution import Tiles, frame_size

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def file_lock(f) -> threading.RLock:
    """The lock that serialises reads of one open file between the player and its thread."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(f)
        if lock is None:
            lock = _LOCKS[f] = threading.RLock()
        return lock


#: how much nicer than the audio side the thread runs: sharing a core, the audio side gets it first
NICENESS = 10


def _lower_priority() -> None:
    """Lower this thread's scheduling priority, where the system allows it per thread (Linux)."""
    import os

    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + NICENESS, 19))
    except (AttributeError, OSError):
        pass


class PreparedSegment:
    """One segment ready for any remix: every stream over the segment plus the tile rule's context on either
    side (float64, native units), the exact mix, and the residual's tiles."""

    def __init__(self, f, index: int, span: list[_np.ndarray], left: int, mix: _np.ndarray,
                 attribution: str):
        seg = f.segments[index]
        self.index, self.start, self.frames, self.left = index, seg.start_frame, seg.frames, left
        self.streams = span
        self.mix = mix
        self.residual_index = f.residual_index
        self.stem_ids = [i for i in range(len(span)) if i != self.residual_index]
        self.attribution = attribution
        self.tiles = None
        if attribution != "global":
            self.tiles = Tiles([span[i] for i in self.stem_ids], span[self.residual_index], f.samplerate)

    def parts(self, a: int, b: int, gains: dict[int, float]) -> dict[int, _np.ndarray]:
        """The gained streams over frames ``[a, b)`` of the segment, as :func:`snc.render.remix.remix_parts`."""
        keep = slice(self.left + a, self.left + b)
        if self.attribution == "global":
            return {i: g * self.streams[i][keep] for i, g in gains.items() if g != 0.0}
        res = self.residual_index
        parts = {i: gains[i] * self.streams[i][keep] for i in self.stem_ids if gains[i] != 0.0}
        parts[res] = self.tiles.residual(keep.start, keep.stop, [gains[i] for i in self.stem_ids], gains[res],
                                         ceiling=self.attribution == "tiles")
        return parts

    def streams_at(self, a: int, b: int) -> dict[int, _np.ndarray]:
        """Every stream over frames ``[a, b)``, ungained (a spatial render of the plain mix)."""
        return {i: s[self.left + a: self.left + b] for i, s in enumerate(self.streams)}


class SegmentPrefetcher:
    """Prepares segments around :meth:`follow`'s position in a thread; :meth:`get` waits for one."""

    #: segments prepared after the playing one: the next one is ready long before it is needed (preparing
    #: a segment takes a small fraction of its duration), and each one held costs memory
    AHEAD = 1

    def __init__(self, f, attribution: str):
        self.f = f
        self.attribution = attribution
        self.count = len(f.segments)
        self.pad = frame_size(f.samplerate) if attribution != "global" else 0
        self._scale = f.scale
        self._lock = file_lock(f)
        self._cond = threading.Condition()
        self._ready: dict[int, PreparedSegment] = {}
        self._raw: dict[int, list] = {}
        self._want = 0
        self._stale = False
        self._pinned: set[int] = set()
        self._error: BaseException | None = None
        self._stop = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the audio side
    def follow(self, frame: int) -> None:
        """Prepare around ``frame`` from now on (and drop what is far from it)."""
        want = min(frame // self.f.info.segment_frames, max(self.count - 1, 0))
        with self._cond:
            if want != self._want:
                self._want = want
                self._error = None  # elsewhere in the file: try again (a damage may lie behind)
                self._stale = True  # the thread drops what is far now: freeing memory is no audio work
                self._cond.notify_all()
        self._start()

    def get(self, index: int) -> PreparedSegment:
        with self._cond:
            if index not in self._ready and index not in self._order():
                self._pinned.add(index)
                self._cond.notify_all()
            if self._error is None:
                self._start()
            try:
                while index not in self._ready and self._error is None:
                    self._cond.wait()
                error, prepared, thread = self._error, self._ready.get(index), self._thread
            finally:
                self._pinned.discard(index)
        if prepared is not None:
            return prepared
        if thread is not None:
            thread.join()  # it stops at the error
        raise error

    def pieces(self, start: int, stop: int):
        """``(prepared segment, a, b)`` covering file frames ``[start, stop)`` in order."""
        seg_frames = self.f.info.segment_frames
        pos = start
        while pos < stop:
            prepared = self.get(pos // seg_frames)
            end = min(stop, prepared.start + prepared.frames)
            yield prepared, pos - prepared.start, end - prepared.start
            pos = end

    def close(self) -> None:
        """Stop the thread (it finishes the segment it is preparing first)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._thread = None
            self._stop = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ the thread
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="snc-player-decode", daemon=True)
            self._thread.start()

    def _order(self) -> list[int]:
        w = self._want
        wanted = [*sorted(self._pinned), w, w + 1, w - 1, *range(w + 2, w + self.AHEAD + 1)]
        return [i for i in dict.fromkeys(wanted) if 0 <= i < self.count]

    def _evict(self) -> list:
        """Forget the segments far from the position; returns them (to be freed by the caller)."""
        keep = set(self._order())
        lo, hi = min(keep, default=0), max(keep, default=0)
        dropped = [self._ready.pop(i) for i in [i for i in self._ready if i not in keep]]
        dropped += [self._raw.pop(i) for i in [i for i in self._raw if not lo - 1 <= i <= hi + 1]]
        return dropped

    def _run(self) -> None:
        _lower_priority()
        while True:
            with self._cond:
                while True:
                    if self._stale:
                        dropped = self._evict()
                        self._stale = False
                        self._cond.release()  # the arrays are freed here, without holding up get()
                        del dropped
                        self._cond.acquire()
                        continue
                    if self._stop or self._error is not None or (target := self._next()) is not None:
                        break
                    self._cond.wait()
                if self._stop or self._error is not None:
                    return
            try:
                prepared = self._prepare(target)
            except BaseException as exc:  # raised by the get() that needs it
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                if target in self._order():
                    self._ready[target] = prepared
                self._stale = True
                self._cond.notify_all()

    def _next(self) -> int | None:
        return next((i for i in self._order() if i not in self._ready), None)

    def _decoded(self, index: int) -> list:
        with self._cond:
            raw = self._raw.get(index)
        if raw is None:
            seg = self.f.segments[index]
            raw = []
            for i in range(len(self.f.stream_infos)):
                with self._lock:  # stream by stream: a reader on the audio side waits for one packet at most
                    raw.append(self.f.decode_packet(seg, i))
            with self._cond:
                self._raw[index] = raw
        return raw

    def _prepare(self, index: int) -> PreparedSegment:
        f = self.f
        seg = f.segments[index]
        seg_frames = f.info.segment_frames
        begin, end = max(seg.start_frame - self.pad, 0), min(seg.start_frame + seg.frames + self.pad, f.frames)
        pieces = []
        for k in range(begin // seg_frames, (end - 1) // seg_frames + 1 if end > begin else begin // seg_frames):
            s = f.segments[k]
            a, b = max(begin, s.start_frame), min(end, s.start_frame + s.frames)
            pieces.append([x[a - s.start_frame: b - s.start_frame] for x in self._decoded(k)])
        count = len(f.stream_infos)
        span = [_np.concatenate([p[i] for p in pieces]).astype(_np.float64) if pieces
                else _np.zeros((0, f.channels)) for i in range(count)]
        own = self._decoded(index)
        mix = exact_mix(own, f.info.sample_format, f.info.bits).astype(_np.float64) / self._scale
        return PreparedSegment(f, index, span, seg.start_frame - begin, mix, self.attribution)
