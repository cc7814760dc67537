"""Codec registry: ``codec_id`` -> codec class (after numcodecs' ``registry.py``)."""

from __future__ import annotations

from ..errors import UnsupportedError
from .base import Codec

_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Register ``cls`` under ``cls.codec_id`` (usable as a class decorator)."""
    if not cls.codec_id or not cls.codec_id.isascii() or len(cls.codec_id) > 32:
        raise ValueError(f"codec id must be 1..32 ASCII characters, got {cls.codec_id!r}")
    _REGISTRY[cls.codec_id] = cls
    return cls


def get_codec(codec_id: str, config: dict) -> Codec:
    """Instantiate the codec ``codec_id`` from its stored ``config``."""
    try:
        cls = _REGISTRY[codec_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnsupportedError(f"unknown codec {codec_id!r} (this version knows: {known})") from None
    if not isinstance(config, dict):
        raise UnsupportedError(f"codec {codec_id!r}: config must be a JSON object")
    return cls.from_config(config)


def available_codecs() -> list[str]:
    return sorted(_REGISTRY)
