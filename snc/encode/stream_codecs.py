"""The codecs of a file's streams, built ready to use: every encoder setting of a codec is chosen here.

A stem's codec, the residual's, and the codec of a stream the listener hears as it is (a mix coded alone,
the rest stem of separated stems) differ in their perceptual settings; the preset decides which streams are
perceptual at all (:class:`~snc.encode.presets.Preset`).
"""

from __future__ import annotations

from ..codecs import available_codecs, get_codec
from ..errors import InputError
from ..signal.audio_io import AudioFormat


def lossless_codec(fmt: AudioFormat, codec_id: str, residual_coding: str = "adaptive", long_cascade: bool = False):
    """The codec ``codec_id`` (``snc-encode --codec``) for ``fmt``; ``lossless`` takes floats through the
    ``float`` codec; ``residual_coding``: the ``lossless`` codec's (``rice`` for a 1.1 file); ``long_cascade``:
    its encoder also tries :data:`~snc.codecs.lossless.LONG_FILTERS` (:attr:`Preset.long_cascade`)."""
    if codec_id not in available_codecs():
        raise InputError(f"unknown codec {codec_id!r}; available: {', '.join(available_codecs())}")
    if fmt.sample_format != "int" and codec_id == "lossless":
        codec_id = "float"  # the lossless codec is integer-only; "float" splits floats into integers and bits
    cfg = {"format": fmt.sample_format, "channels": fmt.channels}
    if fmt.sample_format == "int":
        cfg["bits"] = fmt.bits
    if codec_id == "lossless":
        cfg["residual_coding"] = residual_coding
    codec = get_codec(codec_id, cfg)
    if codec_id in ("lossless", "float") and long_cascade:
        from ..codecs.lossless import LONG_FILTERS

        codec.alternative_filters = (LONG_FILTERS,)
    return codec


def perceptual_codec(fmt: AudioFormat, **settings):
    """A perceptual codec for ``fmt``; ``settings``: fields of its
    :class:`~snc.codecs.perceptual.EncoderSettings` other than the sample rate (which ``fmt`` gives)."""
    from ..codecs.perceptual import EncoderSettings, PerceptualCodec

    settings = EncoderSettings(samplerate=fmt.sample_rate, **settings)
    if fmt.sample_format == "int":
        return PerceptualCodec(format="int", bits=fmt.bits, channels=fmt.channels, settings=settings)
    # the stems of a float32 file (preset lossless): coded as 24-bit integers, decoded as float32
    return PerceptualCodec(format="float32", channels=fmt.channels, settings=settings)


def heard_alone_codec(fmt: AudioFormat, tuning):
    """The codec of a stream the listener hears as it is (a mix coded alone, the rest stem): noise bands
    by ``tuning.noise_alone`` and ``tuning.noise_fill``."""
    return perceptual_codec(fmt, noise_substitution=tuning.noise_alone, noise_fill=tuning.noise_fill)


def stem_codec(fmt: AudioFormat, preset, tuning, *, has_stems: bool, codec_id: str,
               residual_coding: str = "adaptive"):
    """The codec of every stem (without stems: of the mix, then heard alone)."""
    if not preset.perceptual_stems(has_stems):
        return lossless_codec(fmt, codec_id, residual_coding, preset.long_cascade)
    if not has_stems:
        return heard_alone_codec(fmt, tuning)
    from ..codecs.perceptual import STEM_ROUNDING

    # the residual cancels the stems' noise in the mix: a wider dead zone; and no noise bands: a stem's noise
    # band leaves the residual twice the band's energy to code
    return perceptual_codec(fmt, rounding=STEM_ROUNDING, noise_substitution=None, drop_db=tuning.stem_drop_db)


def residual_codec(fmt: AudioFormat, preset, tuning, *, codec_id: str, residual_coding: str = "adaptive"):
    """The residual's codec: lossless where the preset keeps the mix exact."""
    if not preset.perceptual_residual:
        return lossless_codec(fmt, codec_id, residual_coding, preset.long_cascade)
    return perceptual_codec(fmt, noise_substitution=tuning.noise_residual)
