"""MSB-first bit writer and reader (the bit order of RFC 9639 section 5 and ``spec/codec-lossless.md`` section 2).

Writer: the caller owns a ``uint8`` buffer and a 3-slot ``int64`` state array
``st = [byte position, pending bits (as an integer), number of pending bits]``;
:func:`put_bits` appends the low ``n`` bits of a value, most significant bit first.
The caller sizes the buffer; :func:`room` tells how many bytes are still free.

Reader: stateless functions of a bit position ``bp``.  The buffer MUST be the
packet followed by at least :data:`PAD` zero bytes (see :func:`padded`) so that a
64-bit window at any position ``bp <= 8 * len(data)`` stays inside the array;
callers compare ``bp`` against the data's bit length after every read, so a
truncated packet is detected before the padding is ever read past.
"""

from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

from ._jit import kernel

#: zero bytes appended after the data by :func:`padded`
PAD = 16

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U8 = np.uint64(8)
_UFF = np.uint64(0xFF)


def padded(data: bytes) -> np.ndarray:
    """``data`` as a ``uint8`` array followed by :data:`PAD` zero bytes (reader input)."""
    buf = np.zeros(len(data) + PAD, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return buf


def new_state() -> np.ndarray:
    return np.zeros(3, dtype=np.int64)


# -- writer ---------------------------------------------------------------


@kernel
def put_bits(buf, st, value, n):
    """Append the low ``n`` bits (0 <= n <= 56) of the int64 ``value``."""
    if n <= 0:
        return
    un = np.uint64(n)
    acc = (np.uint64(st[1]) << un) | (np.uint64(value) & ((_U1 << un) - _U1))
    nacc = st[2] + n
    pos = st[0]
    while nacc >= 8:
        nacc -= 8
        buf[pos] = np.uint8((acc >> np.uint64(nacc)) & _UFF)
        pos += 1
    st[0] = pos
    st[1] = np.int64(acc & ((_U1 << np.uint64(nacc)) - _U1))
    st[2] = nacc


@kernel
def put_long(buf, st, value, n):
    """Append the low ``n`` bits (0 <= n <= 64) of ``value``."""
    if n > 32:
        put_bits(buf, st, np.int64(np.uint64(value) >> np.uint64(32)), n - 32)
        put_bits(buf, st, value, 32)
    else:
        put_bits(buf, st, value, n)


@kernel
def put_zeros(buf, st, n):
    """Append ``n`` zero bits (any ``n >= 0``)."""
    while n > 32:
        put_bits(buf, st, 0, 32)
        n -= 32
    put_bits(buf, st, 0, n)


@kernel
def flush(buf, st):
    """Pad with zero bits to a byte boundary; return the number of bytes written."""
    if st[2] > 0:
        put_bits(buf, st, 0, 8 - st[2])
    return st[0]


@kernel
def room(buf, st):
    """Bytes still free in ``buf``."""
    return buf.shape[0] - st[0]


# -- reader ---------------------------------------------------------------


@kernel
def peek64(buf, bp):
    """The 64 bits starting at bit ``bp`` (``buf`` padded, see module doc)."""
    i = bp >> 3
    v = _U0
    for j in range(8):
        v = (v << _U8) | np.uint64(buf[i + j])
    s = bp & 7
    if s:
        v = (v << np.uint64(s)) | (np.uint64(buf[i + 8]) >> np.uint64(8 - s))
    return v


@kernel
def read_bits(buf, bp, n):
    """Unsigned value of the ``n`` bits (0 <= n <= 64) at ``bp``, as int64 (n < 64)."""
    if n <= 0:
        return np.int64(0)
    return np.int64(peek64(buf, bp) >> np.uint64(64 - n))


@kernel
def read_signed(buf, bp, n):
    """Two's-complement value of the ``n`` bits (0 <= n <= 64) at ``bp``."""
    if n <= 0:
        return np.int64(0)
    return np.int64(peek64(buf, bp)) >> np.int64(64 - n)


@kernel
def read_unary(buf, bp, nbits, limit):
    """Count zero bits up to the next one bit, which is consumed as well.

    Returns ``(count, new bp)``; ``count > limit`` or ``new bp > nbits`` means
    the run is too long or the data ended (the caller reports the error).
    """
    q = 0
    while True:
        w = peek64(buf, bp)
        if w != _U0:
            z = np.int64(leading_zeros(w))
            return q + z, bp + z + 1
        q += 64
        bp += 64
        if bp > nbits or q > limit:
            return q, bp
