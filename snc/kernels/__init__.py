"""Numba kernels of the stream codecs (bit I/O, linear prediction, entropy coding).

Every kernel is ``@kernel`` (:mod:`snc.kernels._jit`: ``njit(cache=True)``, one compiled
version per argument type; first-run compilation is announced by :mod:`snc.kernels.warmup`).
numba does not bounds-check, so the decoding kernels check every read against the data length
themselves and report failures as integer error codes that the Python wrappers turn into
:class:`snc.errors.CodecError`.
"""
