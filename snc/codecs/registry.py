"""Codec registry: ``codec_id`` -> codec class (after numcodecs' ``registry.py``).

Built-in codecs are registered by id and module name only; the module -- and
with it the codec's numba kernels -- is imported by the first :func:`get_codec`
of that id, so reading a container or ``import snc`` never loads numba.
"""

from __future__ import annotations

from importlib import import_module

from ..errors import UnsupportedError
from .base import Codec

_REGISTRY: dict[str, type[Codec]] = {}
#: codec id -> module whose import registers it (see :func:`register_lazy`)
_LAZY: dict[str, str] = {}


def _check_id(codec_id: str) -> None:
    if not codec_id or not codec_id.isascii() or len(codec_id) > 32:
        raise ValueError(f"codec id must be 1..32 ASCII characters, got {codec_id!r}")


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Register ``cls`` under ``cls.codec_id`` (usable as a class decorator)."""
    _check_id(cls.codec_id)
    _REGISTRY[cls.codec_id] = cls
    return cls


def register_lazy(codec_id: str, module: str) -> None:
    """Make ``codec_id`` known now and import ``module`` (which must register it) on first use."""
    _check_id(codec_id)
    _LAZY[codec_id] = module


def codec_class(codec_id: str) -> type[Codec]:
    """The class registered as ``codec_id``, importing its module if it was registered lazily."""
    if codec_id not in _REGISTRY and codec_id in _LAZY:
        import_module(_LAZY[codec_id])
        if codec_id not in _REGISTRY:
            raise RuntimeError(f"module {_LAZY[codec_id]} did not register codec {codec_id!r}")
    try:
        return _REGISTRY[codec_id]
    except KeyError:
        known = ", ".join(available_codecs()) or "none"
        raise UnsupportedError(f"unknown codec {codec_id!r} (this version knows: {known})") from None


def get_codec(codec_id: str, config: dict) -> Codec:
    """Instantiate the codec ``codec_id`` from its stored ``config``."""
    cls = codec_class(codec_id)
    if not isinstance(config, dict):
        raise UnsupportedError(f"codec {codec_id!r}: config must be a JSON object")
    return cls.from_config(config)


def available_codecs() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY))
