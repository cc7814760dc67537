"""A file's streams: which there are, how each is coded (:class:`StreamPlan`), and how the file describes them.

The streams are the stems (or, without stems, the mix as one stream) and the residual, always last.  The
preset decides the sample format they are coded in and which are perceptual; a perceptual plan carries the
tuning its noise budgets follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..container.model import MASTER_ROLE, RESIDUAL_ROLE, ROLE_COLOURS, ROLE_POSITIONS, FileInfo, StreamInfo
from ..container.music import music_from_tags
from ..signal.audio_io import AudioFormat
from ..version import __version__
from . import stream_codecs
from .sources import check_exact_representable, coded_format, residual_format, role_for
from .tuning import PerceptualTuning


def _unchanged(block: np.ndarray) -> np.ndarray:
    return block


@dataclass
class StreamPlan:
    """How one encode codes its streams."""

    #: the sample format of the mix and the stems as coded, and the residual's (wider: it holds their difference)
    fmt: AudioFormat
    residual_fmt: AudioFormat
    #: the stems' names; without stems ``["mix"]``
    names: list[str]
    has_stems: bool
    #: the stems' codec (the one every stem's STRM chunk describes) ...
    stem_codec: object
    #: ... and the codec of every stream in order, the residual's last
    codecs: list
    #: the noise budgets' tuning; None: no stream is perceptual (no budgets)
    tuning: PerceptualTuning | None = None
    #: the SNR each stem keeps (:func:`snc.encode.allocation.allocate`), with a tuning
    stem_snr_db: list[float] | None = None
    #: the index of the rest stem, coded as the mix minus the other decoded stems (separated stems), or None
    rest: int | None = None
    #: the budgets of float stems are set on their 24-bit integers: the view and its format
    as_coded: Callable[[np.ndarray], np.ndarray] = _unchanged
    budget_fmt: AudioFormat | None = None
    #: the master stream (:class:`snc.encode.master.MasterPlan`), after the residual; None: the file has none
    master: object = None

    @property
    def residual_codec(self):
        return self.codecs[-1]


def plan_streams(source_fmt: AudioFormat, stem_names: list[str], preset, *, codec_id: str, separated, lead,
                 offset_db: float | None, master=None, residual_coding: str = "adaptive") -> StreamPlan:
    """The plan of a file of ``stem_names`` (empty: the mix alone) from a source in ``source_fmt``;
    ``separated``: a separator made the stems; ``offset_db``: ``--bitrate``'s offset of the tuning;
    ``master``: the master stream's plan (:func:`snc.encode.master.fit_master`), or None;
    ``residual_coding``: the ``lossless`` codec's (``EncodeOptions.residual_coding``)."""
    has_stems = bool(stem_names)
    perceptual = preset.perceptual_stems(has_stems)
    fmt = coded_format(source_fmt) if preset.perceptual_residual else source_fmt
    tuning = None
    if perceptual:
        tuning = preset.tuning
        if separated is not None and has_stems:
            tuning = tuning.for_separated()
        if offset_db is not None:  # --bitrate: the best sound at the rate (:meth:`PerceptualTuning.at_bitrate`)
            tuning = tuning.at_bitrate().shifted(offset_db)
    check_exact_representable(fmt, has_stems)
    names = list(stem_names) if has_stems else ["mix"]
    res_fmt = residual_format(fmt, len(names))
    stem_codec = stream_codecs.stem_codec(fmt, preset, tuning, has_stems=has_stems, codec_id=codec_id,
                                          residual_coding=residual_coding)
    res_codec = stream_codecs.residual_codec(res_fmt, preset, tuning, codec_id=codec_id,
                                             residual_coding=residual_coding)
    plan = StreamPlan(fmt=fmt, residual_fmt=res_fmt, names=names, has_stems=has_stems, stem_codec=stem_codec,
                      codecs=[stem_codec] * len(names) + [res_codec], tuning=tuning, budget_fmt=fmt, master=master)
    if not perceptual:
        return plan
    # separated stems: the separator's last stem (it takes what the others miss, snc.separate.base) is coded as
    # the rest of the mix, like a mix coded alone (PerceptualTuning.separated_speech_snr_db)
    if separated is not None and len(names) > 1 and tuning.separated_speech_snr_db is not None:
        plan.rest = len(names) - 1
        plan.codecs[plan.rest] = stream_codecs.heard_alone_codec(fmt, tuning)
    from ..render.profiles import LEAD, matches

    plan.stem_snr_db = [tuning.lead_snr_db if matches(LEAD, name, role_for(name), lead) else tuning.stem_snr_db
                        for name in names]  # without stems: the one "mix" stream, never a lead
    if fmt.sample_format != "int":  # a float file's perceptual stems are coded as 24-bit integers
        plan.as_coded = stem_codec.integers
        plan.budget_fmt = AudioFormat(fmt.sample_rate, fmt.channels, "int", stem_codec.int_bits)
    return plan


def describe_streams(plan: StreamPlan, *, separated, positions: dict, colours: dict | None = None
                     ) -> list[StreamInfo]:
    """The STRM chunk of every stream: name, role, codec, colour (``colours[name]``, else the role's),
    position and provenance."""
    colours = colours or {}
    streams = []
    provenance = "mix" if not plan.has_stems else ("studio" if separated is None else "separated")
    for i, name in enumerate(plan.names):
        role = role_for(name) if plan.has_stems else "mix"
        position = replace(ROLE_POSITIONS.get(role, ROLE_POSITIONS["other"]))  # a copy: StreamInfo owns it
        if name in positions:
            position.azimuth_deg, position.elevation_deg = positions[name]
        streams.append(StreamInfo(name=name, role=role, channels=plan.fmt.channels,
                                  codec_id=plan.stem_codec.codec_id, codec_config=plan.stem_codec.get_config(),
                                  index=i, colour=colours.get(name) or ROLE_COLOURS.get(role, "#808080"),
                                  position=position, provenance=provenance, provenance_detail=dict(separated or {})))
    res_codec = plan.residual_codec
    streams.append(StreamInfo(name=RESIDUAL_ROLE, role=RESIDUAL_ROLE, channels=plan.fmt.channels,
                              codec_id=res_codec.codec_id, codec_config=res_codec.get_config(),
                              index=len(plan.names), colour=ROLE_COLOURS[RESIDUAL_ROLE], provenance="residual"))
    if plan.master is not None:
        codec = plan.master.codec
        streams.append(StreamInfo(name=MASTER_ROLE, role=MASTER_ROLE, channels=plan.fmt.channels,
                                  codec_id=codec.codec_id, codec_config=codec.get_config(), index=len(streams),
                                  colour=ROLE_COLOURS[RESIDUAL_ROLE], provenance="master"))
    return streams


def file_info(plan: StreamPlan, frames: int, preset_name: str, segment_frames: int, stream_count: int) -> FileInfo:
    """The INFO chunk."""
    fmt = plan.fmt
    return FileInfo(sample_rate=fmt.sample_rate, frames=frames, channels=fmt.channels,
                    sample_format=fmt.sample_format, bits=fmt.bits, preset=preset_name,
                    segment_frames=segment_frames, stream_count=stream_count)


def file_meta(plan: StreamPlan, source_fmt: AudioFormat, *, source_tags: dict, tags, profiles: dict, lead,
              profile_loudness: dict, music: dict | None = None, source_comments: dict | None = None) -> dict:
    """The META chunk: tags, encoder, profiles, the source format where it differs, the lead stem, the
    measured loudness of the mix and of every profile's render, and the musical metadata: ``music`` (checked),
    completed from what the source's tags and (FLAC) Vorbis comments say; only when there is some, so that a
    file without any is written as before."""
    loudness = dict(profile_loudness)
    meta = {"tags": {**source_tags, **dict(tags or {})}, "encoder": f"snc {__version__}", "profiles": profiles}
    if plan.fmt != source_fmt:  # a decoder may offer the source's format back (spec snc-format.md, META)
        meta["source_format"] = {"sample_format": source_fmt.sample_format, "bits": source_fmt.bits}
    if lead is not None:
        meta["lead"] = lead
    music = {**music_from_tags({**source_tags, **dict(source_comments or {})}), **dict(music or {})}
    if music:
        meta["music"] = music
    if loudness:
        meta.update(mix_loudness=loudness.pop("", None), profile_loudness=loudness)
    return meta
