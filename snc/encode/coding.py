"""Coding a file: the streams planned, every segment coded in closed loop and written, the measurements stored.

Work is done one segment at a time, so memory stays bounded for hour-long input.  Alongside the packets the
encoder hashes what a decoder will produce (the signal hashes of spec snc-format.md) and measures every stream
(:class:`StreamStats`).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..container.hashing import SignalHasher
from ..container.model import StreamInfo
from ..container.writer import SncWriter
from ..errors import SncWarning
from ..signal.loudness import LoudnessMeter
from .report import EncodeReport
from .residual import code_segment
from .sources import checked_sources, warn_clipped
from .streams import describe_streams, file_info, file_meta, plan_streams


class StreamStats:
    """Measurements stored per stream: mean square (the remix rule weighs by it) and, for
    stems, BS.1770-4 integrated loudness and true peak (players normalise with them)."""

    def __init__(self, scale: float, samplerate: int, channels: int, loudness: bool):
        self.scale = scale
        self.total = 0.0
        self.count = 0
        self.meter = LoudnessMeter(samplerate, channels) if loudness else None

    def update(self, block: np.ndarray) -> None:
        x = block.astype(np.float64) / self.scale
        self.total += float(np.einsum("ij,ij->", x, x))
        self.count += x.size
        if self.meter is not None:
            self.meter.update(x)

    def store(self, stream: StreamInfo) -> None:
        stream.mean_square_db = 10.0 * math.log10(self.total / self.count) if self.total > 0 else -math.inf
        if self.meter is not None:
            stream.loudness_lufs = self.meter.integrated_lufs()
            stream.true_peak_dbtp = self.meter.true_peak_dbtp()


def encode_file(mix, stems, output, options, *, separated, profile_loudness: dict, offset_db, progress,
                master=None) -> EncodeReport:
    """Encode ``mix`` and ``stems`` (sources as :func:`snc.encode` takes them; None: the mix alone) to ``output``
    with :class:`~snc.encode.options.EncodeOptions` ``options``; ``separated``: the separator's provenance (None:
    user stems); ``offset_db``: the tuning offset of ``--bitrate`` (None: the preset's own tuning); ``master``:
    the master stream's plan (:func:`snc.encode.master.fit_master`; None: no master stream)."""
    with checked_sources(mix, stems, options.samplerate, options.bits) as (mix_src, stem_srcs):
        return _encode_sources(mix_src, stem_srcs, output, options, separated=separated,
                               profile_loudness=profile_loudness, offset_db=offset_db, progress=progress,
                               master=master)


def _encode_sources(mix_src, stem_srcs, output, options, *, separated, profile_loudness, offset_db, progress,
                    master):
    preset = options.preset
    plan = plan_streams(mix_src.format, list(stem_srcs), preset, codec_id=options.codec, separated=separated,
                        lead=options.lead, offset_db=offset_db, master=master,
                        residual_coding=options.residual_coding)
    fmt = plan.fmt
    streams = describe_streams(plan, separated=separated, positions=options.positions, colours=options.colours)
    info = file_info(plan, mix_src.frames, preset.name, options.segment_frames, len(streams))
    meta = file_meta(plan, mix_src.format, source_tags=mix_src.tags, tags=options.tags, profiles=options.profiles,
                     lead=options.lead, profile_loudness=profile_loudness, music=options.music,
                     source_comments=mix_src.comments)

    scale = float(1 << (fmt.bits - 1)) if fmt.sample_format == "int" else 1.0
    stats = [StreamStats(scale, fmt.sample_rate, fmt.channels, loudness=not st.is_residual) for st in streams
             if not st.is_master]  # the master's gain is no signal: no statistics
    mix_hash = SignalHasher(fmt.sample_format)
    stream_hashes = [SignalHasher(c.format) for c in plan.codecs]
    if plan.master is not None:
        stream_hashes.append(SignalHasher(plan.master.codec.format))
    bytes_per_stream = [0] * len(streams)
    negative_zeros = 0
    with SncWriter(output, info, streams, meta=meta, pictures=options.pictures) as writer:
        done = 0
        while done < mix_src.frames:
            n = min(options.segment_frames, mix_src.frames - done)
            mix_block = mix_src.read(n, fmt)
            stem_blocks = [src.read(n, fmt) for src in stem_srcs.values()] if plan.has_stems else [mix_block]
            packets, decoded, decoded_mix, played = code_segment(plan, mix_block, stem_blocks,
                                                                 headroom_db=float(options.remix_headroom),
                                                                 frame=done, segment=done // options.segment_frames)
            if fmt.sample_format != "int":
                negative_zeros += int(np.count_nonzero(np.signbit(mix_block) & ~np.signbit(decoded_mix)))
            writer.write_segment(n, packets)
            for k, (blk, pkt) in enumerate(zip(decoded, packets)):
                stream_hashes[k].update(blk)
                bytes_per_stream[k] += len(pkt)
                if k < len(stats):  # a stem's statistics are of the stem as it plays in the mix
                    stats[k].update(played[k] if k < len(played) else blk)
            # hash what a decoder will produce (equal to the input mix when the residual is lossless)
            mix_hash.update(decoded_mix)
            done += n
            if progress is not None:
                progress({"stage": "encode", "frames_done": done, "frames_total": mix_src.frames})
        for st, st_stats in zip(streams, stats):  # the master, last, has none
            st_stats.store(st)
        writer.close(mix_hash.digest(), [h.digest() for h in stream_hashes])
    warn_clipped([mix_src, *stem_srcs.values()], fmt)
    if negative_zeros:
        warnings.warn(f"mix: {negative_zeros} samples are -0.0, which the exact mix gives back as +0.0 (equal in "
                      f"value; its sum starts from +0.0, spec snc-format.md 3.1)", SncWarning, stacklevel=5)

    path = os.fspath(output) if isinstance(output, (str, os.PathLike)) else None
    size = os.path.getsize(path) if path else output.tell()
    return EncodeReport(path=path, file_bytes=size, frames=mix_src.frames, sample_rate=fmt.sample_rate,
                        channels=fmt.channels, preset=preset.name,
                        streams=[dict(name=s.name, role=s.role, codec=s.codec_id, bytes=b)
                                 for s, b in zip(streams, bytes_per_stream)])
