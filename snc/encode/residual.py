"""The closed-loop residual, the heart of the format: ``R = M - sum(decode(encode(S_k)))``.

The residual is computed against the stems *as a decoder will decode them*, so the decoded mix
``sum(S'_k) + R'`` equals the mix wherever the residual is coded losslessly (spec section "Signal model"),
and otherwise carries only the residual's own coding noise: the stems' noise cancels.  Each segment is coded
in that order -- noise budgets, stems (decoded at once), residual -- by :func:`code_segment`.
"""

from __future__ import annotations

import numpy as np

from ..codecs.gain import UNITY
from ..errors import InputError
from ..signal.audio_io import AudioFormat
from ..signal.mixing import accumulator_dtype, exact_mix, sum_streams


def code(codec, block: np.ndarray, noise: np.ndarray | None = None) -> tuple[bytes, np.ndarray]:
    """``(packet, decoded)``: ``block`` coded and decoded as a decoder will decode it.  A lossless codec gives
    its input back (so it is not decoded again) and takes no noise budget; a perceptual one codes to ``noise``
    (the allowed noise power per bin; None: its own mask)."""
    if codec.lossless:
        return codec.encode(block), block
    packet = codec.encode(block) if noise is None else codec.encode(block, noise=noise)
    return packet, codec.decode(packet, len(block))


def rest_of_mix(mix_block: np.ndarray, decoded: list[np.ndarray], fmt: AudioFormat, acc_dtype):
    """``(block, clipped)``: the mix minus the decoded stems, in the stems' sample format.  Where the stems
    overshoot so far that the rest leaves that format (``clipped``), the residual keeps its budget and mends it."""
    lo, hi = -(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1
    rest = mix_block.astype(acc_dtype) - sum_streams(decoded, fmt.sample_format)
    clipped = bool(rest.size) and (rest.min() < lo or rest.max() > hi)
    return np.clip(rest, lo, hi).astype(mix_block.dtype), clipped


def residual_block(mix_block: np.ndarray, decoded: list[np.ndarray], fmt: AudioFormat, res_fmt: AudioFormat,
                   *, has_stems: bool, frame: int) -> np.ndarray:
    """The mix minus the decoded streams, in the residual's format; refused where integers overflow it
    (``frame``: the segment's first frame, for the message)."""
    residual = mix_block.astype(accumulator_dtype(fmt.sample_format)) - sum_streams(decoded, fmt.sample_format)
    if fmt.sample_format != "int":
        return residual
    lo, hi = -(1 << (res_fmt.bits - 1)), (1 << (res_fmt.bits - 1)) - 1
    if residual.size and (residual.min() < lo or residual.max() > hi):
        what = "the stems' sum" if has_stems else "the decoded mix"
        raise InputError(f"{what} differs from the mix by more than {res_fmt.bits}-bit "
                         f"samples can hold near frame {frame}")
    return residual.astype(np.int32)


def code_segment(plan, mix_block: np.ndarray, stem_blocks: list[np.ndarray], *, headroom_db: float, frame: int,
                 segment: int = 0):
    """One segment of every stream: ``(packets, decoded, decoded_mix, played)`` in stream order -- the stems,
    the residual, then the master's gain when the plan has a master stream (spec section 3.7).

    ``plan``: the :class:`~snc.encode.streams.StreamPlan`; ``stem_blocks``: the stems' samples (without stems
    ``[mix_block]``); ``frame``: the segment's first frame; ``segment``: its index.  ``decoded`` holds each
    stream as its packet decodes (a stem before the master's gain, the master its knots' gain);
    ``decoded_mix`` is what a decoder's exact mix gives, ``played`` each decoded stem as it plays in it."""
    fmt = plan.fmt
    gain = knots_gain = master_packet = None
    if plan.master is not None:
        master_packet = plan.master.packets[segment]
        knots_gain = plan.master.gain(segment, len(mix_block))
        # a compressor's part of the gain follows the stems: the ones given, then the decoded ones if they differ
        gain = plan.master.codec.segment_gain(knots_gain, stem_blocks) if plan.has_stems else knots_gain

    def heard(block):
        return block if gain is None else plan.master.codec.play(gain, block)
    stem_noise = res_noise = None
    if plan.tuning is not None:
        from . import allocation  # here: the psychoacoustic model's kernels load only when a budget is needed

        # the budgets of the stems as they play in the mix; a stem is coded before the master's gain, which
        # scales its noise by the gain's power in each transform frame
        stem_noise, res_noise = allocation.noise_budgets(
            plan.as_coded(mix_block), [plan.as_coded(heard(b)) for b in stem_blocks], plan.budget_fmt,
            tuning=plan.tuning, headroom_db=headroom_db, has_stems=plan.has_stems, stem_snr_db=plan.stem_snr_db)
        if gain is not None:
            power = frame_gain_power(gain)
            stem_noise = [n / power for n in stem_noise]
    packets, decoded, played = [], [], []
    for k, (codec, block) in enumerate(zip(plan.codecs, stem_blocks)):
        if k == plan.rest:
            block, clipped = rest_of_mix(mix_block, played, fmt, accumulator_dtype(fmt.sample_format))
            packet, out = code(codec, block, res_noise)
            if not clipped:  # the residual holds only the rest's coding noise, within the mix's budget
                res_noise = np.full_like(res_noise, np.inf)
        else:
            packet, out = code(codec, block, None if stem_noise is None else stem_noise[k])
        packets.append(packet)
        decoded.append(out)
        played.append(heard(out))
    if (gain is not None and plan.master.codec.compressor is not None and plan.has_stems
            and not all(codec.lossless for codec in plan.codecs[:len(decoded)])):
        gain = plan.master.codec.segment_gain(knots_gain, decoded)
        played = [heard(out) for out in decoded]
    residual = residual_block(mix_block, played, fmt, plan.residual_fmt, has_stems=plan.has_stems, frame=frame)
    packet, out = code(plan.residual_codec, residual, res_noise)
    packets.append(packet)
    decoded.append(out)
    decoded_mix = exact_mix([*played, out], fmt.sample_format, fmt.bits)
    if fmt.sample_format != "int" and not np.array_equal(decoded_mix, mix_block):
        # float sums are exact unless stems cancel far beyond the mix's precision
        raise InputError(f"float stems near frame {frame} cancel too much for the mix to be stored "
                         f"exactly (stems far louder than the mix?)")
    if gain is not None:
        packets.append(master_packet)
        decoded.append(knots_gain)  # what the master stream decodes to (its hash)
    return packets, decoded, decoded_mix, played


def frame_gain_power(gain: np.ndarray) -> np.ndarray:
    """The master gain's mean power in each transform frame of a packet, ``(F, channels, 1)`` like a noise
    budget: frame ``f`` spans samples ``(f - 1) * HOP .. (f + 1) * HOP`` (spec codec-perceptual.md)."""
    from ..kernels.mdct import HOP, n_frames

    g2 = (gain.astype(np.float64) / UNITY) ** 2
    frames = n_frames(len(gain))
    padded = np.pad(g2, ((HOP, (frames + 1) * HOP - HOP - len(gain)), (0, 0)), mode="edge")
    windows = padded.reshape(frames + 1, HOP, -1).mean(axis=1)
    return ((windows[:-1] + windows[1:]) / 2.0)[:, :, None]
