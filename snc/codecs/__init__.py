"""Stream codecs: the registry and the built-in codecs (importing registers them)."""

from .base import Codec
from .registry import available_codecs, get_codec, register_codec
from . import pcm as _pcm  # noqa: F401  (registers "pcm")

try:  # the lossless codec is being built alongside; absent until it lands
    from . import lossless as _lossless  # noqa: F401
except ImportError:  # pragma: no cover
    pass

__all__ = ["Codec", "available_codecs", "get_codec", "register_codec"]
