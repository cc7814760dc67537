"""SNC -- the Stem-Native Codec.

One ``.snc`` file stores a song as independently coded stems plus a mastering
residual, so a player gets the exact mix, any stem and any remix from one file.

Public API: :func:`open` / :class:`SncFile` to read, :func:`encode` to write,
:func:`info` to describe, :func:`encode_many` to encode a library (:mod:`snc.batch`); every error
derives from :class:`SncError`.

``import snc`` is cheap: the decoder and encoder (and through them NumPy, the
codec kernels and SciPy) load on first use of a name that needs them (PEP 562).
``snc.open`` gives a :class:`snc.render.file.SncFile`: the decode layer's file
(:class:`snc.decode.Decoder`) that also remixes and renders.
"""

import sys as _sys
import types as _types

from .errors import (
    ChecksumError,
    CodecError,
    FormatError,
    InputError,
    NotAvailableError,
    SncError,
    SncWarning,
    TruncatedError,
    UnsupportedError,
)
from .version import __version__

#: public name -> submodule that defines it, imported on first access
_LAZY = {
    "open": "render.file",
    "SncFile": "render.file",
    "encode": "encode",
    "EncodeReport": "encode",
    "encode_many": "batch",
    "EncodeJob": "batch",
}


class _Package(_types.ModuleType):
    """``snc.encode`` is the public function and the name of the package that defines it: importing the
    package binds it as this module's attribute ``encode`` (importlib does so for every submodule), and the
    function must stay what ``snc.encode`` is.  So import the package's modules with ``from snc.encode import
    x`` or ``from snc.encode.x import y`` (``import snc.encode.x as y`` finds the function)."""

    def __setattr__(self, name: str, value) -> None:
        if _LAZY.get(name) == name and isinstance(value, _types.ModuleType):  # the package, not the function
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snc' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def info(source) -> dict:
    """Describe a ``.snc`` file: format, rate, length, preset and every stream (see ``snc-info --json``)."""
    from .decode import Decoder  # describing needs no render

    with Decoder(source) as f:
        return f.describe()


__all__ = [
    "__version__", "open", "encode", "info", "SncFile", "EncodeReport", "encode_many", "EncodeJob",
    "SncError", "InputError", "FormatError", "TruncatedError", "ChecksumError", "UnsupportedError",
    "NotAvailableError", "CodecError", "SncWarning",
]
