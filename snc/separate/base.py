"""What every separator is: a name, its provenance, and ``separate(chunk) -> stems``.

A separator sees float64 blocks ``(frames, channels)`` scaled to [-1, 1) and returns one
float64 block of the same shape per stem, ``{"vocals": ..., "drums": ..., ...}``.  It
does not need to make the stems sum to the mix: :func:`snc.separate.separate_to_files`
puts whatever the named stems miss into the last stem (``other``), and the encoder's
closed-loop residual keeps the decoded mix exact or transparent whatever the stems are
(spec ``snc-format.md``, "Signal model").  Separation quality changes the size, never
the correctness.

Long input is separated in chunks of :meth:`Separator.chunk_frames` with
:attr:`Separator.context_seconds` of audio before and :attr:`Separator.context_after_seconds`
after that are analysed but not kept, so memory stays bounded for hour-long files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as _np

#: the four roles of the built-in separators, in the order they are stored
STEM_NAMES = ("vocals", "drums", "bass", "other")

ProgressCallback = Callable[[dict], None]


class Separator:
    """Base class: subclasses set :attr:`name` and implement :meth:`separate`."""

    #: the ``--separator`` name
    name = ""
    #: audio kept from one call (seconds): bounds memory
    chunk_seconds = 30.0
    #: audio analysed before the kept part (seconds): the separator's reach into the past
    context_seconds = 1.0
    #: audio analysed after it (seconds); None: as much as before
    context_after_seconds: float | None = None
    #: stem names in storage order; the last one takes what the others miss
    stem_names: tuple[str, ...] = STEM_NAMES

    def frame_alignment(self, samplerate: int) -> int:
        """Chunks start on multiples of this many frames (a frame-based separator returns its hop,
        so a chunk sees the same analysis grid as the whole file would)."""
        return 1

    def chunk_frames(self, samplerate: int) -> int:
        """Frames kept from one call (a separator whose memory grows with samples returns a fixed count)."""
        return max(int(self.chunk_seconds * samplerate), 1)

    def provenance(self) -> dict:
        """What to store in each separated stream's ``provenance_detail`` (spec snc-format.md 9.5,
        string values): at least ``separator`` and ``separator_version``; a learned model adds
        ``model``, ``weights_sha256`` and ``sources``."""
        raise NotImplementedError

    def separate(self, block: _np.ndarray, samplerate: int) -> dict[str, _np.ndarray]:
        """Stems of ``block`` (float64, frames x channels, full scale 1.0), same shape each."""
        raise NotImplementedError
