"""The master stream: the gain a mastering chain put on the sum of the stems, fitted per segment.

A compressor or limiter after the stems' sum makes ``mix - sum(stems)`` loud (docs/mastering.md); most of it
is a gain that follows the music's envelope.  A first pass (:func:`fit_master`) fits, per segment and
channel, knots of a gain linear between them (:mod:`snc.codecs.gain`) by least squares to
``mix ~ G * sum(stems)``, and keeps them only where they pay in bytes: the residual with and without the
gain is coded by the ``lossless`` codec, and the gain stays where its packet plus that residual is the
smaller.  Measured, not modelled: on unmastered music the gain fits the residual's noise, and what that
saves is worth no more than the knots.  A file whose every segment keeps unity has no master stream (and
stays a version 1.0 file).  The decision is made once, on the stems as given, for every preset.

Where a gain pays, an EQ (:mod:`snc.encode.master_eq`, format 1.3) and, where the stems are exact, a
compressor computed from the stems (:mod:`snc.encode.master_dynamics`, format 1.4) are fitted on an excerpt
and kept when the whole file then costs fewer bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..codecs import get_codec
from ..codecs.gain import MAX_KNOT, MAX_KNOT_SHIFT, MIN_KNOT_SHIFT, UNITY, GainCodec, interpolate, knot_count
from ..container.schema import MAX_SEGMENT_SAMPLES, MAX_STREAMS
from .knots import knot_values
from .sources import checked_sources, coded_format, residual_format

#: the knots' spacing in seconds: a limiter's attack (it moves the gain no faster), rounded to a power of two
#: of frames (128 at 44.1 and 48 kHz)
KNOT_SECONDS = 0.003
#: the EQ is fitted on this much of the middle of the file: a mastering EQ does not change along the song, its
#: 17 unknowns have half a million equations in 6 s of stereo, and the fit's time grows with the frames it sees
EQ_FIT_SECONDS = 6.0
#: the EQ keeps a stem of at most this many bits within its fixed point (snc.kernels.master_eq)
MAX_EQ_BITS = 24


@dataclass
class MasterPlan:
    """The master stream of one file: its codec, every segment's knots (None: unity) and their packets."""

    codec: GainCodec
    knots: list[np.ndarray | None]
    packets: list[bytes]

    def gain(self, segment: int, frames: int) -> np.ndarray:
        """The segment's knots' gain, as a decoder gets it from the packet (the codec is lossless)."""
        knots = self.knots[segment]
        return self.codec.unity(frames) if knots is None else interpolate(knots, frames, self.codec.knot_shift)

    def played_gain(self, segment: int, stems: list[np.ndarray]) -> np.ndarray:
        """The gain the segment's ``stems`` (every stem, as a decoder decodes them) play through: the knots',
        with a compressor combined with its gain (:meth:`GainCodec.segment_gain`)."""
        return self.codec.segment_gain(self.gain(segment, len(stems[0])), stems)


def knot_shift_for(sample_rate: int) -> int:
    """log2 of the knot spacing: :data:`KNOT_SECONDS` in frames, to the nearest power of two."""
    return min(max(round(math.log2(sample_rate * KNOT_SECONDS)), MIN_KNOT_SHIFT), MAX_KNOT_SHIFT)


def fit_knots(mix: np.ndarray, total: np.ndarray, knot_shift: int) -> np.ndarray:
    """Least-squares Q14 knots ((K, channels) int32, 0..MAX_KNOT) of ``mix ~ G * total`` per channel."""
    frames, channels = mix.shape
    out = np.empty((knot_count(frames, knot_shift), channels), dtype=np.int32)
    for c in range(channels):
        g = knot_values(mix[:, c].astype(np.float64), total[:, c].astype(np.float64), knot_shift)
        out[:, c] = np.clip(np.rint(g * UNITY), 0, MAX_KNOT)
    return out


def segment_knots(codec: GainCodec, residual_codec, mix: np.ndarray, stems: list[np.ndarray]):
    """``(knots, packet, bytes)`` of one segment; knots None where unity costs fewer bytes (module docstring) or
    the gained stems would leave a residual wider than its format (``residual_codec``: lossless, in that
    format); ``bytes``: the packet's and the residual's, as measured (0 when the stems are the mix)."""
    # every segment plays through the master's EQ and compressor, a unity one too (spec 3.7)
    if codec.eq is None and codec.compressor is None:
        heard = stems
    else:
        unity_gain = codec.segment_gain(codec.unity(len(mix)), stems)
        heard = [codec.play(unity_gain, s) for s in stems]
    total = sum(s.astype(np.int64) for s in heard)
    plain = mix.astype(np.int64) - total
    unity = codec.encode(None)
    if not plain.any():
        return None, unity, 0
    plain_bytes = len(unity) + len(residual_codec.encode(plain.astype(np.int32)))
    knots = fit_knots(mix, total, codec.knot_shift)
    gain = codec.segment_gain(interpolate(knots, len(mix), codec.knot_shift), stems)
    rest = mix.astype(np.int64) - sum(codec.play(gain, s).astype(np.int64) for s in stems)
    lo, hi = -(1 << (residual_codec.bits - 1)), (1 << (residual_codec.bits - 1)) - 1
    if rest.min() < lo or rest.max() > hi:
        return None, unity, plain_bytes
    # least squares on a residual the gain does not explain (noise) still removes about knots / samples of its
    # energy, one sample's worth per free knot: a fit that removes no more has found nothing to save
    explained = 1.0 - np.einsum("ij,ij->", rest, rest, dtype=np.float64) / np.einsum("ij,ij->", plain, plain,
                                                                                    dtype=np.float64)
    if explained <= knots.size / mix.size:
        return None, unity, plain_bytes
    packet = codec.encode(knots)
    with_gain = len(packet) + len(residual_codec.encode(rest.astype(np.int32)))
    return (knots, packet, with_gain) if with_gain < plain_bytes else (None, unity, plain_bytes)


def fit_master(mix, stems, options) -> MasterPlan | None:
    """The first pass over user stems (:class:`~snc.encode.options.EncodeOptions` ``options``): the master
    stream's plan, or None when no segment's gain pays, the file is float, or the limits leave no room.

    The knots' spacing is :data:`KNOT_SECONDS` (a limiter's attack).  Where the stems are coded exactly, the
    first pass's bytes are the file's own, and half of it is tried too and kept where the finer knots and the
    residual they leave cost fewer bytes in all (a fast limiter moves its gain within the attack time; a slow
    compressor does not, and its finer knots only cost).  Where the stems are coded perceptually the residual
    is mostly their coding noise, which no finer gain explains: the measure would pick knots that only cost.
    The EQ and the compressor are tried after the knots (:func:`_eq_plan`, :func:`_compressor_plan`)."""
    best = excerpt = None
    spacings = (0, 1) if "stems" in options.preset.exact else (0,)
    for finer in spacings:
        with checked_sources(mix, stems, options.samplerate, options.bits) as (mix_src, stem_srcs):
            source_fmt = mix_src.format
            fmt = coded_format(source_fmt) if options.preset.perceptual_residual else source_fmt
            streams = len(stem_srcs) + 2
            if (fmt.sample_format != "int" or not stem_srcs or streams > MAX_STREAMS
                    or streams * fmt.channels * options.segment_frames > MAX_SEGMENT_SAMPLES):
                return None
            shift = knot_shift_for(fmt.sample_rate) - finer
            if shift < MIN_KNOT_SHIFT:
                break
            codec = GainCodec(channels=fmt.channels, knot_shift=shift)
            keep = _excerpt(mix_src.frames, fmt.sample_rate)
            chosen, kept = _first_pass(codec, mix_src, stem_srcs, fmt, options, keep)
        cost = sum(size for _, _, size in chosen)
        if excerpt is None:
            excerpt, plain = kept, (cost, shift)  # without a gain that pays: what the EQ must beat
        if all(knots is None for knots, _, _ in chosen):
            break  # no gain pays at this spacing: a finer one only costs more knots
        if best is None or cost < best[0]:
            best = (cost, MasterPlan(codec, [k for k, _, _ in chosen], [p for _, p, _ in chosen]))
    if excerpt is not None and options.master_eq and fmt.bits <= MAX_EQ_BITS:
        eq_plan = _eq_plan(excerpt, plain[1] if best is None else best[1].codec.knot_shift, mix, stems, fmt, options)
        if eq_plan is not None and eq_plan[0] < (plain[0] if best is None else best[0]):
            best = eq_plan
    if best is not None and excerpt is not None and options.master_compressor and "stems" in options.preset.exact:
        comp_plan = _compressor_plan(excerpt, best[1].codec, mix, stems, fmt, options)
        if comp_plan is not None and comp_plan[0] < best[0]:
            best = comp_plan
    return None if best is None else best[1]


def _excerpt(frames: int, sample_rate: int) -> tuple[int, int]:
    """The frames the EQ is fitted on: :data:`EQ_FIT_SECONDS` from the middle of the file (or all of it)."""
    half = int(EQ_FIT_SECONDS * sample_rate) // 2
    return max(frames // 2 - half, 0), min(frames // 2 + half, frames)


def _eq_plan(excerpt, knot_shift: int, mix, stems, fmt, options):
    """``(bytes, plan)`` of a master with an EQ fitted on ``excerpt`` (``(mix, sum of the stems)``), or None when
    the fit fails or the EQ does not pay on the excerpt itself: its knots and residual, coded, are no smaller
    than the gain's alone there.  That test costs a fraction of the whole file's first pass, which only an EQ
    that passes it gets."""
    from .master_eq import fit_eq  # here: it loads the EQ's kernel

    eq = fit_eq(*excerpt, knot_shift)
    if eq is None:
        return None
    codec = GainCodec(channels=fmt.channels, knot_shift=knot_shift, eq=[rows.tolist() for rows in eq])
    return _paying_plan(GainCodec(channels=fmt.channels, knot_shift=knot_shift), codec, excerpt, mix, stems, fmt,
                        options)


def _compressor_plan(excerpt, codec: GainCodec, mix, stems, fmt, options):
    """``(bytes, plan)`` of the master ``codec`` (its spacing and EQ) with a compressor fitted on ``excerpt``, or
    None when the fit finds none or it does not pay on the excerpt (as :func:`_eq_plan`).  Only where the
    stems are exact: the compressor follows the stems as decoded, which are then the stems as given."""
    from .master_dynamics import fit_compressor  # here: it loads scipy and the compressor's kernel

    eq = None if codec.eq is None else [rows.tolist() for rows in codec.eq]
    heard = excerpt[1] if codec.eq is None else codec.heard(excerpt[1])
    params = fit_compressor(excerpt[0], heard, codec.knot_shift, fmt.sample_rate)
    if params is None:
        return None
    comp_codec = GainCodec(channels=fmt.channels, knot_shift=codec.knot_shift, eq=eq, compressor=params)
    return _paying_plan(codec, comp_codec, excerpt, mix, stems, fmt, options)


def _paying_plan(base: GainCodec, codec: GainCodec, excerpt, mix, stems, fmt, options):
    """``(bytes, plan)`` of the whole file's first pass with ``codec``, or None when its knots and residual,
    coded, are no smaller than ``base``'s on ``excerpt``: that test costs a fraction of the first pass."""
    residual_codec = _measuring_codec(residual_format(fmt, len(stems)).bits, fmt.channels)
    costs = [segment_knots(c, residual_codec, excerpt[0], [excerpt[1]])[2] for c in (base, codec)]
    if costs[1] >= costs[0]:
        return None
    with checked_sources(mix, stems, options.samplerate, options.bits) as (mix_src, stem_srcs):
        chosen, _ = _first_pass(codec, mix_src, stem_srcs, fmt, options, None)
    return (sum(size for _, _, size in chosen),
            MasterPlan(codec, [k for k, _, _ in chosen], [p for _, p, _ in chosen]))


def _measuring_codec(bits: int, channels: int):
    """The ``lossless`` codec the first pass measures residuals with: linear prediction and Rice codes alone,
    without the adaptive cascade or range coding -- a fraction of the time, and it ranks two residuals of the
    same kind as the full codec does (docs/mastering.md)."""
    codec = get_codec("lossless", {"format": "int", "bits": bits, "channels": channels, "residual_coding": "rice"})
    codec.filters = ()
    return codec


def _first_pass(codec: GainCodec, mix_src, stem_srcs, fmt, options, keep) -> tuple[list[tuple], tuple | None]:
    """:func:`segment_knots` of every segment at ``codec``'s spacing, and the mix and the stems' sum over the
    frames ``keep`` (``(start, stop)``; None: nothing kept)."""
    residual_codec = _measuring_codec(residual_format(fmt, len(stem_srcs)).bits, fmt.channels)
    chosen, done, kept = [], 0, ([], [])
    while done < mix_src.frames:
        n = min(options.segment_frames, mix_src.frames - done)
        mix_block, stem_blocks = mix_src.read(n, fmt), [s.read(n, fmt) for s in stem_srcs.values()]
        chosen.append(segment_knots(codec, residual_codec, mix_block, stem_blocks))
        if keep is not None and done < keep[1] and done + n > keep[0]:
            cut = slice(max(keep[0] - done, 0), min(keep[1] - done, n))
            kept[0].append(mix_block[cut])
            kept[1].append(sum(s[cut].astype(np.int64) for s in stem_blocks))
        done += n
        if options.progress is not None:
            options.progress({"stage": "master", "frames_done": done, "frames_total": mix_src.frames})
    return chosen, (np.concatenate(kept[0]), np.concatenate(kept[1])) if kept[0] else None
