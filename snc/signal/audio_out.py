"""Writing decoded audio to a file or to stdout, with the file's tags and the speaker layout.

The file type follows the extension:

=========================  ===================================================================
``.wav`` (and ``-``)        our own writer (below): any bit depth 8..32, float32/64, any channel count
``.flac``                   soundfile; integers up to 24 bits, at most 8 channels
``.aiff`` ``.aif`` ``.caf``  soundfile; exact integer or float samples
``.w64``                    soundfile; exact samples, no tags
``.ogg`` (Vorbis)           soundfile; lossy, mono, stereo, 5.1 or 7.1 layouts, any rate
``.opus``                   soundfile; lossy, mono, stereo, 5.1 or 7.1 layouts, 8/12/16/24/48 kHz
``.mp3``                    soundfile; lossy, mono or stereo, 8..48 kHz MPEG rates
=========================  ===================================================================

Every check that can fail (extension, channels, sample format, rate, layout) runs before any
sample is decoded, so an impossible request costs nothing and leaves nothing behind; files are
written through :func:`snc.fileutil.atomic_output`, so a failure half-way leaves no output either.
Integer samples whose ``bits`` is not a container size (e.g. 20) are stored left-justified in the
next container (24), as WAVE_FORMAT_EXTENSIBLE and FLAC expect; the WAV header keeps the true
``bits`` as its valid bits.

**WAV** is written by our own writer, :class:`snc.signal.wav.WavWriter` (that module says why).

**Channel masks.**  A known ``layout`` (the renderer's channel order, snc.signal.layouts.LAYOUTS)
maps its channels to WAVE speaker bits; WAVE_FORMAT_EXTENSIBLE requires the channels in the order
of their bits, so 7.1 and 7.1.4 are reordered on the way out (L R C LFE Lrs Rrs Lss Rss ...):

=========  ========================  =============================================================
stereo      0x3                       FL FR (binaural too)
5.1         0x60F                     FL FR FC LFE SL SR: Ls/Rs at +-110 degrees are side speakers
                                       (KSAUDIO_SPEAKER_5POINT1_SURROUND in Microsoft's ksmedia.h,
                                       ffmpeg's AV_CH_LAYOUT_5POINT1 "5.1(side)"; the 0x3F "back"
                                       variant is the one ksmedia.h calls obsolete)
7.1         0x63F                     FL FR FC LFE BL BR SL SR (KSAUDIO_SPEAKER_7POINT1_SURROUND,
                                       ffmpeg "7.1"): Lss/Rss side, Lrs/Rrs back
7.1.4       0x2D63F                   7.1 + TFL TFR TBL TBR (ffmpeg "7.1.4")
=========  ========================  =============================================================

Without a layout, mono is FC and stereo FL FR; other channel counts get mask 0 ("no speaker
assigned"), since the SNC file stores no layout and guessing one would send channels to the wrong
speakers.  FLAC's fixed channel orders for 6 and 8 channels are the same as these masks' orders,
so FLAC gets the same reordering.  Ogg Vorbis and Opus have fixed orders too (Vorbis I spec 4.3.9):
5.1 and 7.1 are written in them (L C R ... LFE last), and more than two channels without one of
these layouts are refused rather than mislabelled.  ffprobe 5.1 names the WAV masks "5.1(side)",
"7.1" and, for 7.1.4, lists "FL+FR+FC+LFE+BL+BR+SL+SR+TFL+TFR+TBL+TBR".

**Tags** (``title``, ``artist``, ... as in the file's META) go where the format can hold them:

* WAV (LIST/INFO): title INAM, artist IART, album IPRD, date ICRD, genre IGNR, comment ICMT,
  copyright ICOP, tracknumber ITRK, software ISFT; ``license`` and other keys are dropped.
* FLAC, Ogg, Opus, CAF: the ten keys libsndfile writes (title, artist, album, date, genre,
  comment, copyright, license, tracknumber, software), as Vorbis comments for FLAC/Ogg/Opus.
* MP3 (ID3 via LAME): title, artist, album, date, genre, comment, tracknumber, ASCII values only
  (LAME stores the bytes as Latin-1, so other text would come out garbled).
* AIFF: title, artist, copyright, comment.  W64: none.

Keys a format cannot hold are reported with one :class:`~snc.errors.SncWarning` per file.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as _np
import soundfile as _sf

from ..errors import InputError, SncWarning
from .wav import WAV_INFO_IDS, WavWriter, container_bits, patchable

# WAVE speaker bits (Microsoft, "Multiple channel audio data and WAVE files"; ksmedia.h).
SPEAKER_BITS = {
    "FL": 0x1, "FR": 0x2, "FC": 0x4, "LFE": 0x8, "BL": 0x10, "BR": 0x20, "FLC": 0x40, "FRC": 0x80,
    "BC": 0x100, "SL": 0x200, "SR": 0x400, "TC": 0x800, "TFL": 0x1000, "TFC": 0x2000, "TFR": 0x4000,
    "TBL": 0x8000, "TBC": 0x10000, "TBR": 0x20000,
}
# The renderer's channel names (snc.signal.layouts.LAYOUTS) -> WAVE speakers.
_SPEAKER_OF_CHANNEL = {
    "L": "FL", "R": "FR", "C": "FC", "LFE": "LFE", "Ls": "SL", "Rs": "SR", "Lss": "SL", "Rss": "SR",
    "Lrs": "BL", "Rrs": "BR", "Ltf": "TFL", "Rtf": "TFR", "Ltr": "TBL", "Rtr": "TBR",
    "left": "FL", "right": "FR",
}

_SOUNDFILE_TAGS = ("title", "artist", "album", "date", "genre", "comment", "copyright", "license",
                   "tracknumber", "software")
_MP3_TAGS = ("title", "artist", "album", "date", "genre", "comment", "tracknumber")
_AIFF_TAGS = ("title", "artist", "copyright", "comment")

# Vorbis I spec section 4.3.9 (also Opus channel mapping family 1, RFC 7845 section 5.1.1.2):
# 5.1 is FL FC FR RL RR LFE, 7.1 FL FC FR SL SR RL RR LFE; indices into the renderer's order.
VORBIS_ORDER = {"5.1": [0, 2, 1, 4, 5, 3], "7.1": [0, 2, 1, 4, 5, 6, 7, 3]}
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class _Container:
    """What one output type can hold."""

    label: str
    sf_format: str | None  # None: our WAV writer
    lossy: bool = False
    max_channels: int | None = None
    max_bits: int = 32
    holds_float: bool = True
    rates: tuple[int, ...] | None = None
    tag_keys: tuple[str, ...] = ()
    ascii_tags: bool = False
    u8: bool = False  # 8-bit samples are unsigned in this container
    vorbis_order: bool = False  # more than 2 channels only as a layout in the Vorbis channel order


_WAV = _Container("WAV", None, tag_keys=tuple(WAV_INFO_IDS))
_CONTAINERS = {
    "wav": _WAV,
    "flac": _Container("FLAC", "FLAC", max_channels=8, max_bits=24, holds_float=False, tag_keys=_SOUNDFILE_TAGS),
    "aiff": _Container("AIFF", "AIFF", tag_keys=_AIFF_TAGS),
    "aif": _Container("AIFF", "AIFF", tag_keys=_AIFF_TAGS),
    "caf": _Container("CAF", "CAF", tag_keys=_SOUNDFILE_TAGS),
    "w64": _Container("W64", "W64", u8=True),
    "ogg": _Container("Ogg Vorbis", "OGG", lossy=True, tag_keys=_SOUNDFILE_TAGS, vorbis_order=True),
    "opus": _Container("Opus", "OGG", lossy=True, rates=_OPUS_RATES, tag_keys=_SOUNDFILE_TAGS, vorbis_order=True),
    "mp3": _Container("MP3", "MP3", lossy=True, max_channels=2, rates=_MP3_RATES, tag_keys=_MP3_TAGS,
                      ascii_tags=True),
}
_LOSSY_SUBTYPE = {"ogg": "VORBIS", "opus": "OPUS", "mp3": "MPEG_LAYER_III"}
EXTENSIONS = tuple(f".{ext}" for ext in _CONTAINERS)


@dataclass
class _Plan:
    """Everything decided before the first sample: container, channel order, mask, tags to write."""

    path: str
    ext: str
    container: _Container
    order: list[int] | None  # output channel i = input channel order[i]; None: unchanged
    mask: int
    tags: dict[str, str] = field(default_factory=dict)


def write_audio(path, blocks, fmt, *, tags: Mapping[str, str] | None = None, layout: str | None = None,
                overwrite: bool = True) -> int:
    """Write native-format ``blocks`` (an array or an iterable of ``(frames, channels)`` arrays) to ``path``.

    ``fmt`` is an :class:`snc.signal.audio_io.AudioFormat`; integer blocks hold ``fmt.bits``-bit values,
    float blocks full scale 1.0.  ``path`` ``"-"`` writes a WAV stream to stdout.  ``tags`` are
    written where the format holds them, ``layout`` (a name from snc.signal.layouts.SPATIAL_LAYOUTS,
    the blocks in the renderer's channel order) sets the WAV channel mask and the file's channel
    order (see the module docstring).  ``overwrite=False`` refuses an existing ``path``.  Every
    impossible request raises :class:`InputError` before any block is consumed; a failure later
    leaves no file (stdout: a truncated stream, as a pipe cannot be unwritten).  Returns the number
    of frames written.
    """
    plan = _plan(path, fmt, layout, tags or {})
    if plan.path != "-" and not overwrite and os.path.lexists(plan.path):
        raise InputError(f"output {plan.path} already exists")
    if isinstance(blocks, _np.ndarray):
        blocks = [blocks]
    blocks = (_arrange(b, fmt, plan.order) for b in blocks)
    if plan.path == "-":
        return _write_wav_stdout(blocks, fmt, plan)
    from ..fileutil import atomic_output

    with atomic_output(plan.path) as tmp:
        if plan.container.sf_format is None:
            return _write_wav_file(tmp, blocks, fmt, plan)
        return _write_soundfile(tmp, blocks, fmt, plan)


def stem_tags(tags: Mapping[str, str], stem: str) -> dict[str, str]:
    """Tags for one stem's file: the song's, its title marked with the stem, e.g. ``Song (vocals)``."""
    out = dict(tags)
    if out.get("title"):
        out["title"] = f"{out['title']} ({stem})"
    return out


def channel_mask(layout: str | None, channels: int) -> int:
    """The WAVE channel mask of ``layout`` (or of a plain ``channels``-channel file when None)."""
    if layout is None:
        return {1: SPEAKER_BITS["FC"], 2: SPEAKER_BITS["FL"] | SPEAKER_BITS["FR"]}.get(channels, 0)
    mask = 0
    for speaker in _layout_speakers(layout):
        mask |= SPEAKER_BITS[speaker]
    return mask


# ---------------------------------------------------------------------------------------------
# Planning: every check before any sample
# ---------------------------------------------------------------------------------------------
def _plan(path, fmt, layout: str | None, tags: Mapping[str, str]) -> _Plan:
    path = os.fspath(path)
    ext = "wav" if path == "-" else os.path.splitext(path)[1].lower().lstrip(".")
    container = _CONTAINERS.get(ext)
    if container is None:
        what = f"extension .{ext}" if ext else "no extension"
        raise InputError(f"cannot write {path}: {what}; audio outputs are {', '.join(EXTENSIONS)}")
    order, mask = None, channel_mask(None, fmt.channels)
    if layout is not None:
        speakers = _layout_speakers(layout)
        if len(speakers) != fmt.channels:
            raise InputError(f"layout {layout} has {len(speakers)} channels, the audio {fmt.channels}")
        if container.vorbis_order:
            order = VORBIS_ORDER.get(layout)
        else:
            order = sorted(range(len(speakers)), key=lambda i: SPEAKER_BITS[speakers[i]])
        order = None if order == list(range(len(speakers))) else order
        mask = channel_mask(layout, fmt.channels)
    _check_fits(container, fmt, layout)
    return _Plan(path, ext, container, order, mask, _tags_for(path, container, tags))


def _check_fits(c: _Container, fmt, layout: str | None) -> None:
    """One line saying why ``c`` cannot hold the audio, and what to write instead."""
    what = f"layout {layout} has {fmt.channels}" if layout else f"the audio has {fmt.channels}"
    instead = "write .wav or .flac" if fmt.channels <= 8 else "write .wav"
    if c.max_channels is not None and fmt.channels > c.max_channels:
        raise InputError(f"{c.label} holds at most {c.max_channels} channels; {what}: {instead}")
    if c.vorbis_order and fmt.channels > 2 and layout not in VORBIS_ORDER:
        what = f"layout {layout} has {fmt.channels} channels" if layout else \
            f"the audio has {fmt.channels} channels and no layout"
        raise InputError(f"{c.label} holds mono, stereo, 5.1 or 7.1; {what}: {instead}")
    if fmt.sample_format != "int" and not c.holds_float:
        raise InputError(f"{c.label} holds integer samples only; the audio is {fmt.sample_format}: write .wav")
    if fmt.sample_format == "int" and fmt.bits > c.max_bits:
        raise InputError(f"{c.label} holds at most {c.max_bits}-bit samples; the audio is {fmt.bits}-bit: "
                         "write .wav")
    if c.rates is not None and fmt.sample_rate not in c.rates:
        rates = ", ".join(f"{r / 1000:g}" for r in c.rates)
        raise InputError(f"{c.label} holds {rates} kHz audio; this is {fmt.sample_rate / 1000:g} kHz: "
                         "write .ogg, .flac or .wav")


def _layout_speakers(layout: str) -> list[str]:
    from .layouts import SPATIAL_LAYOUTS, channel_names

    if layout not in SPATIAL_LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; choose one of {', '.join(SPATIAL_LAYOUTS)}")
    names = channel_names(layout)
    unmapped = [name for name in names if name not in _SPEAKER_OF_CHANNEL]
    if unmapped:
        raise InputError(f"layout {layout}: no WAVE speaker for channel(s) {', '.join(unmapped)}")
    return [_SPEAKER_OF_CHANNEL[name] for name in names]


def _tags_for(path: str, c: _Container, tags: Mapping[str, str]) -> dict[str, str]:
    """The tags ``c`` can hold; one warning naming the keys it cannot."""
    kept, dropped = {}, []
    for key, value in tags.items():
        value = str(value).replace("\x00", "")
        if key.lower() in c.tag_keys and value and (not c.ascii_tags or value.isascii()):
            kept[key.lower()] = value
        elif value:
            dropped.append(key)
    if dropped:
        warnings.warn(f"{path}: {c.label} cannot hold the tag(s) {', '.join(sorted(dropped))}; not written",
                      SncWarning, stacklevel=4)
    return kept


# ---------------------------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------------------------
def _arrange(block, fmt, order: list[int] | None) -> _np.ndarray:
    block = _np.asarray(block)
    if block.ndim == 1:
        block = block[:, None]
    if block.ndim != 2 or block.shape[1] != fmt.channels:
        raise InputError(f"audio block of shape {block.shape} does not have {fmt.channels} channels")
    if fmt.sample_format == "int" and block.size:
        limit = 1 << (fmt.bits - 1)
        if block.min() < -limit or block.max() >= limit:
            raise InputError(f"sample outside the {fmt.bits}-bit range")
    return block if order is None else block[:, order]


def _write_wav_file(tmp: str, blocks: Iterable[_np.ndarray], fmt, plan: _Plan) -> int:
    try:
        with open(tmp, "wb") as out:
            writer = WavWriter(out, fmt, mask=plan.mask, tags=plan.tags)
            for block in blocks:
                writer.write(block)
            writer.close()
    except OSError as exc:
        raise InputError(f"cannot write {plan.path}: {exc.strerror or exc}") from None
    return writer.frames


def _write_wav_stdout(blocks: Iterable[_np.ndarray], fmt, plan: _Plan) -> int:
    out = sys.stdout.buffer
    if out.isatty():
        raise InputError("refusing to write audio to a terminal: redirect or pipe stdout")
    try:
        writer = WavWriter(out, fmt, mask=plan.mask, tags=plan.tags, seekable=patchable(out))
        for block in blocks:
            writer.write(block)
        writer.close()
    except BrokenPipeError:
        raise  # the reader went away (e.g. `| head`): the CLI exits quietly
    except OSError as exc:
        raise InputError(f"cannot write to stdout: {exc.strerror or exc}") from None
    return writer.frames


# ---------------------------------------------------------------------------------------------
# Other formats through soundfile
# ---------------------------------------------------------------------------------------------
def _soundfile_subtype(plan: _Plan, fmt) -> str:
    if plan.container.lossy:
        return _LOSSY_SUBTYPE[plan.ext]
    if fmt.sample_format != "int":
        return "FLOAT" if fmt.sample_format == "float32" else "DOUBLE"
    bits = container_bits(fmt)
    if bits == 8:
        return "PCM_U8" if plan.container.u8 else "PCM_S8"
    return f"PCM_{bits}"


def _write_soundfile(tmp: str, blocks: Iterable[_np.ndarray], fmt, plan: _Plan) -> int:
    frames = 0
    try:
        with _sf.SoundFile(tmp, "w", fmt.sample_rate, fmt.channels, subtype=_soundfile_subtype(plan, fmt),
                           format=plan.container.sf_format) as out:
            for key, value in plan.tags.items():
                setattr(out, key, value)
            for block in blocks:
                out.write(_soundfile_samples(block, fmt, plan.container.lossy))
                frames += len(block)
    except (_sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        message = getattr(exc, "error_string", None) or str(exc)
        raise InputError(f"cannot write {plan.path}: {message.replace(tmp, plan.path)}") from None
    return frames


def _soundfile_samples(block: _np.ndarray, fmt, lossy: bool) -> _np.ndarray:
    if fmt.sample_format != "int":
        return block
    if lossy:
        return (block / float(1 << (fmt.bits - 1))).astype(_np.float32)
    return block.astype(_np.int32) << (32 - fmt.bits)  # soundfile's int32 is left-justified
