"""Stream codecs: the registry and the built-in codecs.

The built-in codecs are registered by id here; each module (and its numba
kernels) is imported on the first :func:`get_codec` of its id.
"""

from .base import Codec
from .registry import available_codecs, codec_class, get_codec, register_codec, register_lazy

register_lazy("float", f"{__name__}.floating")
register_lazy("gain", f"{__name__}.gain")
register_lazy("lossless", f"{__name__}.lossless")
register_lazy("pcm", f"{__name__}.pcm")
register_lazy("perceptual", f"{__name__}.perceptual")

__all__ = ["Codec", "available_codecs", "codec_class", "get_codec", "register_codec", "register_lazy"]
