"""The file's segments as the reader sees them: where each chunk is and where its packets are.

An index of millions of segments costs no memory per segment: :class:`SegmentIndex` locates a segment
(from the seek index, or from the fallback scan's nearest checkpoint) when it is first used and keeps
only a few recent entries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

#: segments cached by the lazy index (their packet tables); sequential reads need one or two
CACHED_ENTRIES = 16


class SegmentIndex(Sequence):
    """The file's segments, located on demand: segment ``i``'s offset is read from the seek index (or
    found from the scan's nearest checkpoint) when first used, and a few recent entries are cached,
    so an index of millions of segments costs no memory per segment."""

    def __init__(self, reader, count: int, locate: Callable[[int], int]):
        """``reader``: what has the file's ``info``; ``locate(i)``: segment ``i``'s chunk offset."""
        self._reader = reader
        self._count = count
        self._locate = locate
        self._cache: OrderedDict[int, SegmentEntry] = OrderedDict()

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        i = int(i) + (self._count if i < 0 else 0)
        if not 0 <= i < self._count:
            raise IndexError(f"segment {i} of {self._count}")
        seg = self._cache.get(i)
        if seg is None:
            info = self._reader.info
            start = i * info.segment_frames
            seg = SegmentEntry(i, start, min(info.segment_frames, info.frames - start), self._locate(i))
            self._cache[i] = seg
            if len(self._cache) > CACHED_ENTRIES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(i)
        return seg


@dataclass
class SegmentEntry:
    """A segment as seen by the reader: where its chunk is and where its packets are."""

    index: int
    start_frame: int
    frames: int
    offset: int  # file offset of the chunk header
    packet_offsets: list[int] | None = None  # absolute file offset of each stream's packet
    packet_sizes: list[int] | None = None
    packet_crcs: list[int] | None = None
