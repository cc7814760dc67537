"""SNC -- the Stem-Native Codec.

One ``.snc`` file stores a song as independently coded stems plus a mastering
residual, so a player gets the exact mix, any stem and any remix from one file.

Public API: :func:`open` / :class:`SncFile` to read, :func:`encode` to write,
:func:`info` to describe; every error derives from :class:`SncError`.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
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
from .decoder import SncFile, open  # noqa: E402,A004
from .encoder import EncodeReport, encode  # noqa: E402


def info(source) -> dict:
    """Describe a ``.snc`` file: format, rate, length, preset and every stream (see ``snc-info --json``)."""
    with SncFile(source) as f:
        return f.describe()


__all__ = [
    "__version__", "open", "encode", "info", "SncFile", "EncodeReport",
    "SncError", "InputError", "FormatError", "TruncatedError", "ChecksumError", "UnsupportedError",
    "NotAvailableError", "CodecError", "SncWarning",
]
