"""The decode layer: an open ``.snc`` file's exact mix and streams, whole or in blocks.

:mod:`.file` (:class:`Decoder`: properties, reads, checks by hashes), :mod:`.packets` (each stream's
packets decoded, damage concealed), :mod:`.blocks` (frame ranges, segment cuts, blocks of any size).
Nothing here knows of remixes or renders (:mod:`snc.render` builds them on the seams of
:class:`Decoder`).
"""

from .file import Decoder

__all__ = ["Decoder"]
