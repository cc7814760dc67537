"""``@kernel``: the decorator of every codec kernel -- ``numba.njit(cache=True)``, one version per argument type.

numba compiles a jitted function once per distinct argument-type tuple, and a constant passed from
another kernel (``put_bits(buf, st, v, 8)``) is typed as the literal ``8``: plain ``njit`` then compiles
a separate copy for every constant at every call site (a dozen copies of the bit writer, two of the
inverse MDCT, one for ``pos == 0`` of the lossless planner).  ``@kernel`` types such calls with the
ordinary type (``int64``), so each helper compiles once per real type; the constant still reaches the
helper's code when LLVM inlines it into the caller.
"""

from __future__ import annotations

from numba import njit as _njit
from numba.core import types as _types


def _one_version_per_type(dispatcher):
    """Make calls from other kernels resolve (and compile) ``dispatcher`` for non-literal argument types."""
    resolve = getattr(dispatcher, "get_call_template", None)
    if resolve is None:  # NUMBA_DISABLE_JIT: njit returned the Python function itself
        return dispatcher

    def get_call_template(args, kws):
        args = tuple(_types.unliteral(a) for a in args)
        kws = {k: _types.unliteral(v) for k, v in kws.items()}
        return resolve(args, kws)

    dispatcher.get_call_template = get_call_template
    return dispatcher


def kernel(fn=None, **options):
    """``@kernel`` / ``@kernel(**njit_options)``: ``numba.njit(cache=True, **options)`` without literal versions."""
    def decorate(f):
        return _one_version_per_type(_njit(**{"cache": True, **options})(f))

    return decorate(fn) if fn is not None else decorate
