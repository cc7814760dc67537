"""Encoding: load -> (separate) -> encode stems -> residual (closed loop) -> mux -> verify.

The residual is computed against the *decoded* stems, ``R = M - sum(decode(encode(S_k)))``,
so the decoded mix ``sum(S'_k) + R'`` is exact whenever the residual codec is
lossless (spec section "Signal model").  Work is done one segment at a time:
memory stays bounded for hour-long input.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as _np

from . import __version__
from .signal.audio_io import AudioFormat, AudioSource
from .codecs import available_codecs, get_codec
from .container.hashing import SignalHasher
from .container.model import (KNOWN_ROLES, PRESETS, RESIDUAL_ROLE, ROLE_COLOURS, ROLE_POSITIONS, FileInfo,
                              StreamInfo, parse_direction)
from .container.schema import MAX_PICTURE, MAX_SEGMENT_FRAMES, MAX_STREAMS, MIN_SEGMENT_FRAMES
from .container.writer import SncWriter
from .signal.loudness import LoudnessMeter
from .signal.mixing import accumulator_dtype, exact_mix, sum_streams
from .errors import ChecksumError, InputError, NotAvailableError, SncWarning
from .fileutil import check_output, is_path
from .separate import SEPARATORS

IMPLEMENTED_PRESETS = ("archival", "lossless", "transparent", "compact")
DEFAULT_HEADROOM_DB = 6.0


@dataclass(frozen=True)
class PerceptualTuning:
    """How a perceptual preset sets the noise budgets (``spec/codec-perceptual.md`` section 9)."""

    #: coding noise re the masking threshold of the mix (dB; positive = more noise)
    quality_db: float
    #: in the third-octave bands 150 Hz - 4.3 kHz the mix's noise stays this far below the band (dB)
    speech_snr_db: float
    #: every stem keeps at least this SNR over each segment (dB), so it can be soloed
    stem_snr_db: float
    #: in every analysis band the mix's noise stays this far below the band's mean power (dB): when
    #: positive no band of the mix is dropped whole, even where the mask would allow it.  A spectral
    #: hole is what ViSQOL punishes most (measured on 15 s excerpts at quality_db 9: no floor -> 1 dB,
    #: worst item ViSQOL 4.43 -> 4.64; compact at quality_db 20: 3.22 -> 4.59, for +40 % bytes)
    band_snr_db: float
    #: assumed playback level of a full-scale sine (dB SPL), which places the absolute threshold of
    #: hearing.  The encoder cannot know the volume; at 160 the threshold never decides anything
    #: (measured on mod_pingus_6: dropping what the threshold at 96 dB SPL calls inaudible, mostly
    #: above 16 kHz, saves 3 % but costs 0.1 ViSQOL)
    full_scale_spl: float
    #: the lead stem's SNR (dB; the stem a karaoke remix mutes: ``encode(lead=)``, else the vocals).  Muted,
    #: the mask its coding noise hid under is gone, and the residual passes on part of that noise (spec
    #: 19.1).  Measured on fof_sectoid_feelings (guitar lead, 20 s): 20 dB leaves -29.2 dB of it, 22 dB
    #: -31.3 dB for +1.6 % bytes (a 6 dB floor in every band instead: -30.4 dB for +27 %)
    lead_snr_db: float
    #: noise substitution ``(lowest Hz, highest SNR dB)`` (:data:`snc.codecs.perceptual.NOISE_SUBSTITUTION`) of
    #: a mix coded alone, and of the residual (None: off).  Measured on 15 s excerpts, true stems, residual
    #: noise bands from 8 kHz under 10 dB: compact fof_sectoid_feelings 0.226 -> 0.160 x FLAC, mod_pingus_6
    #: 0.243 -> 0.189 at mix ViSQOL 4.515 / 4.572; transparent mod 0.358 -> 0.305 (ViSQOL 4.681 -> 4.632) but
    #: midi_openmsx_5432gone 4.646 -> 4.547, under 4.6 (4.589 even from 16 kHz): off for transparent stems
    noise_alone: tuple | None = (8000.0, 10.0)
    noise_residual: tuple | None = None
    #: ``noise_alone`` also fills high bands the budget drops whole (:attr:`PerceptualCodec.noise_fill`); set
    #: by :meth:`shifted` coarser than the preset, where a band floor below 0 dB lets whole bands drop
    noise_fill: bool = False
    #: a stem's band is left uncoded unless its energy is this far above its budget (dB;
    #: :attr:`snc.codecs.perceptual.PerceptualCodec.drop_db`).  Just above its budget a band keeps one or two
    #: +-1 values at ~12 bits each (flag, scale factor, a zero flag per bin); uncoded, its energy goes to the
    #: residual, which codes it only where the *mix* needs it.  3 dB is the stem budget's own margin (the
    #: stems get half the remix mask, :data:`snc.allocation.STEM_SHARE`), so a dropped band stays under the
    #: mask of a remix within the headroom.  Measured on the full corpus items, true stems (bench/perceptual.py),
    #: 3 dB against 0: transparent 0.281-0.402 -> 0.255-0.338 x FLAC, compact 0.149-0.208 -> 0.111-0.135,
    #: lossless 1.081-1.191 -> 1.056-1.124; mix ViSQOL per item at most 0.003 lower, up to +0.105 (midi compact).
    #: Not for streams heard as they are: the plain codec at 128 kbit/s with 2 dB lost 0.21 ViSQOL (lmms)
    stem_drop_db: float = 3.0
    #: separated stems (``separator=``; None: coded like studio stems).  A separator's ``other`` is by definition the
    #: rest of the mix, so it is coded as that: in closed loop, the mix minus the other decoded stems, at the
    #: mix's own budget (spec codec-perceptual.md 9, "the rest stem"), and the residual is left with nothing
    #: to code.  Stems and residual code every stem's noise twice (in the stem, then again in the residual,
    #: as noise, which costs more than the mix it refines: on 15 s of mod_pingus_6 the dsp residual alone
    #: took 1.05x the bytes of the whole plain mix); the rest codes the mix once, with its tonal structure.
    #: The price: the rest soloed holds the other stems' noise (spec 9).  Its speech floor (dB), higher than
    #: ``speech_snr_db``: the rest's noise meets its budget in every band, where the residual's was often
    #: below it (fof_sectoid_feelings, dsp stems: 19 dB gave STOI 0.9942 on a 15 s excerpt, 22 dB
    #: 0.9968 on the full 45 s)
    separated_speech_snr_db: float | None = None
    #: ... the SNR floor of every separated stem, lead included (dB).  A separated stem is an estimate: its
    #: separation error (the dsp stems' SI-SDR against the true sources is -16 to +5 dB on the corpus) is far
    #: louder than coding noise this far below it, so the studio floors (``stem_snr_db``, ``lead_snr_db``)
    #: would pay for precision the stem never had.  Measured on fof_sectoid_feelings (full 45 s, dsp stems, before
    #: the rest stem, speech floor 21 dB): floors 20 / 22 dB -> 12 took 0.413 to 0.361 x FLAC, the lead stem
    #: 205 -> 101 kB
    separated_snr_db: float = 12.0
    #: ... and the rest's noise substitution (as ``noise_alone``, which a mix coded alone uses).  Full 45 s, dsp
    #: stems, mix ViSQOL (x FLAC) from 12 / 16 kHz: fof_sectoid_feelings 4.627 (0.319) / 4.636 (0.330);
    #: mod_pingus_6 4.603 (0.293) / 4.643 (0.310), without noise bands 4.669 (0.339).  From 8 kHz (15 s
    #: excerpts) 4.609 - 4.612: too close to the 4.6 of transparency
    separated_noise: tuple | None = (16000.0, 10.0)

    def for_separated(self) -> "PerceptualTuning":
        """The tuning of a file whose stems a separator made: the speech floor, stem floors and noise
        substitution of the rest stem (:attr:`separated_speech_snr_db`); unchanged without one."""
        if self.separated_speech_snr_db is None:
            return self
        return replace(self, speech_snr_db=self.separated_speech_snr_db, stem_snr_db=self.separated_snr_db,
                       lead_snr_db=self.separated_snr_db, noise_alone=self.separated_noise)

    def at_bitrate(self) -> "PerceptualTuning":
        """The tuning ``--bitrate`` shifts: the speech floor at most :data:`BITRATE_SPEECH_SNR_DB`."""
        return replace(self, speech_snr_db=min(self.speech_snr_db, BITRATE_SPEECH_SNR_DB))

    def shifted(self, offset_db: float) -> "PerceptualTuning":
        """Everything ``offset_db`` coarser (``--bitrate`` searches this one number).  Finer (negative
        offsets) also narrows noise substitution: with bits to spare, a band's waveform is worth them
        (measured, plain codec at 192 kbit/s against Opus: -0.06 ViSQOL on average with the full threshold).
        Coarser (positive offsets) widens it for the streams heard alone (``noise_alone``): from an octave lower
        per :data:`NOISE_WIDEN_DB` (down to :data:`NOISE_LOWEST_HZ`), up to ``offset_db`` more SNR, and into bands
        the budget drops whole (``noise_fill``).  Measured on the plain codec, 20 s excerpts, ViSQOL at 64 kbit/s:
        lmms_skiessi_onion 2.69 -> 3.46, mod_pingus_6 2.98 -> 4.26, fof_sectoid_feelings 3.03 -> 4.01,
        midi_openmsx_5432gone 2.83 -> 3.94, wesnoth_northerners 2.36 -> 3.06 (Opus on the full files at
        64 kbit/s: 3.64 - 4.55)."""
        def noise(setting):
            if setting is None or offset_db >= 0:
                return setting
            lowest_hz, max_snr_db = setting
            return (lowest_hz, max_snr_db + offset_db) if max_snr_db + offset_db > 0 else None

        def widened(setting):
            if setting is None or offset_db <= 0:
                return noise(setting)
            lowest_hz, max_snr_db = setting
            return (max(lowest_hz * 2.0 ** (-offset_db / NOISE_WIDEN_DB), NOISE_LOWEST_HZ), max_snr_db + offset_db)

        return replace(self, quality_db=self.quality_db + offset_db, noise_fill=offset_db > 0 or self.noise_fill,
                       noise_alone=widened(self.noise_alone), noise_residual=noise(self.noise_residual),
                       speech_snr_db=max(self.speech_snr_db - offset_db, 0.0),
                       stem_snr_db=max(self.stem_snr_db - offset_db, 0.0), band_snr_db=self.band_snr_db - offset_db,
                       lead_snr_db=max(self.lead_snr_db - offset_db, 0.0))


#: :meth:`PerceptualTuning.shifted`, coarser than the preset: the noise bands of a stream heard alone start an octave
#: lower per this many dB, but not below NOISE_LOWEST_HZ (measured at 64 kbit/s, 20 s excerpts, from 3 / 5 kHz:
#: mod_pingus_6 ViSQOL 4.234 / 4.228, lmms_skiessi_onion 3.426 / 3.409)
NOISE_WIDEN_DB = 3.0
NOISE_LOWEST_HZ = 3000.0

#: ``--bitrate`` asks for the best sound at a rate, not for transparency: there the transparent preset's speech
#: floor (19 dB, set for mix STOI >= 0.996) takes the bits that the rest of the spectrum needs more.  Measured on
#: the plain codec, 20 s excerpts of the five corpus mixes, ViSQOL at 128 kbit/s with the floor at 19 -> 15 -> 12
#: dB: lmms_skiessi_onion 4.350 -> 4.571 -> 4.609 (Opus 4.565), mod_pingus_6 4.532 -> 4.572 -> 4.579 (Opus
#: 4.650), STOI 0.9934 -> 0.9890 -> 0.9844 on lmms (Opus 0.9861).  Of 19, 15, 12 and 9 dB, 15 is the highest
#: floor that keeps every item within 0.1 ViSQOL of Opus at 128 and 192 kbit/s; STOI stays near Opus's (mean
#: 0.9894 against 0.9907 at 128)
BITRATE_SPEECH_SNR_DB = 15.0

PERCEPTUAL_TUNING = {
    # tuned on 15 s excerpts of the four multitrack corpus items: transparent for STOI >= 0.996 (the speech
    # floor binds it: 17 dB gives 0.9959), ViSQOL >= 4.6 (quality_db and the band floor) and stem SNR >= 20 dB;
    # compact for ViSQOL >= 4.4 at the fewest bytes; lossless for the fewest bytes (the stems' coarseness
    # against the lossless residual's size)
    "transparent": PerceptualTuning(quality_db=9.0, speech_snr_db=19.0, stem_snr_db=20.0, band_snr_db=1.0,
                                    full_scale_spl=160.0, lead_snr_db=22.0, separated_speech_snr_db=22.0),
    "lossless": PerceptualTuning(quality_db=9.0, speech_snr_db=19.0, stem_snr_db=20.0, band_snr_db=1.0,
                                 full_scale_spl=160.0, lead_snr_db=22.0),
    # compact's speech floor: 8 dB before noise bands took its high bands, 6.5 since (15 s excerpts: mod_pingus_6
    # -2 %, midi_openmsx_5432gone -3 %, ViSQOL 4.58 / 4.41)
    "compact": PerceptualTuning(quality_db=20.0, speech_snr_db=6.5, stem_snr_db=6.0, band_snr_db=0.3,
                                full_scale_spl=160.0, lead_snr_db=8.0, noise_residual=(8000.0, 10.0)),
}
DEFAULT_SEGMENT_FRAMES = 32768
#: perceptual packets are independent, so each repeats the frame on its boundary and re-learns its
#: entropy models: longer segments save 3.4 % (measured on mod_pingus_6, transparent, 32768 -> 65536) and
#: 1.2 - 1.6 % more at 131072 (mod_pingus_6, fof_sectoid_feelings, full 45 s, mix SNR within 0.03 dB).
#: The price: a seek decodes up to 3 s (44.1 kHz) of every stream it plays before the sample it wants
PERCEPTUAL_SEGMENT_FRAMES = 131072
LENGTH_TOLERANCE_S = 1.0

ProgressCallback = Callable[[dict], None]
"""Called with ``{"stage": str, "frames_done": int, "frames_total": int}`` as the work advances, stage by stage
in this order: ``"separate"`` (without stems; per chunk, also ``"separator"``), ``"measure"`` (perceptual
presets: a pass for the stems' loudness), ``"bitrate search"`` (with ``bitrate=``: the frames count the search
steps; also ``step``, ``steps``, ``offset_db``, ``kbps``) and ``"encode"`` (after every segment).  Within a
stage ``frames_done`` grows to ``frames_total``; snc-encode's progress bars are drawn from these events."""


@dataclass
class EncodeReport:
    """What :func:`encode` did: sizes, timings and, with ``verify=True``, the verification result."""

    path: str | None
    file_bytes: int
    frames: int
    sample_rate: int
    channels: int
    preset: str
    streams: list[dict] = field(default_factory=list)  # name, role, codec, bytes
    encode_seconds: float = 0.0
    #: the separator that made the stems (None: user stems or none), how ``auto`` chose, its time
    separator: str | None = None
    separator_note: str = ""
    separate_seconds: float = 0.0
    verified: bool | None = None
    verify_details: dict | None = None

    @property
    def realtime_factor(self) -> float:
        return (self.frames / self.sample_rate) / self.encode_seconds if self.encode_seconds else math.inf


def _check_options(preset: str, separator: str, bitrate) -> None:
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset not in IMPLEMENTED_PRESETS:
        raise NotAvailableError(f"preset {preset!r} is not available yet (this version implements: "
                                f"{', '.join(IMPLEMENTED_PRESETS)})")
    if isinstance(separator, str) and separator not in SEPARATORS:
        raise InputError(f"unknown separator {separator!r}; choose one of {', '.join(SEPARATORS)}")
    if bitrate is not None:
        if preset not in ("transparent", "compact"):
            raise InputError(f"--bitrate applies to the transparent and compact presets, not {preset!r}")
        if not (isinstance(bitrate, (int, float)) and 8 <= bitrate <= 4000):
            raise InputError(f"bitrate must be 8..4000 kbps, got {bitrate!r}")


def _role_for(name: str) -> str:
    low = name.lower()
    return low if low in KNOWN_ROLES and low != RESIDUAL_ROLE else "other"


def _open_sources(mix, stems, samplerate, bits):
    mix_src = AudioSource(mix, name="mix", samplerate=samplerate, bits=bits)
    stem_srcs: dict[str, AudioSource] = {}
    try:
        for name, src in (stems or {}).items():
            if not isinstance(name, str) or not name or len(name.encode()) > 255 or name == RESIDUAL_ROLE:
                raise InputError(f"invalid stem name {name!r} (1..255 bytes, not {RESIDUAL_ROLE!r})")
            stem_srcs[name] = AudioSource(src, name=f"stem {name!r}", samplerate=samplerate, bits=bits)
    except BaseException:
        mix_src.close()
        for s in stem_srcs.values():
            s.close()
        raise
    return mix_src, stem_srcs


def _check_stems(mix_src: AudioSource, stem_srcs: dict[str, AudioSource]) -> None:
    fmt = mix_src.format
    if mix_src.frames == 0:
        raise InputError("mix: the audio is empty (0 frames)")
    if len(stem_srcs) + 1 > MAX_STREAMS:
        raise InputError(f"too many stems ({len(stem_srcs)}; at most {MAX_STREAMS - 1})")
    for name, src in stem_srcs.items():
        if src.format.sample_rate != fmt.sample_rate:
            raise InputError(f"stem {name!r} is {src.format.sample_rate} Hz, the mix {fmt.sample_rate} Hz: resample "
                             f"it first, e.g. `sox {_example_path(src, name)} -r {fmt.sample_rate} "
                             f"{name}-{fmt.sample_rate}.wav`")
        if src.format.channels != fmt.channels:
            raise InputError(f"stem {name!r} has {src.format.channels} channels, the mix {fmt.channels}: convert it "
                             f"first, e.g. `sox {_example_path(src, name)} {name}-{fmt.channels}ch.wav "
                             f"remix {_sox_remix(src.format.channels, fmt.channels)}`")
        diff = src.frames - mix_src.frames
        if diff:
            if abs(diff) > LENGTH_TOLERANCE_S * fmt.sample_rate:
                raise InputError(f"stem {name!r} is {src.frames} frames long, the mix {mix_src.frames} "
                                 f"(differs by more than {LENGTH_TOLERANCE_S:g} s)")
            action = "padded with silence" if diff < 0 else "trimmed"
            warnings.warn(f"stem {name!r} is {abs(diff)} frames {'shorter' if diff < 0 else 'longer'} than the "
                          f"mix; {action} to the mix length", SncWarning, stacklevel=3)


def _example_path(src: AudioSource, name: str) -> str:
    import shlex

    return shlex.quote(src.path) if src.path else f"{name}.wav"


def _sox_remix(have: int, want: int) -> str:
    """sox's ``remix`` argument from ``have`` to ``want`` channels: mono is copied to every channel,
    anything else is averaged to mono and copied, or its first channels kept."""
    if have == 1:
        return " ".join(["1"] * want)
    if want == 1:
        return "-"
    return " ".join(str(c + 1) for c in range(want)) if want < have else " ".join(
        [str(c + 1) for c in range(have)] + ["0"] * (want - have))


def _check_exact_representable(fmt: AudioFormat, has_stems: bool) -> None:
    """A float64 residual holds ``M - sum(S_k)`` exactly only for integer and float32 mixes.

    For a float64 mix the residual's ulp exceeds the mix's wherever |M - S| > |M|
    (about 0.05 % of samples of ordinary music), so format 1.0 cannot store a
    float64 mix with stems bit-exactly; spec section "Signal model".
    """
    if fmt.sample_format == "float64" and has_stems:
        raise NotAvailableError("bit-exact archival of a float64 mix with stems is not available yet (integer "
                                "and float32 mixes are exact; a float64 mix without stems is exact too)")


def _residual_format(fmt: AudioFormat, stem_count: int) -> AudioFormat:
    """The residual needs headroom: |M - sum S_k| <= (K + 1) * full scale."""
    if fmt.sample_format != "int":
        return AudioFormat(fmt.sample_rate, fmt.channels, "float64", 64)
    bits = min(32, fmt.bits + math.ceil(math.log2(stem_count + 1)))
    return AudioFormat(fmt.sample_rate, fmt.channels, "int", bits)


def _codec_for(fmt: AudioFormat, codec_id: str):
    if codec_id not in available_codecs():
        raise InputError(f"unknown codec {codec_id!r}; available: {', '.join(available_codecs())}")
    if fmt.sample_format != "int" and codec_id == "lossless":
        codec_id = "float"  # the lossless codec is integer-only; "float" splits floats into integers and bits
    cfg = {"format": fmt.sample_format, "channels": fmt.channels}
    if fmt.sample_format == "int":
        cfg["bits"] = fmt.bits
    return get_codec(codec_id, cfg)


class _StreamStats:
    """Measurements stored per stream: mean square (the remix rule weighs by it) and, for
    stems, BS.1770-4 integrated loudness and true peak (players normalise with them)."""

    def __init__(self, scale: float, samplerate: int, channels: int, loudness: bool):
        self.scale = scale
        self.total = 0.0
        self.count = 0
        self.meter = LoudnessMeter(samplerate, channels) if loudness else None

    def update(self, block: _np.ndarray) -> None:
        x = block.astype(_np.float64) / self.scale
        self.total += float(_np.einsum("ij,ij->", x, x))
        self.count += x.size
        if self.meter is not None:
            self.meter.update(x)

    def store(self, stream: StreamInfo) -> None:
        stream.mean_square_db = 10.0 * math.log10(self.total / self.count) if self.total > 0 else -math.inf
        if self.meter is not None:
            stream.loudness_lufs = self.meter.integrated_lufs()
            stream.true_peak_dbtp = self.meter.true_peak_dbtp()


def encode(mix, output, *, stems: Mapping[str, object] | None = None, samplerate: int | None = None,
           bits: int | None = None, preset: str = "transparent", separator="none", bitrate=None,
           verify: bool = False, tags: Mapping[str, str] | None = None, pictures: list[dict] | None = None,
           codec: str = "lossless", remix_headroom: float = DEFAULT_HEADROOM_DB,
           segment_frames: int | None = None, progress: ProgressCallback | None = None,
           model=None, threads: int | None = None, profiles=None, positions=None,
           lead: str | None = None, overwrite: bool = False) -> EncodeReport:
    """Encode a mix (and its stems) to ``output`` (path or seekable binary file object).

    An output path that exists is refused unless ``overwrite=True`` (default False: a slip of the
    output name costs no file); one that is an input (also by hard or symbolic link) always is.

    ``mix`` and each value of ``stems`` are paths (anything soundfile reads) or
    arrays of shape ``(frames, channels)``; arrays need ``samplerate=`` (and
    ``bits=`` for integers wider than their dtype suggests).  Stems are
    converted to the mix's sample format; the residual keeps the mix exact.
    ``pictures``: cover art as dicts ``{"picture_type": 3, "mime": "image/png",
    "description": "", "data": bytes}`` (types as in FLAC's PICTURE block).

    Presets: ``archival`` codes everything losslessly (``codec`` picks the stream
    codec); ``lossless`` codes the stems perceptually and the residual losslessly
    (the mix stays bit-exact); ``transparent`` and ``compact`` code everything
    perceptually, with the noise allocated against the mix's masking threshold
    (:mod:`snc.allocation`) and ``remix_headroom`` dB of room for remixes.  Float input
    (float WAV, decoded MP3/Ogg/Opus, float arrays) works with every preset: ``archival`` and
    ``lossless`` keep it bit for bit (the ``float`` codec); ``transparent`` and ``compact`` code
    float and wider-than-24-bit input as 24-bit integers, record the source format in META
    ``source_format`` and warn about samples clipped at full scale (``docs/float-input.md``).

    Without ``stems``, ``separator`` makes them (:mod:`snc.separate`): ``dsp`` (built in),
    ``demucs`` (optional extra; ``model``: checkpoint path or name, ``threads``: CPU threads),
    ``auto`` (demucs when its weights are here, else dsp) or ``none`` (the mix as one stream),
    or a :class:`snc.separate.Separator` instance.  User stems always win over a separator.

    ``profiles``: authored playback profiles stored in the file (``{name: Profile or its JSON
    object}``, or the JSON text of ``--profiles FILE.json``); see :mod:`snc.render.profiles`.
    ``positions``: ``{stem name: (azimuth, elevation)}`` degrees to store instead of the role's default
    (:data:`snc.container.model.ROLE_POSITIONS`) for spatial rendering.
    ``lead``: the name of the lead stem, the one a karaoke render mutes (stored as META ``lead``; profiles
    name it ``lead``).  The perceptual presets code it with a higher SNR (``PerceptualTuning.lead_snr_db``)
    so that muting it leaves little of it.  Default: the stems of role ``vocals`` are the lead.
    """
    _check_options(preset, separator, bitrate)
    if is_path(output):
        check_output(output, inputs=[mix, *dict(stems or {}).values()], overwrite=overwrite)
    profiles = _check_profiles(profiles)
    positions = _check_positions(positions)
    if lead is not None and (not isinstance(lead, str) or not lead):
        raise InputError(f"lead must be a stem name, got {lead!r}")
    if segment_frames is None:
        segment_frames = DEFAULT_SEGMENT_FRAMES if preset == "archival" else PERCEPTUAL_SEGMENT_FRAMES
    if not MIN_SEGMENT_FRAMES <= segment_frames <= MAX_SEGMENT_FRAMES:
        raise InputError(f"segment_frames must be {MIN_SEGMENT_FRAMES}..{MAX_SEGMENT_FRAMES}")
    if codec not in available_codecs():
        raise InputError(f"unknown codec {codec!r}; available: {', '.join(available_codecs())}")
    if not (isinstance(remix_headroom, (int, float)) and 0.0 <= remix_headroom <= 24.0):
        raise InputError(f"remix headroom must be 0..24 dB, got {remix_headroom!r}")
    t0 = time.perf_counter()
    pictures = _check_pictures(pictures)
    note = ""
    if not stems and separator == "auto" and preset in ("archival", "lossless") and \
            _peek_format(mix, samplerate, bits).sample_format == "float64":
        # a float64 mix with stems cannot be stored bit-exactly (_check_exact_representable)
        separator, note = "none", "auto: no separation for a float64 mix (it could not stay exact with stems)"
    if stems or separator == "none":
        report = _encode(mix, output, stems, None, samplerate=samplerate, bits=bits, preset=preset, bitrate=bitrate,
                         verify=verify, tags=tags, pictures=pictures, codec=codec, remix_headroom=remix_headroom,
                         segment_frames=segment_frames, progress=progress, t0=t0, profiles=profiles,
                         positions=positions, lead=lead)
        report.separator_note = note
        return report
    from .separate import separate_mix

    with separate_mix(mix, separator=separator, samplerate=samplerate, bits=bits, model=model, threads=threads,
                      progress=progress) as sep:
        t_sep = time.perf_counter() - t0
        report = _encode(mix, output, sep.stems, sep.provenance, samplerate=samplerate, bits=bits, preset=preset,
                         bitrate=bitrate, verify=verify, tags=tags, pictures=pictures, codec=codec,
                         remix_headroom=remix_headroom, segment_frames=segment_frames, progress=progress, t0=t0,
                         profiles=profiles, positions=positions, lead=lead)
    report.separator, report.separator_note, report.separate_seconds = sep.separator, sep.note, t_sep
    return report


def _peek_format(mix, samplerate, bits) -> AudioFormat:
    src = AudioSource(mix, name="mix", samplerate=samplerate, bits=bits)
    src.close()
    return src.format


def _check_positions(positions) -> dict:
    return {str(name): parse_direction(name, value) for name, value in dict(positions or {}).items()}


def _check_profiles(profiles) -> dict:
    """Authored profiles as their stored JSON objects, validated before any work is done."""
    from .render.profiles import MAX_PROFILES, Profile, load_profiles_json

    if profiles is None:
        return {}
    if isinstance(profiles, str):
        parsed = load_profiles_json(profiles)
    elif isinstance(profiles, Mapping):
        if len(profiles) > MAX_PROFILES:
            raise InputError(f"at most {MAX_PROFILES} profiles")
        parsed = {str(k): v if isinstance(v, Profile) else Profile.from_json(str(k), v) for k, v in profiles.items()}
    else:
        raise InputError("profiles must be a dict of name -> profile, or JSON text")
    for name, p in parsed.items():
        p.check()
    return {name: {k: v for k, v in p.to_json().items() if k != "name"} for name, p in parsed.items()}


def _encode(mix, output, stems, separated, *, samplerate, bits, preset, bitrate, verify, tags, pictures, codec,
            remix_headroom, segment_frames, progress, t0, profiles, positions, lead) -> EncodeReport:
    """:func:`encode` once the stems are known; ``separated``: the separator's provenance, or None
    for user stems."""
    names = list(stems) if stems else ["mix"]
    unknown = set(positions) - set(names)
    if unknown:  # before any pass over the input
        raise InputError(f"positions name no stem: {', '.join(map(repr, sorted(unknown)))} (stems: {', '.join(names)})")
    if lead is not None and (not stems or lead not in names):
        raise InputError(f"lead {lead!r} names no stem" + (f" (stems: {', '.join(names)})" if stems else
                                                             " (a file without stems has no lead)"))

    # players of delivery files normalise with these; an archive is made for keeping, and its encode speed
    # matters more (the first pass costs ~35 % of an archival encode of a mix; a player measures instead)
    profile_loudness = {} if preset == "archival" else \
        _measure_profiles(mix, stems, samplerate, bits, profiles, lead, segment_frames, progress)

    def run(out, offset_db, report_progress):
        mix_src, stem_srcs = _open_sources(mix, stems, samplerate, bits)
        try:
            _check_stems(mix_src, stem_srcs)
            return _encode_sources(mix_src, stem_srcs, out, separated=separated, preset=preset, tags=tags,
                                   pictures=pictures, profiles=profiles, positions=positions, lead=lead,
                                   profile_loudness=profile_loudness,
                                   codec_id=codec, headroom_db=float(remix_headroom), offset_db=offset_db,
                                   segment_frames=segment_frames, progress=report_progress)
        finally:
            mix_src.close()
            for s in stem_srcs.values():
                s.close()

    offset_db = None  # the preset's own tuning
    if bitrate is not None:
        offset_db = _offset_for_bitrate(run, float(bitrate), progress)
    report = run(output, offset_db, progress)
    report.encode_seconds = time.perf_counter() - t0
    if verify:
        from .verify import verify_encoding

        report.verify_details = verify_encoding(output, mix, stems if separated is None else None,
                                                samplerate=samplerate, bits=bits)
        report.verified = report.verify_details["ok"]
        if not report.verified:
            if report.path:  # like libFLAC's verify mode: a wrong file is not left behind
                os.unlink(report.path)
            raise ChecksumError(f"verification failed, output removed: {report.verify_details}")
    return report


#: --bitrate: the offset of :meth:`PerceptualTuning.shifted` is searched in this range (dB), by bisection
#: on the measured size of whole in-memory encodes (the size falls monotonically with the offset).  Nine steps
#: (0.12 dB): with seven (0.47 dB) a 15 s excerpt asked for 192 kbit/s landed at 171, where the size moves
#: 3 % per 0.25 dB
BITRATE_SEARCH_DB = (-30.0, 30.0)
BITRATE_SEARCH_STEPS = 9


def _offset_for_bitrate(run, kbps: float, progress) -> float:
    """The tuning offset whose whole-file encode comes closest to ``kbps`` without exceeding it
    (if possible): bisection over :data:`BITRATE_SEARCH_DB`, ~0.12 dB resolution."""
    import io

    lo, hi = BITRATE_SEARCH_DB  # lo: finest (largest file), hi: coarsest
    best = hi
    for step in range(BITRATE_SEARCH_STEPS):
        mid = 0.5 * (lo + hi)
        report = run(io.BytesIO(), mid, None)
        got = report.file_bytes * 8 / (report.frames / report.sample_rate) / 1000.0
        if progress is not None:
            progress({"stage": "bitrate search", "step": step + 1, "steps": BITRATE_SEARCH_STEPS,
                      "offset_db": mid, "kbps": got, "frames_done": step + 1, "frames_total": BITRATE_SEARCH_STEPS})
        if got > kbps:
            lo = mid
        else:
            best = hi = mid
    return best


def _check_pictures(pictures) -> list[dict]:
    out = []
    for pic in pictures or ():
        try:
            item = dict(picture_type=int(pic.get("picture_type", 3)), mime=str(pic["mime"]),
                        description=str(pic.get("description", "")), data=bytes(pic["data"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InputError("a picture is a dict with 'mime' and 'data' (and optional 'picture_type', "
                             "'description')") from None
        if not 0 <= item["picture_type"] <= 255 or len(item["data"]) > MAX_PICTURE or not item["mime"].isascii():
            raise InputError(f"picture out of range (type 0..255, ASCII mime, at most {MAX_PICTURE} bytes)")
        out.append(item)
    return out


def _rest_of_mix(mix_block, decoded, fmt: AudioFormat, acc_dtype):
    """``(block, clipped)``: the mix minus the decoded stems, in the stems' sample format.  Where the stems
    overshoot so far that the rest leaves that format (``clipped``), the residual keeps its budget and mends it."""
    lo, hi = -(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1)) - 1
    rest = mix_block.astype(acc_dtype) - sum_streams(decoded, fmt.sample_format)
    clipped = bool(rest.size) and (rest.min() < lo or rest.max() > hi)
    return _np.clip(rest, lo, hi).astype(mix_block.dtype), clipped


#: the widest integers the perceptual presets code (144 dB of range, far below any coding noise): wider
#: integer input is rounded to it, and float input is quantised to it (full scale 1.0 = 2^23).  No dither:
#: the rounding error, 2^-24 of full scale, lies over 100 dB below the coding noise the presets allow
PERCEPTUAL_MAX_BITS = 24


def _coded_format(fmt: AudioFormat) -> AudioFormat:
    """The sample format a perceptual preset codes ``fmt`` as: integers of at most PERCEPTUAL_MAX_BITS bits.
    A float source's samples beyond full scale are clipped there (:func:`_warn_clipped` says how many);
    ``archival`` and ``lossless`` keep them exactly."""
    if fmt.sample_format == "int" and fmt.bits <= PERCEPTUAL_MAX_BITS:
        return fmt
    return AudioFormat(fmt.sample_rate, fmt.channels, "int", PERCEPTUAL_MAX_BITS)


def _warn_clipped(sources, fmt: AudioFormat) -> None:
    for src in sources:
        if src.clipped:
            warnings.warn(f"{src.name}: {src.clipped} samples beyond full scale (peak {src.peak:.4g}, "
                          f"{20 * math.log10(src.peak):+.2f} dBFS) clipped to {fmt.bits}-bit full scale; "
                          f"--preset archival or lossless keeps them exactly", SncWarning, stacklevel=4)


def _perceptual_codec(fmt: AudioFormat, **settings):
    """A perceptual codec for ``fmt``; ``settings``: fields of its
    :class:`~snc.codecs.perceptual.EncoderSettings` other than the sample rate (which ``fmt`` gives)."""
    from .codecs.perceptual import EncoderSettings, PerceptualCodec

    settings = EncoderSettings(samplerate=fmt.sample_rate, **settings)
    if fmt.sample_format == "int":
        return PerceptualCodec(format="int", bits=fmt.bits, channels=fmt.channels, settings=settings)
    # the stems of a float32 file (preset lossless): coded as 24-bit integers, decoded as float32
    return PerceptualCodec(format="float32", channels=fmt.channels, settings=settings)


def _heard_alone_codec(fmt: AudioFormat, tuning: PerceptualTuning):
    """The codec of a stream the listener hears as it is (a mix coded alone, the rest stem): noise bands
    by ``tuning.noise_alone`` and ``tuning.noise_fill``."""
    return _perceptual_codec(fmt, noise_substitution=tuning.noise_alone, noise_fill=tuning.noise_fill)


def _noise_budgets(mix_block, stem_blocks, fmt: AudioFormat, *, tuning: PerceptualTuning, headroom_db: float,
                   user_stems: bool, stem_snr_db: list[float]):
    """Allowed coding noise per bin for every stem (or the mix stream) and for the residual;
    ``stem_snr_db``: the SNR each stem keeps (:func:`snc.allocation.allocate`)."""
    from .allocation import allocate, band_floor, third_octave_floor
    from .codecs.perceptual.psy import masking_threshold, power_spectrum

    mix = mix_block.astype(_np.float64)
    quality_db = tuning.quality_db
    mask = masking_threshold(mix, fmt.sample_rate, float(1 << (fmt.bits - 1)), spl_full_scale=tuning.full_scale_spl)
    # the mix's own threshold: the intelligibility floor and the band floor (neither moves with quality_db)
    # bind the mix, i.e. the residual, not the stems
    mix_power = power_spectrum(mix)
    floors = _np.minimum(third_octave_floor(mix_power, fmt.sample_rate, tuning.speech_snr_db),
                         band_floor(mix_power, tuning.band_snr_db))
    mix_mask = _np.minimum(mask, floors * 10.0 ** (-quality_db / 10.0))
    if not user_stems:  # the mix is the only stream: it gets the whole mask, the residual nothing to code
        return [mix_mask * 10.0 ** (quality_db / 10.0)], _np.full_like(mask, _np.inf)
    powers = [power_spectrum(b.astype(_np.float64)) for b in stem_blocks]
    return allocate(mask, powers, headroom_db=headroom_db, quality_db=quality_db, stem_snr_db=stem_snr_db,
                    residual_mask=mix_mask, drop_db=tuning.stem_drop_db)


def _measure_profiles(mix, stems, samplerate, bits, profiles: dict, lead, block: int, progress) -> dict:
    """First pass over the input: the loudness of every profile's render (:mod:`snc.render.measure`)."""
    from .render.measure import ProfileMeters
    from .render.profiles import BUILTIN, Profile

    mix_src, stem_srcs = _open_sources(mix, stems, samplerate, bits)
    try:
        _check_stems(mix_src, stem_srcs)
        fmt = mix_src.format
        names = list(stem_srcs) or ["mix"]
        roles = [_role_for(n) for n in stem_srcs] or ["mix"]
        # "" is the plain mix: what --target-lufs alone normalises
        every = {"": Profile("mix"), **BUILTIN, **{k: Profile.from_json(k, v) for k, v in profiles.items()}}
        meters = ProfileMeters(every, names, roles, fmt.sample_rate, fmt.channels, lead)
        scale = float(1 << (fmt.bits - 1)) if fmt.sample_format == "int" else 1.0
        done = 0
        while done < mix_src.frames:
            n = min(block, mix_src.frames - done)
            m = mix_src.read(n, fmt).astype(_np.float64) / scale
            parts = [src.read(n, fmt).astype(_np.float64) / scale for src in stem_srcs.values()] or [m]
            meters.update(m, parts)
            done += n
            if progress is not None:
                progress({"stage": "measure", "frames_done": done, "frames_total": mix_src.frames})
        return meters.results()
    finally:
        mix_src.close()
        for s in stem_srcs.values():
            s.close()


def _encode_sources(mix_src, stem_srcs, output, *, separated, profiles, positions, lead, profile_loudness, preset, tags,
                    pictures, codec_id, headroom_db, offset_db, segment_frames, progress):
    user_stems = bool(stem_srcs)
    perceptual = preset in PERCEPTUAL_TUNING and (user_stems or preset != "lossless")
    # the presets that need not keep the mix exact code at most 24-bit integers (see _coded_format)
    fmt = _coded_format(mix_src.format) if perceptual and preset != "lossless" else mix_src.format
    tuning = None
    if perceptual:
        tuning = PERCEPTUAL_TUNING[preset]
        if separated is not None and user_stems:
            tuning = tuning.for_separated()
        if offset_db is not None:  # --bitrate: the best sound at the rate (:meth:`PerceptualTuning.at_bitrate`)
            tuning = tuning.at_bitrate().shifted(offset_db)
    _check_exact_representable(fmt, user_stems)
    names = list(stem_srcs) if user_stems else ["mix"]
    res_fmt = _residual_format(fmt, len(names))
    if not perceptual:
        stem_codec = _codec_for(fmt, codec_id)
    elif not user_stems:
        stem_codec = _heard_alone_codec(fmt, tuning)
    else:  # the residual cancels the stems' noise in the mix: a wider dead zone
        from .codecs.perceptual import STEM_ROUNDING

        # and no noise bands: a stem's noise band leaves the residual twice the band's energy to code
        stem_codec = _perceptual_codec(fmt, rounding=STEM_ROUNDING, noise_substitution=None,
                                       drop_db=tuning.stem_drop_db)
    if perceptual and preset != "lossless":
        res_codec = _perceptual_codec(res_fmt, noise_substitution=tuning.noise_residual)
    else:
        res_codec = _codec_for(res_fmt, codec_id)
    codecs = [stem_codec] * len(names) + [res_codec]
    # separated stems: the separator's last stem (it takes what the others miss, snc.separate.base) is coded as
    # the rest of the mix, like a mix coded alone (PerceptualTuning.separated_speech_snr_db)
    rest = None
    if perceptual and separated is not None and len(names) > 1 and tuning.separated_speech_snr_db is not None:
        rest = len(names) - 1
        codecs[rest] = _heard_alone_codec(fmt, tuning)
    if perceptual:
        from .render.profiles import LEAD, matches

        stem_snrs = [tuning.lead_snr_db if matches(LEAD, name, _role_for(name), lead) else tuning.stem_snr_db
                     for name in names]  # without stems: the one "mix" stream, never a lead

    streams = []
    provenance = "mix" if not user_stems else ("studio" if separated is None else "separated")
    for i, name in enumerate(names):
        role = _role_for(name) if user_stems else "mix"
        position = replace(ROLE_POSITIONS.get(role, ROLE_POSITIONS["other"]))  # a copy: StreamInfo owns it
        if name in positions:
            position.azimuth_deg, position.elevation_deg = positions[name]
        streams.append(StreamInfo(name=name, role=role, channels=fmt.channels, codec_id=stem_codec.codec_id,
                                  codec_config=stem_codec.get_config(), index=i, colour=ROLE_COLOURS.get(role, "#808080"),
                                  position=position, provenance=provenance,
                                  provenance_detail=dict(separated or {})))
    streams.append(StreamInfo(name=RESIDUAL_ROLE, role=RESIDUAL_ROLE, channels=fmt.channels,
                              codec_id=res_codec.codec_id, codec_config=res_codec.get_config(), index=len(names),
                              colour=ROLE_COLOURS[RESIDUAL_ROLE], provenance="residual"))
    info = FileInfo(sample_rate=fmt.sample_rate, frames=mix_src.frames, channels=fmt.channels,
                    sample_format=fmt.sample_format, bits=fmt.bits, preset=preset,
                    segment_frames=segment_frames, stream_count=len(streams))
    loudness = dict(profile_loudness)
    meta = {"tags": {**mix_src.tags, **dict(tags or {})}, "encoder": f"snc {__version__}", "profiles": profiles}
    if fmt != mix_src.format:  # a decoder may offer the source's format back (spec snc-format.md, META)
        meta["source_format"] = {"sample_format": mix_src.format.sample_format, "bits": mix_src.format.bits}
    if lead is not None:
        meta["lead"] = lead
    if loudness:
        meta.update(mix_loudness=loudness.pop("", None), profile_loudness=loudness)

    scale = float(1 << (fmt.bits - 1)) if fmt.sample_format == "int" else 1.0
    stats = [_StreamStats(scale, fmt.sample_rate, fmt.channels, loudness=not st.is_residual) for st in streams]
    mix_hash = SignalHasher(fmt.sample_format)
    stream_hashes = [SignalHasher(c.format) for c in codecs]
    bytes_per_stream = [0] * len(streams)
    res_lo, res_hi = -(1 << (res_fmt.bits - 1)), (1 << (res_fmt.bits - 1)) - 1
    acc_dtype = accumulator_dtype(fmt.sample_format)

    # a float file's perceptual stems are coded (and their budgets set) as 24-bit integers; integers as they are
    as_coded, budget_fmt = (lambda block: block), fmt
    if perceptual and fmt.sample_format != "int":
        as_coded = stem_codec.integers
        budget_fmt = AudioFormat(fmt.sample_rate, fmt.channels, "int", stem_codec.int_bits)
    negative_zeros = 0
    with SncWriter(output, info, streams, meta=meta, pictures=pictures) as writer:
        done = 0
        while done < mix_src.frames:
            n = min(segment_frames, mix_src.frames - done)
            mix_block = mix_src.read(n, fmt)
            stem_blocks = [src.read(n, fmt) for src in stem_srcs.values()] if user_stems else [mix_block]
            packets, decoded = [], []
            stem_noise = res_noise = None
            if perceptual:
                stem_noise, res_noise = _noise_budgets(as_coded(mix_block), [as_coded(b) for b in stem_blocks],
                                                       budget_fmt, tuning=tuning, headroom_db=headroom_db,
                                                       user_stems=user_stems, stem_snr_db=stem_snrs)
            for k, (codec, block) in enumerate(zip(codecs, stem_blocks)):
                if k == rest:
                    block, clipped = _rest_of_mix(mix_block, decoded, fmt, acc_dtype)
                    packet = codec.encode(block, noise=res_noise)
                    if not clipped:  # the residual holds only the rest's coding noise, within the mix's budget
                        res_noise = _np.full_like(res_noise, _np.inf)
                else:
                    packet = codec.encode(block) if stem_noise is None else codec.encode(block, noise=stem_noise[k])
                # closed loop: the residual absorbs the stems' coding error
                packets.append(packet)
                decoded.append(block if codec.lossless else codec.decode(packet, n))
            residual = mix_block.astype(acc_dtype) - sum_streams(decoded, fmt.sample_format)
            if fmt.sample_format == "int":
                if residual.size and (residual.min() < res_lo or residual.max() > res_hi):
                    what = "the stems' sum" if user_stems else "the decoded mix"
                    raise InputError(f"{what} differs from the mix by more than {res_fmt.bits}-bit "
                                     f"samples can hold near frame {done}")
                residual = residual.astype(_np.int32)
            packet = res_codec.encode(residual) if res_codec.lossless else res_codec.encode(residual, noise=res_noise)
            packets.append(packet)
            decoded.append(residual if res_codec.lossless else res_codec.decode(packet, n))
            decoded_mix = exact_mix(decoded, fmt.sample_format, fmt.bits)
            if fmt.sample_format != "int" and not _np.array_equal(decoded_mix, mix_block):
                # float sums are exact unless stems cancel far beyond the mix's precision
                raise InputError(f"float stems near frame {done} cancel too much for the mix to be stored "
                                 f"exactly (stems far louder than the mix?)")
            if fmt.sample_format != "int":
                negative_zeros += int(_np.count_nonzero(_np.signbit(mix_block) & ~_np.signbit(decoded_mix)))
            writer.write_segment(n, packets)
            for k, (blk, pkt) in enumerate(zip(decoded, packets)):
                stream_hashes[k].update(blk)
                stats[k].update(blk)
                bytes_per_stream[k] += len(pkt)
            # hash what a decoder will produce (equal to the input mix when the residual is lossless)
            mix_hash.update(decoded_mix)
            done += n
            if progress is not None:
                progress({"stage": "encode", "frames_done": done, "frames_total": mix_src.frames})
        for st, st_stats in zip(streams, stats):
            st_stats.store(st)
        writer.close(mix_hash.digest(), [h.digest() for h in stream_hashes])
    _warn_clipped([mix_src, *stem_srcs.values()], fmt)
    if negative_zeros:
        warnings.warn(f"mix: {negative_zeros} samples are -0.0, which the exact mix gives back as +0.0 (equal in "
                      f"value; its sum starts from +0.0, spec snc-format.md 3.1)", SncWarning, stacklevel=3)

    path = os.fspath(output) if isinstance(output, (str, os.PathLike)) else None
    size = os.path.getsize(path) if path else output.tell()
    return EncodeReport(path=path, file_bytes=size, frames=mix_src.frames, sample_rate=fmt.sample_rate,
                        channels=fmt.channels, preset=preset,
                        streams=[dict(name=s.name, role=s.role, codec=s.codec_id, bytes=b)
                                 for s, b in zip(streams, bytes_per_stream)])
