"""The file a user opens: :class:`SncFile`, a :class:`snc.decode.Decoder` that also remixes and renders.

``snc.open`` returns one.  The decode layer reads what the file stores (the exact mix, one stream);
this class adds what depends on a listener, all from :mod:`snc.render`: ``read``/``blocks`` with a
remix (``gains``, ``mute``, ``solo``, :mod:`.remix`), :meth:`SncFile.render` and
:meth:`SncFile.render_blocks` (:mod:`.renderer`), :meth:`SncFile.player` (:mod:`.player`) and the
profiles the file offers (:mod:`.profiles`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as _np

from ..decode import Decoder
from ..decode.blocks import check_blocksize, check_dtype, frame_range, rechunk
from ..errors import InputError
from . import remix as _remix


class SncFile(Decoder):
    """An open ``.snc`` file.

    >>> with snc.open("song.snc") as f:
    ...     mix = f.read()                         # float64, (frames, channels)
    ...     exact = f.read(dtype="native")         # the exact integer samples
    ...     vocals = f.read(stem="vocals")
    ...     karaoke = f.read(mute=["vocals"])
    ...     night = f.render(profile="night")

    Damaged packets are concealed by default (see :class:`snc.decode.Decoder`); ``strict=True``
    raises instead.
    """

    # ------------------------------------------------------------------ remix
    def remix_gains(self, gains: Mapping[str, float] | None = None, mute=(), solo=()) -> dict[int, float] | None:
        """Linear gain per stream index for a remix, or ``None`` for the exact mix
        (:func:`snc.render.remix.remix_gains`)."""
        return _remix.remix_gains(self, gains, mute, solo)

    def remix_parts(self, seg, gains: dict[int, float] | None, attribution: str = "tiles") -> dict[int, _np.ndarray]:
        """The gained streams of one segment before they are summed (:func:`snc.render.remix.remix_parts`)."""
        return _remix.remix_parts(self, seg, gains, attribution)

    def blocks(self, blocksize: int | None = None, *, start: int = 0, frames: int | None = None,
               stem: str | None = None, gains: Mapping[str, float] | None = None, mute=(), solo=(),
               dtype: str = "float64", attribution: str = "tiles", played: bool = False) -> Iterator[_np.ndarray]:
        """Yield the selected signal in blocks of ``blocksize`` frames (the last may be shorter).

        Only the packets of the needed streams and segments are read (a remix with the ``tiles``
        attribution reads every stem: the residual follows their power).  Memory stays bounded by
        a few segments plus one block.
        """
        remix = self._remix_selection(start, frames, stem, gains, mute, solo, dtype, attribution)
        if remix is None:
            return super().blocks(blocksize, start=start, frames=frames, stem=stem, dtype=dtype, played=played)
        first, stop, linear = remix
        blocksize = check_blocksize(blocksize or self.info.segment_frames)
        return rechunk(self._remix_pieces(first, stop, linear, dtype, attribution), blocksize)

    def read(self, frames: int | None = None, *, start: int = 0, stem: str | None = None,
             gains: Mapping[str, float] | None = None, mute=(), solo=(), dtype: str = "float64",
             attribution: str = "tiles", played: bool = False) -> _np.ndarray:
        """Read ``frames`` frames (all by default) from ``start``: the mix, one ``stem``, or a remix.

        ``played``: a ``stem`` as it plays in the mix, through a master stream's gain
        (:meth:`snc.decode.Decoder.read`); default: as stored.

        ``dtype``: ``"float64"``/``"float32"`` scaled to [-1, 1), or ``"native"`` -- the exact stored
        samples (int32 holding the file's integer values, or floats for float files).
        ``attribution``: how the residual follows a remix (spec section 19): ``"tiles"`` (per
        time-frequency tile by the stems' power there, at most the global gain; default),
        ``"share"`` (the tile share alone) or ``"global"`` (one gain, by the stems' mean square
        over the file).
        """
        remix = self._remix_selection(start, frames, stem, gains, mute, solo, dtype, attribution)
        if remix is None:
            return super().read(frames, start=start, stem=stem, dtype=dtype, played=played)
        first, stop, linear = remix
        return self.joined(self._remix_pieces(first, stop, linear, dtype, attribution), stop - first, dtype)

    def _remix_selection(self, start, frames, stem, gains, mute, solo, dtype, attribution):
        """``(start, stop, linear gains)`` of a remix, or None when the request is the exact mix or one
        stem (then the decode layer reads it)."""
        check_dtype(dtype)
        _remix.check_attribution(attribution)
        first, stop = frame_range(start, frames, self.frames)
        if stem is not None:
            if gains or mute or solo:
                raise InputError("give either stem= or a remix (gains/mute/solo), not both")
            return None
        linear = self.remix_gains(gains, mute, solo)
        if linear is None:
            return None
        if dtype == "native":
            raise InputError("a remix is float; dtype='native' is only for the exact mix or one stem")
        return first, stop, linear

    def _remix_pieces(self, start: int, stop: int, linear: dict[int, float], dtype: str, attribution: str):
        return self.segment_pieces(lambda seg: _remix.remixed_segment(self, seg, linear, attribution, dtype),
                                   start, stop)

    # ------------------------------------------------------------------ rendering
    def render(self, **options) -> _np.ndarray:
        """A render for a listener: ``profile`` (name or :class:`snc.render.profiles.Profile`) or
        ``context`` (``{"ambient_db": 70, "device": "phone"}``), ``target_lufs``, plus any remix
        (``gains``, ``mute``, ``solo``), ``start``/``frames``.  See :mod:`snc.render.renderer`."""
        from .renderer import render

        return render(self, **options)

    def render_blocks(self, blocksize: int = 65536, **options) -> Iterator[_np.ndarray]:
        """:meth:`render` as a stream of blocks (memory bounded by a few segments)."""
        from .renderer import render_blocks

        return render_blocks(self, blocksize=blocksize, **options)

    def player(self, blocksize: int = 4096, **options):
        """A :class:`snc.render.player.Player`: blocks of a render whose settings can change while it
        plays (``player.set(profile="karaoke")``), ramped without clicks, with sample-exact seek."""
        from .player import Player

        return Player(self, blocksize=blocksize, **options)

    @property
    def profiles(self) -> list[str]:
        """Profile names this file offers: its authored ones, then the built-ins."""
        from .profiles import BUILTIN, authored_profiles

        return [*authored_profiles(self), *BUILTIN]


def open(source, *, strict: bool = False) -> SncFile:  # noqa: A001 - mirrors soundfile/builtins naming on purpose
    """Open a ``.snc`` file (path, PathLike or seekable binary file object).  ``strict``: raise on a
    damaged packet instead of concealing it (see :class:`snc.decode.Decoder`)."""
    return SncFile(source, strict=strict)
