"""Exception hierarchy: every failure a user can cause derives from :class:`SncError`.

The subclasses say *what kind* of thing went wrong so that callers can react
(``except TruncatedError``), while ``except SncError`` catches all of them.
"""

__all__ = [
    "SncError",
    "InputError",
    "FormatError",
    "TruncatedError",
    "ChecksumError",
    "UnsupportedError",
    "NotAvailableError",
    "CodecError",
    "SncWarning",
]


class SncError(Exception):
    """Root of every error raised by the snc library."""


class InputError(SncError, ValueError):
    """The audio or the arguments given to the encoder or decoder are unusable."""


class FormatError(SncError):
    """The bytes are not a valid SNC file (bad magic, malformed chunk, bad field)."""


class TruncatedError(FormatError):
    """The file ends before a structure it announces."""


class ChecksumError(FormatError):
    """A CRC or a content hash does not match: the data is corrupted."""


class UnsupportedError(SncError):
    """A valid request this version does not support (newer format, unknown codec)."""


class NotAvailableError(UnsupportedError):
    """An option from the command-line contract that this version does not implement yet."""


class CodecError(SncError):
    """A stream codec could not encode or decode a packet."""


class SncWarning(UserWarning):
    """Something was adjusted (e.g. a stem padded to the mix length); the result is still valid."""
