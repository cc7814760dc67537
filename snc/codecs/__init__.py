"""Stream codecs: the registry and the built-in codecs (importing registers them)."""

from . import floating as _floating  # noqa: F401  (registers "float")
from . import lossless as _lossless  # noqa: F401  (registers "lossless")
from . import pcm as _pcm  # noqa: F401  (registers "pcm")
from . import perceptual as _perceptual  # noqa: F401  (registers "perceptual")
from .base import Codec
from .registry import available_codecs, get_codec, register_codec

__all__ = ["Codec", "available_codecs", "get_codec", "register_codec"]
