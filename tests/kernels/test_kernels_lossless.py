"""The numba kernels of the ``lossless`` codec against pure-Python / NumPy references.

The reference packet decoder at the end is written from ``spec/codec-lossless.md``
alone; comparing it with the kernels checks the spec as much as the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import solve_toeplitz

from snc.kernels import bitio, errcodes, lpc, rice
from snc.kernels import lossless_decode as ld
from snc.kernels import lossless_encode as le

RNG_SEED = 20240611


# ----------------------------------------------------------------------------- references
class RefWriter:
    """Bits as a Python string of '0'/'1'."""

    def __init__(self):
        self.bits = []

    def put(self, value: int, n: int) -> None:
        if n:
            self.bits.append(format(value & ((1 << n) - 1), f"0{n}b"))

    def getvalue(self) -> bytes:
        s = "".join(self.bits)
        s += "0" * (-len(s) % 8)
        return bytes(int(s[i : i + 8], 2) for i in range(0, len(s), 8))


class RefError(Exception):
    pass


class RefReader:
    def __init__(self, data: bytes):
        self.s = "".join(format(b, "08b") for b in data)
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > len(self.s):
            raise RefError("truncated")
        v = int(self.s[self.pos : self.pos + n], 2) if n else 0
        self.pos += n
        return v

    def s_(self, n: int) -> int:
        v = self.u(n)
        return v - (1 << n) if n and v >> (n - 1) else v

    def unary(self) -> int:
        j = self.s.find("1", self.pos)
        if j < 0:
            raise RefError("truncated")
        q = j - self.pos
        self.pos = j + 1
        return q


def ref_zigzag(r: int) -> int:
    return 2 * r if r >= 0 else -2 * r - 1


def ref_unzigzag(u: int) -> int:
    return u >> 1 if u % 2 == 0 else -((u + 1) >> 1)


def ref_rice_write(w: RefWriter, res, n, order, sel, porder, params) -> None:
    pbits = 4 + sel
    w.put(sel, 2)
    w.put(porder, 4)
    pos = 0
    for j in range(1 << porder):
        cnt = (n >> porder) - (order if j == 0 else 0)
        part = [int(r) for r in res[pos : pos + cnt]]
        pos += cnt
        code = int(params[j])
        if code < 0:
            width = -1 - code
            w.put((1 << pbits) - 1, pbits)
            w.put(width, 6)
            for r in part:
                w.put(r, width)
        else:
            w.put(code, pbits)
            for r in part:
                u = ref_zigzag(r)
                w.bits.append("0" * (u >> code) + "1")
                w.put(u, code)


def ref_rice_read(rd: RefReader, n: int, order: int, width: int) -> list[int]:
    """Residual section, spec section 7."""
    sel = rd.u(2)
    porder = rd.u(4)
    if sel == 3:
        raise RefError("param width")
    if n % (1 << porder) or (n >> porder) < order:
        raise RefError("partition order")
    pbits = 4 + sel
    esc = (1 << pbits) - 1
    out = []
    for j in range(1 << porder):
        cnt = (n >> porder) - (order if j == 0 else 0)
        k = rd.u(pbits)
        if k == esc:
            w = rd.u(6)
            if w > width + 5:
                raise RefError("escape width")
            out += [rd.s_(w) for _ in range(cnt)]
            continue
        if k > min(esc - 1, 40):
            raise RefError("rice param")
        for _ in range(cnt):
            q = rd.unary()
            u = (q << k) | rd.u(k)
            if u >= 1 << (width + 5):
                raise RefError("residual range")
            out.append(ref_unzigzag(u))
    return out


def ref_rice_min_bits(res, n, order, pmax) -> int:
    """Exhaustive minimum of the residual section's size (spec section 7)."""
    best = None
    for p in range(pmax + 1):
        for sel in range(3):
            cap = min((1 << (4 + sel)) - 2, 40)
            total = 6
            pos = 0
            for j in range(1 << p):
                cnt = (n >> p) - (order if j == 0 else 0)
                us = [ref_zigzag(int(r)) for r in res[pos : pos + cnt]]
                pos += cnt
                width = max(us, default=0).bit_length()
                opts = [6 + cnt * width] + [sum(u >> k for u in us) + cnt * (k + 1) for k in range(cap + 1)]
                total += 4 + sel + min(opts)
            best = total if best is None else min(best, total)
    return best


def ref_estimate(res, n, order, pmax) -> int:
    best = None
    for p in range(pmax + 1):
        bits = 6
        pos = 0
        for j in range(1 << p):
            cnt = (n >> p) - (order if j == 0 else 0)
            tot = sum(ref_zigzag(int(r)) for r in res[pos : pos + cnt])
            pos += cnt
            k = min(max((tot // cnt).bit_length() - 1, 0), 40) if cnt else 0
            bits += 5 + cnt * (k + 1) + (tot >> k)
        best = bits if best is None else min(best, bits)
    return best


def ref_residual(x, coefs, order, shift) -> list[int]:
    """Spec section 6: exact integer prediction."""
    x = [int(v) for v in x]
    return [x[i] - (sum(int(coefs[j]) * x[i - 1 - j] for j in range(order)) >> shift) for i in range(order, len(x))]


def ref_restore(warm, res, coefs, order, shift) -> list[int]:
    x = [int(v) for v in warm]
    for r in res:
        x.append(int(r) + (sum(int(coefs[j]) * x[-1 - j] for j in range(order)) >> shift))
    return x


def ref_quantize(coefs, order, precision, max_shift):
    cmax = max(abs(c) for c in coefs[:order])
    if cmax <= 0:
        return -1, []
    qmax, qmin = (1 << (precision - 1)) - 1, -(1 << (precision - 1))
    shift = min(precision - 2 - (math.frexp(cmax)[1] - 1), max_shift)
    if shift < 0:
        return -1, []
    e, out = 0.0, []
    for c in coefs[:order]:
        e += c * 2.0**shift
        q = math.floor(abs(e) + 0.5) * (1 if e >= 0 else -1)
        q = min(max(q, qmin), qmax)
        e -= q
        out.append(int(q))
    return shift, out


def ref_tukey(n, p):
    w = np.ones(n)
    m = int(p / 2.0 * n) - 1
    if m > 0:
        i = np.arange(m + 1)
        w[: m + 1] = 0.5 - 0.5 * np.cos(np.pi * i / m)
        w[n - m - 1 :] = 0.5 - 0.5 * np.cos(np.pi * (i + m) / m)
    return w


FIXED = [[], [1], [2, -1], [3, -3, 1], [4, -6, 4, -1]]


def ref_subframe_head(rd: RefReader, n: int, width: int) -> dict:
    """Spec section 5 up to the residual section: a constant or verbatim subframe's ``samples``, or a predicted
    one's warm-up ``samples``, ``order``, ``coefs`` and ``shift``; and its ``wasted`` bits and width ``ws``."""
    t = rd.u(2)
    wasted = rd.u(5) + 1 if rd.u(1) else 0
    if wasted >= width:
        raise RefError("wasted")
    ws = width - wasted
    head = dict(predicted=t >= 2, order=0, coefs=[], shift=0, wasted=wasted, ws=ws)
    if t == 0:
        return dict(head, samples=[rd.s_(ws)] * n)
    if t == 1:
        return dict(head, samples=[rd.s_(ws) for _ in range(n)])
    if t == 2:
        order = rd.u(3)
        if order > 4:
            raise RefError("order")
    else:
        order = rd.u(5) + 1
    if order > n:
        raise RefError("order")
    head.update(order=order, samples=[rd.s_(ws) for _ in range(order)])
    if t == 2:
        head["coefs"] = FIXED[order]
    else:
        prec = rd.u(4) + 1
        if prec == 16:
            raise RefError("precision")
        head["shift"] = rd.u(5)
        head["coefs"] = [rd.s_(prec) for _ in range(order)]
    return head


def ref_finish_subframe(head: dict, res) -> list[int]:
    """Spec section 6: a predicted subframe's samples from its warm-up and residuals ``res`` (ignored for the
    others), checked against its width, then its wasted bits."""
    x = head["samples"]
    if head["predicted"]:
        x = ref_restore(x, res, head["coefs"], head["order"], head["shift"])
        ws = head["ws"]
        if any(not -(1 << (ws - 1)) <= v < 1 << (ws - 1) for v in x):
            raise RefError("sample range")
    return [v << head["wasted"] for v in x]


def ref_subframe(rd: RefReader, n: int, width: int) -> list[int]:
    """Spec section 5."""
    head = ref_subframe_head(rd, n, width)
    res = ref_rice_read(rd, n, head["order"], head["ws"]) if head["predicted"] else None
    return ref_finish_subframe(head, res)


def ref_undo_stereo(ch: list, mode: int) -> list:
    """Spec section 4: the left and right channels of a block's decoded subframes in ``mode``."""
    if mode == 1:
        ch[1] = [a - b for a, b in zip(ch[0], ch[1])]
    elif mode == 2:
        ch[0] = [a + b for a, b in zip(ch[0], ch[1])]
    elif mode == 3:
        mid = [(m << 1) | (s & 1) for m, s in zip(ch[0], ch[1])]
        ch = [[(m + s) >> 1 for m, s in zip(mid, ch[1])], [(m - s) >> 1 for m, s in zip(mid, ch[1])]]
    return ch


def ref_decode_packet(data: bytes, frames: int, channels: int, bits: int) -> np.ndarray:
    """Spec sections 3 and 4."""
    rd = RefReader(data)
    if rd.u(8) != 1:
        raise RefError("method")
    out = np.zeros((frames, channels), dtype=np.int64)
    pos = 0
    while pos < frames:
        n = rd.u(16) + 1
        if n > frames - pos:
            raise RefError("block size")
        mode = rd.u(2) if channels == 2 else 0
        side = {0: (), 1: (1,), 2: (0,), 3: (1,)}[mode]
        ch = ref_undo_stereo([ref_subframe(rd, n, bits + (c in side)) for c in range(channels)], mode)
        out[pos : pos + n] = np.array(ch, dtype=np.int64).T
        pos += n
    pad = -rd.pos % 8
    if rd.u(pad) != 0:
        raise RefError("padding")
    if rd.pos != len(rd.s):
        raise RefError("trailing")
    if out.size and (out.min() < -(1 << (bits - 1)) or out.max() >= 1 << (bits - 1)):
        raise RefError("sample range")
    return out.astype(np.int32)


# ----------------------------------------------------------------------------- helpers
def kernel_decode(data: bytes, frames: int, channels: int, bits: int):
    out = np.zeros((frames, channels), dtype=np.int32)
    err, _ = ld.decode_packet(bitio.padded(data), 8 * len(data), out, bits)
    return err, out


def kernel_encode(x: np.ndarray, bits: int, block_frames: int = 4096, max_order: int = 32) -> bytes:
    frames, channels = x.shape
    buf = np.zeros(le.bound_bytes(frames, channels, bits, block_frames), dtype=np.uint8)
    nbytes = le.encode_packet(np.ascontiguousarray(x, dtype=np.int32), bits, block_frames, max_order, buf,
                              bitio.new_state())
    assert nbytes > 0
    return buf[:nbytes].tobytes()


def laplace_residuals(rng, n, scale):
    return np.round(rng.laplace(0, scale, n)).astype(np.int64)


# ----------------------------------------------------------------------------- bit I/O
def test_bit_writer_matches_reference():
    rng = np.random.default_rng(RNG_SEED)
    buf = np.zeros(4096, dtype=np.uint8)
    st = bitio.new_state()
    ref = RefWriter()
    for _ in range(1000):
        n = int(rng.integers(0, 65))
        v = int(rng.integers(-(2**63), 2**63 - 1))
        if n <= 56 and rng.random() < 0.5:
            bitio.put_bits(buf, st, v, n)
        else:
            bitio.put_long(buf, st, v, n)
        ref.put(v, n)
    z = int(rng.integers(0, 200))
    bitio.put_zeros(buf, st, z)
    ref.put(0, z)
    nbytes = bitio.flush(buf, st)
    assert buf[:nbytes].tobytes() == ref.getvalue()
    assert bitio.room(buf, st) == len(buf) - nbytes


def test_bit_reader_matches_reference():
    rng = np.random.default_rng(RNG_SEED + 1)
    data = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    buf = bitio.padded(data)
    ref = RefReader(data)
    bp = 0
    while bp < 8 * len(data) - 64:
        n = int(rng.integers(0, 64))
        assert bitio.read_bits(buf, bp, n) == int(ref.s[bp : bp + n] or "0", 2)
        m = int(rng.integers(1, 65))
        rd = RefReader(data)
        rd.pos = bp
        assert bitio.read_signed(buf, bp, m) == rd.s_(m)
        rd.pos = bp
        q, nbp = bitio.read_unary(buf, bp, 8 * len(data), 10**6)
        assert (q, nbp) == (rd.unary(), rd.pos)
        bp += int(rng.integers(1, 40))


def test_bit_reader_unary_stops_at_end_and_limit():
    data = bytes(20)
    buf = bitio.padded(data)
    q, bp = bitio.read_unary(buf, 0, 160, 10**6)
    assert bp > 160
    q, bp = bitio.read_unary(bitio.padded(bytes(20) + b"\x01"), 0, 168, 70)
    assert q > 70


# ----------------------------------------------------------------------------- rice
def test_zigzag_and_bit_length():
    for r in [0, 1, -1, 2, -2, 12345, -12345, 2**40, -(2**40)]:
        assert rice.zigzag(r) == ref_zigzag(r)
        assert rice.unzigzag(ref_zigzag(r)) == r
    for u in [0, 1, 2, 3, 255, 256, 2**38 - 1, 2**62]:
        assert rice.bit_length(u) == u.bit_length()


@pytest.mark.parametrize("n,order,limit", [(4096, 0, 8), (4096, 32, 8), (4096, 17, 15), (4097, 2, 8), (96, 3, 8),
                                           (1, 0, 8), (64, 8, 8)])
def test_max_partition_order(n, order, limit):
    p = max(q for q in range(min(limit, 15) + 1) if n % (1 << q) == 0 and (n >> q) >= order) if n >= order else 0
    assert rice.max_partition_order(n, order, limit) == p


@pytest.mark.parametrize("n,order,scale", [(64, 0, 3.0), (48, 5, 0.3), (96, 2, 40.0), (32, 31, 5.0), (17, 1, 2.0)])
def test_rice_plan_is_exact_minimum(n, order, scale):
    rng = np.random.default_rng(RNG_SEED + n)
    res = laplace_residuals(rng, n - order, scale)
    res[: len(res) // 3] *= 50  # make partitions differ
    pmax = rice.max_partition_order(n, order, 8)
    params = np.zeros(256, dtype=np.int64)
    bits, sel, porder = rice.plan(res, n, order, pmax, params)
    assert bits == ref_rice_min_bits(res, n, order, pmax)


@pytest.mark.parametrize("kind", ["laplace", "big", "zeros", "outliers", "wide", "wide_uniform"])
def test_rice_write_read_match_reference(kind):
    rng = np.random.default_rng(RNG_SEED + len(kind))
    n, order, width = 4096, 12, 17
    res = {
        "laplace": laplace_residuals(rng, n - order, 30.0),
        "big": rng.integers(-(2**20), 2**20, n - order),
        "zeros": np.zeros(n - order, dtype=np.int64),
        "outliers": np.where(rng.random(n - order) < 0.01, rng.integers(-(2**21), 2**21, n - order),
                             laplace_residuals(rng, n - order, 2.0)),
        "wide": laplace_residuals(rng, n - order, 2.0**31),  # needs 6-bit parameters
        "wide_uniform": rng.integers(-(2**37), 2**37, n - order),  # escapes
    }[kind].astype(np.int64)
    if kind.startswith("wide"):
        width = 33
    pmax = rice.max_partition_order(n, order, 8)
    params = np.zeros(256, dtype=np.int64)
    bits, sel, porder = rice.plan(res, n, order, pmax, params)
    assert sel == 2 if kind == "wide" else sel < 2
    buf = np.zeros(8 * n * 8, dtype=np.uint8)
    st = bitio.new_state()
    rice.write(buf, st, res, n, order, sel, porder, params)
    assert st[0] * 8 + st[2] == bits  # the plan's count is the written size
    nbytes = bitio.flush(buf, st)
    ref = RefWriter()
    ref_rice_write(ref, res, n, order, sel, porder, params)
    data = buf[:nbytes].tobytes()
    assert data == ref.getvalue()
    assert ref_rice_read(RefReader(data), n, order, width) == res.tolist()
    out = np.zeros(n, dtype=np.int64)
    err, bp = rice.read(bitio.padded(data), 0, 8 * nbytes, n, order, width, out)
    assert err == errcodes.OK and bp == bits
    assert np.array_equal(out[: n - order], res)


def test_rice_estimate_matches_reference():
    rng = np.random.default_rng(RNG_SEED + 7)
    for n, order in [(4096, 0), (4096, 12), (1000, 3)]:
        res = laplace_residuals(rng, n - order, 20.0)
        pmax = rice.max_partition_order(n, order, 6)
        assert rice.estimate(res, n, order, pmax) == ref_estimate(res, n, order, pmax)


def _section(sel, porder, parts):
    w = RefWriter()
    w.put(sel, 2)
    w.put(porder, 4)
    for bits, v in parts:
        w.put(v, bits)
    return w.getvalue()


@pytest.mark.parametrize(
    "data,n,order,width,err",
    [
        (_section(3, 0, []), 8, 0, 16, errcodes.PARAM_WIDTH),
        (_section(0, 4, []), 8, 0, 16, errcodes.PARTITION_ORDER),  # 8 % 16 != 0
        (_section(0, 1, []), 8, 5, 16, errcodes.PARTITION_ORDER),  # first partition would be negative
        (_section(2, 0, [(6, 41)]), 8, 0, 16, errcodes.RICE_PARAM),
        (_section(0, 0, [(4, 15), (6, 22)]), 8, 0, 16, errcodes.ESCAPE_WIDTH),
        (_section(0, 0, [(4, 0), (70, 0), (1, 1)]), 8, 0, 1, errcodes.RESIDUAL_RANGE),  # u = 70 >= 2**(1 + 5)
        (_section(1, 0, [(5, 20), (1, 1), (20, 1 << 19)]), 1, 0, 1, errcodes.RESIDUAL_RANGE),  # u = 2**19, k = 20
        (_section(0, 0, [(4, 3)]), 8, 0, 16, errcodes.TRUNCATED),
        (_section(0, 0, [(4, 15), (6, 20)]), 8, 0, 16, errcodes.TRUNCATED),
        (b"\x00", 8, 0, 16, errcodes.TRUNCATED),
    ],
)
def test_rice_read_rejects(data, n, order, width, err):
    out = np.zeros(n, dtype=np.int64)
    assert rice.read(bitio.padded(data), 0, 8 * len(data), n, order, width, out)[0] == err
    with pytest.raises(RefError):
        ref_rice_read(RefReader(data), n, order, width)


# ----------------------------------------------------------------------------- lpc
def test_tukey_and_windows():
    for n, p in [(4096, 0.5), (1000, 0.5), (7, 0.5), (100, 1.0)]:
        out = np.zeros(n)
        lpc.tukey(n, p, out)
        np.testing.assert_allclose(out, ref_tukey(n, p), atol=1e-15)
    w, seg = lpc.make_windows(1000, 3)
    assert seg.tolist() == [[0, 1000], [0, 500], [500, 1000], [0, 333], [333, 666], [666, 1000]]
    for r, (s, e) in enumerate(seg):
        np.testing.assert_allclose(w[r, s:e], ref_tukey(e - s, 0.5), atol=1e-15)
        assert not w[r, :s].any() and not w[r, e:].any()


def test_autocorrelation_matches_numpy():
    rng = np.random.default_rng(RNG_SEED + 2)
    for n, lag in [(4096, 32), (100, 8), (5, 10)]:
        x = rng.standard_normal(n) * 1000
        out = np.zeros(lag + 1)
        lpc.autocorrelation(x, n, lag, out)
        full = np.correlate(x, x, "full")[n - 1 :]
        ref = np.concatenate([full, np.zeros(max(0, lag + 1 - n))])[: lag + 1]
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-6 * ref[0])


def test_levinson_matches_toeplitz_solve():
    rng = np.random.default_rng(RNG_SEED + 3)
    x = np.cumsum(rng.standard_normal(4096)) + rng.standard_normal(4096)
    autoc = np.zeros(33)
    lpc.autocorrelation(x * ref_tukey(4096, 0.5), 4096, 32, autoc)
    coefs = np.zeros((32, 32))
    errs = np.zeros(32)
    assert lpc.levinson(autoc, 32, coefs, errs) == 32
    for o in (1, 2, 8, 32):
        ref = solve_toeplitz(autoc[:o], autoc[1 : o + 1])
        np.testing.assert_allclose(coefs[o - 1, :o], ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(errs[o - 1], autoc[0] - ref @ autoc[1 : o + 1], rtol=1e-6)
    assert lpc.levinson(np.zeros(33), 32, coefs, errs) == 0


def test_expected_bits():
    for err, n, o, ov in [(1e6, 4096, 8, 28), (0.0, 100, 1, 20), (1e-3, 4096, 2, 30)]:
        bps = max(0.0, 0.5 * math.log2(0.5 * err / n)) if err > 0 else 0.0
        assert lpc.expected_bits(err, n, o, ov) == pytest.approx(bps * (n - o) + o * ov)


def test_quantize_matches_reference():
    rng = np.random.default_rng(RNG_SEED + 4)
    out = np.zeros(32, dtype=np.int64)
    for _ in range(300):
        order = int(rng.integers(1, 33))
        prec = int(rng.integers(2, 16))
        coefs = rng.standard_normal(order) * 10.0 ** rng.uniform(-6, 3)
        shift = lpc.quantize(coefs, order, prec, 31, out)
        rshift, rq = ref_quantize(coefs, order, prec, 31)
        assert shift == rshift
        if shift >= 0:
            assert out[:order].tolist() == rq
            assert all(-(1 << (prec - 1)) <= q < 1 << (prec - 1) for q in rq)
    assert lpc.quantize(np.zeros(4), 4, 12, 31, out) == -1


@pytest.mark.parametrize("order,prec,ws,shift", [(1, 12, 16, 11), (12, 12, 16, 10), (32, 15, 16, 14),
                                                  (32, 15, 33, 31), (4, 15, 33, 0), (0, 12, 16, 0)])
def test_residual_and_restore_match_reference(order, prec, ws, shift):
    """The encoder's float-accumulated residual is exact even at the format's limits."""
    rng = np.random.default_rng(RNG_SEED + order + ws)
    n = 600
    lo, hi = -(1 << (ws - 1)), (1 << (ws - 1)) - 1
    x = rng.integers(lo, hi + 1, n, dtype=np.int64)
    x[::7] = hi
    x[::11] = lo
    coefs = rng.integers(-(1 << (prec - 1)), 1 << (prec - 1), max(order, 1), dtype=np.int64)
    coefs[::3] = -(1 << (prec - 1))
    out = np.zeros(n, dtype=np.int64)
    umax = lpc.residual(x, x.astype(np.float64), n, coefs, order, shift, out)
    ref = ref_residual(x, coefs, order, shift)
    assert out[: n - order].tolist() == ref
    assert umax == max((ref_zigzag(r) for r in ref), default=0)
    y = x.copy()
    y[order:] = out[: n - order]
    assert lpc.restore(y, n, coefs, order, shift, lo, hi) == -1
    assert y.tolist() == ref_restore(x[:order], ref, coefs, order, shift) == x.tolist()
    # a sample outside [lo, hi] is reported at its index
    if order < n - 1:
        y = x.copy()
        y[order:] = out[: n - order]
        y[order + 1] += hi - lo + 1
        assert lpc.restore(y, n, coefs, order, shift, lo, hi) == order + 1


def test_fixed_predictors():
    rng = np.random.default_rng(RNG_SEED + 5)
    x = np.cumsum(rng.integers(-100, 100, 500)).astype(np.int64)
    sums = np.zeros(5)
    lpc.fixed_abs_sums(x, 500, sums)
    for o in range(5):
        ref = ref_residual(x, FIXED[o], o, 0)
        assert sums[o] == sum(abs(r) for r in ref[4 - o :])
        np.testing.assert_array_equal(lpc.FIXED_COEFS[o, :o], FIXED[o])


# ----------------------------------------------------------------------------- packets
def _signals(rng):
    t = np.arange(2500)
    music = (3000 * np.sin(t / 9.0) + 800 * np.sin(t / 2.3) + rng.normal(0, 30, t.size)).astype(np.int64)
    yield "stereo16", np.stack([music, music // 2 + rng.integers(-5, 5, t.size)], 1), 16, 1024
    yield "mono8", (music[:700, None] >> 8), 8, 256
    yield "wasted24", np.stack([music << 8, (music << 8) + 256], 1), 24, 1000
    yield "noise32", rng.integers(-(2**31), 2**31, (300, 3), dtype=np.int64), 32, 128
    yield "extremes32", np.where(t[:200, None] % 3 == 0, 2**31 - 1, -(2**31)) * np.ones((1, 2), np.int64), 32, 64
    yield "silence", np.zeros((100, 2), np.int64), 16, 64
    yield "dc", np.full((77, 1), -5, np.int64), 12, 32
    yield "sidewide", np.stack([t[:400] % 2 * (2**15 - 1), -(t[:400] % 2) * 2**15], 1), 16, 400


@pytest.mark.parametrize("name", [s[0] for s in _signals(np.random.default_rng(0))])
def test_decoder_kernel_matches_reference_decoder(name):
    rng = np.random.default_rng(RNG_SEED + 6)
    _, x, bits, bf = next(s for s in _signals(rng) if s[0] == name)
    data = kernel_encode(x, bits, bf)
    err, out = kernel_decode(data, len(x), x.shape[1], bits)
    assert err == errcodes.OK
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(ref_decode_packet(data, len(x), x.shape[1], bits), x)
    # corrupt copies: the kernel and the reference accept and reject the same packets
    for i in range(40):
        b = bytearray(data)
        j = int(rng.integers(0, 8 * len(b)))
        b[j // 8] ^= 0x80 >> (j % 8)
        if i % 4 == 0:
            b = b[: int(rng.integers(0, len(b)))]
        err, out = kernel_decode(bytes(b), len(x), x.shape[1], bits)
        try:
            ref = ref_decode_packet(bytes(b), len(x), x.shape[1], bits)
        except RefError:
            ref = None
        assert (err == errcodes.OK) == (ref is not None), (i, err)
        if ref is not None:
            np.testing.assert_array_equal(out, ref)


def test_packet_size_is_the_planned_size():
    """The encoder's exact cost accounting equals the bits it writes."""
    rng = np.random.default_rng(RNG_SEED + 8)
    t = np.arange(5000)
    x = (2000 * np.sin(t / 7.0) + rng.normal(0, 50, t.size)).astype(np.int64)
    for sig, width in [(x, 16), (rng.integers(-(2**15), 2**15, 5000), 16), (x << 3, 20)]:
        plan = np.zeros(le.PLAN_LEN, dtype=np.int64)
        res = np.zeros(4096, dtype=np.int64)
        win, seg = lpc.make_windows(4096, le.WINDOW_LEVELS)
        bits = le.analyse(sig[:4096].astype(np.int64), 4096, width, width, win, seg, 32, plan, res)
        buf = np.zeros(20000, dtype=np.uint8)
        st = bitio.new_state()
        le.write_subframe(buf, st, sig[:4096].astype(np.int64), 4096, width, plan, res)
        assert st[0] * 8 + st[2] == bits
        ref = ref_subframe(RefReader(buf[: bitio.flush(buf, st)].tobytes()), 4096, width)
        assert ref == sig[:4096].tolist()


def test_decode_packet_rejects_bad_framing():
    x = np.arange(40, dtype=np.int64).reshape(20, 2)
    data = kernel_encode(x, 16, 16)
    assert kernel_decode(data, 20, 2, 16)[0] == errcodes.OK
    assert kernel_decode(b"", 20, 2, 16)[0] == errcodes.TRUNCATED
    assert kernel_decode(b"\x04" + data[1:], 20, 2, 16)[0] == errcodes.METHOD
    assert kernel_decode(data, 19, 2, 16)[0] == errcodes.BLOCK_SIZE
    assert kernel_decode(data, 21, 2, 16)[0] == errcodes.TRUNCATED
    assert kernel_decode(data + b"\x00", 20, 2, 16)[0] == errcodes.TRAILING
    assert kernel_decode(b"\x01", 0, 2, 16)[0] == errcodes.OK
    out = np.zeros((20, 2), dtype=np.int32)
    assert ld.decode_packet(np.zeros(4, np.uint8), 32, out, 16)[0] == errcodes.SHAPE  # unpadded buffer
    # a stereo block whose side channel makes the right channel overflow 16 bits
    w = RefWriter()
    w.put(1, 8)
    w.put(0, 16)  # one frame
    w.put(1, 2)  # left/side
    w.put(0, 2), w.put(0, 1), w.put(-(2**15), 16)  # left: constant -32768
    w.put(0, 2), w.put(0, 1), w.put(1, 17)  # side: constant 1 -> right = -32769
    assert kernel_decode(w.getvalue(), 1, 2, 16)[0] == errcodes.SAMPLE_RANGE
    assert errcodes.message(errcodes.SAMPLE_RANGE, 40).endswith("(at bit 40)")


# ----------------------------------------------------------------------------- method 2: adaptive filters
def ref_nn(values, order, shift, inverse=False):
    """Spec section 13.3, written with plain Python lists (no ring buffer)."""
    X = [0] * order
    D = [0] * order
    w = [0] * order
    avg = 0
    out = []
    for v in values:
        dot = sum(w[j] * X[len(X) - order + j] for j in range(order))
        p = (dot + (1 << (shift - 1))) >> shift
        if inverse:
            o, x = int(v), int(v) + p
        else:
            x, o = int(v), int(v) - p
        sg = (o > 0) - (o < 0)
        for j in range(order):
            w[j] += sg * D[len(D) - order + j]
        av = abs(x)
        d = 32 if av > 3 * avg else 16 if 3 * av > 4 * avg else 8 if av > 0 else 0
        avg += (av - avg) >> 4
        for k in (1, 2, 8):
            D[-k] >>= 1
        X.append(min(max(x, -32768), 32767))
        D.append(d if x >= 0 else -d)
        out.append(x if inverse else o)
    return out


@pytest.mark.parametrize("order,shift", [(16, 11), (32, 10), (256, 13)])
def test_nn_forward_inverse_match_reference(order, shift):
    from snc.kernels import nn

    rng = np.random.default_rng(RNG_SEED + order)
    t = np.arange(9000)
    e = (300 * np.sin(t / 5.0) + rng.laplace(0, 40, t.size)).astype(np.int64)
    e[::997] = 50000  # saturation of the history
    e[100:300] = 0
    X = np.zeros(nn.MAX_ORDER + nn.RING, np.int32)
    D = np.zeros_like(X)
    w = np.zeros(nn.MAX_ORDER, np.int32)
    a = np.zeros(2, np.int64)
    nn.reset(X, D, w, a, order)
    v = e.copy()
    for lo, hi in [(0, 1000), (1000, 1001), (1001, 9000)]:  # state carries across calls (and the ring wraps)
        nn.forward(v[lo:hi], hi - lo, order, shift, X, D, w, a)
    ref = ref_nn(e.tolist()[:3000], order, shift)
    assert v[:3000].tolist() == ref
    nn.reset(X, D, w, a, order)
    y = v.copy()
    nn.inverse(y, len(y), order, shift, X, D, w, a)
    assert y.tolist() == e.tolist()
    assert ref_nn(ref, order, shift, inverse=True) == e.tolist()[:3000]
    if order == 32:
        assert np.abs(v[2000:]).mean() < np.abs(e[2000:]).mean()  # it predicts


@pytest.mark.parametrize("m0,m1", [(5000, 5000), (5000, 4990), (37, 6000), (0, 100)])
def test_nn_inverse_pair_equals_two_inverses(m0, m1):
    """The decoder's two-stream kernel gives exactly what two separate inverses give,
    for unequal lengths, across the ring wrap, and leaves the same states behind."""
    from snc.kernels import nn

    rng = np.random.default_rng(RNG_SEED + m0 + m1)
    order, shift = 32, 10

    def state():
        X = np.zeros(nn.MAX_ORDER + nn.RING, np.int32)
        D = np.zeros_like(X)
        w = np.zeros(nn.MAX_ORDER, np.int32)
        a = np.zeros(2, np.int64)
        nn.reset(X, D, w, a, order)
        return X, D, w, a

    coded = [rng.laplace(0, 200, m).astype(np.int64) for m in (m0, m1)]
    coded[0][::401] = 40000  # saturates the history
    ref_states = [state(), state()]
    ref = [c.copy() for c in coded]
    for k in range(2):
        nn.inverse(ref[k], len(ref[k]), order, shift, *ref_states[k])
    states = [state(), state()]
    got = [c.copy() for c in coded]
    nn.inverse_pair(got[0], m0, got[1], m1, order, shift, *states[0], *states[1])
    for k in range(2):
        assert got[k].tolist() == ref[k].tolist()
        for a, b in zip(states[k], ref_states[k]):
            assert np.array_equal(a, b)


def kernel_encode_v2(x, bits, filters, block_frames=4096, adaptive=False):
    """A method-1/2 packet; with ``adaptive`` also method 3 where it is smaller (spec section 14)."""
    frames, channels = x.shape
    buf = np.zeros(le.bound_bytes(frames, channels, bits, block_frames), dtype=np.uint8)
    orders = np.array([o for o, _ in filters], np.int64)
    shifts = np.array([s for _, s in filters], np.int64)
    x = np.ascontiguousarray(x, dtype=np.int32)
    plan = le.plan_packet(x, bits, block_frames, 32)
    nbytes = le.encode_planned(x, bits, block_frames, *plan, orders, shifts, adaptive, buf, bitio.new_state())
    assert nbytes > 0
    return buf[:nbytes].tobytes()


@pytest.mark.parametrize("filters", [((32, 10), (16, 11)), ((16, 11),), ((512, 14), (64, 11), (16, 11))])
def test_method2_packets_decode_exactly(filters):
    rng = np.random.default_rng(RNG_SEED + 9)
    t = np.arange(9000)
    music = (3000 * np.sin(t / 9.0) + 800 * np.sin(t / 2.3) + rng.laplace(0, 30, t.size)).astype(np.int64)
    x = np.stack([music, music // 2 + rng.integers(-5, 5, t.size)], 1)
    data = kernel_encode_v2(x, 16, filters, 2048)
    assert data[0] == 2 and len(data) < len(kernel_encode(x, 16, 2048))
    err, out = kernel_decode(data, len(x), 2, 16)
    assert err == errcodes.OK
    np.testing.assert_array_equal(out, x)
    # header: u(2) stage count, then u(3) order code + u(5) shift per stage
    hdr = RefReader(data[:8])
    hdr.u(8)
    assert hdr.u(2) == len(filters)
    for o, s in filters:
        assert (16 << hdr.u(3), hdr.u(5)) == (o, s)
    # truncations and bit flips give error codes, never crashes
    for i in range(200):
        b = bytearray(data)
        j = int(rng.integers(0, 8 * len(b)))
        b[j // 8] ^= 0x80 >> (j % 8)
        if i % 4 == 0:
            b = b[: int(rng.integers(0, len(b)))]
        kernel_decode(bytes(b), len(x), 2, 16)


def test_method2_rejects_reserved_filters_and_long_packets():
    x = np.arange(40, dtype=np.int64).reshape(20, 2)
    for code, shift in [(6, 10), (7, 10), (1, 0), (1, 21)]:
        w = RefWriter()
        w.put(2, 8), w.put(1, 2), w.put(code, 3), w.put(shift, 5)
        assert kernel_decode(w.getvalue() + bytes(8), 20, 2, 16)[0] == errcodes.FILTER
    err, _ = kernel_decode(b"\x02\x00", (1 << 20) + 1, 1, 16)
    assert err == errcodes.TOO_LONG
    # noise: no filter helps, the encoder falls back to method 1
    noise = np.random.default_rng(1).integers(-(2**15), 2**15, (3000, 2))
    assert kernel_encode_v2(noise, 16, ((32, 10), (16, 11)))[0] == 1
    assert kernel_decode(kernel_encode_v2(x, 16, ((16, 11),), 16), 20, 2, 16)[0] == errcodes.OK


@pytest.mark.parametrize("order", list(range(0, 33)))
def test_restore_every_order_matches_reference(order):
    """lpc.restore (register-history variants for orders <= 4, 8, 16, 32) == the spec's equation,
    including the first out-of-range index."""
    rng = np.random.default_rng(RNG_SEED + 77 + order)
    n = 300
    shift = int(rng.integers(8, 16))
    lim_c = max((1 << shift) // (order + 1), 1)  # sum |c| < 2**shift: a stable recursion, no overflow
    coefs = rng.integers(-lim_c, lim_c + 1, max(order, 1)).astype(np.int64)
    warm = rng.integers(-100, 100, order)
    res = rng.integers(-50, 50, n - order)
    ref = ref_restore(warm, res, coefs, order, shift)
    x = np.concatenate([warm, res]).astype(np.int64)
    big = 1 << 62
    assert lpc.restore(x, n, coefs, order, shift, -big, big - 1) == -1
    assert x.tolist() == ref
    # a range that the reference leaves at some index: restore stops there
    lim = sorted(abs(v) for v in ref[order:])[(n - order) // 2] if n > order else 0
    first = next((i for i in range(order, n) if not -lim <= ref[i] <= lim), -1)
    y = np.concatenate([warm, res]).astype(np.int64)
    assert lpc.restore(y, n, coefs, order, shift, -lim, lim) == first
    if first >= 0:
        assert y[:first].tolist() == ref[:first]
