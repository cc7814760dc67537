"""Error codes returned by the decoding kernels, and their one-line messages.

Kernels return ``(code, bit position)``; :func:`message` turns that into the
text of the :class:`snc.errors.CodecError` raised by the Python wrapper.
"""

OK = 0
TRUNCATED = 1
METHOD = 2
BLOCK_SIZE = 3
SUBFRAME_TYPE = 4
WASTED_BITS = 5
ORDER = 6
PRECISION = 7
SHIFT = 8
PARAM_WIDTH = 9
PARTITION_ORDER = 10
RICE_PARAM = 11
ESCAPE_WIDTH = 12
RESIDUAL_RANGE = 13
SAMPLE_RANGE = 14
PADDING = 15
TRAILING = 16
FRAMES = 17
SHAPE = 18
FILTER = 19
TOO_LONG = 20
RANGE_OFFSET = 21
RANGE_END = 22

MESSAGES = {
    TRUNCATED: "packet ends inside a block (truncated data)",
    METHOD: "unsupported coding method byte",
    BLOCK_SIZE: "block size overruns the packet's frame count",
    SUBFRAME_TYPE: "reserved subframe type",
    WASTED_BITS: "wasted-bits count is not smaller than the sample width",
    ORDER: "predictor order out of range",
    PRECISION: "reserved coefficient precision",
    SHIFT: "prediction shift out of range",
    PARAM_WIDTH: "reserved rice parameter width",
    PARTITION_ORDER: "partition order does not fit the block",
    RICE_PARAM: "rice parameter out of range",
    ESCAPE_WIDTH: "escaped residual width out of range",
    RESIDUAL_RANGE: "residual out of range",
    SAMPLE_RANGE: "decoded sample outside the stream's bit depth",
    PADDING: "non-zero padding bits at the end of the packet",
    TRAILING: "bytes left over after the last block",
    FRAMES: "frame count does not match the packet",
    SHAPE: "internal error: output array has the wrong shape",
    FILTER: "reserved adaptive filter order or shift",
    TOO_LONG: "method-2 or method-3 packet longer than 2**20 frames",
    RANGE_OFFSET: "range-coded residuals do not start where the blocks end",
    RANGE_END: "range-coded residuals end inconsistently (corrupt data)",
}


def message(code: int, bitpos: int) -> str:
    text = MESSAGES.get(int(code), f"error code {int(code)}")
    return f"{text} (at bit {int(bitpos)})"
