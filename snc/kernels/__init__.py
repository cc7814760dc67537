"""Numba kernels of the stream codecs (bit I/O, linear prediction, entropy coding).

Every kernel is ``@njit(cache=True)``; numba does not bounds-check, so the
decoding kernels check every read against the data length themselves and
report failures as integer error codes that the Python wrappers turn into
:class:`snc.errors.CodecError`.
"""
