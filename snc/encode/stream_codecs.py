"""The codecs of a file's streams, built ready to use: every encoder setting of a codec is chosen here.

A stem's codec, the residual's, and the codec of a stream the listener hears as it is (a mix coded alone,
the rest stem of separated stems) differ in their perceptual settings; the preset decides which streams are
perceptual at all (:class:`~snc.encode.presets.Preset`).
"""

from __future__ import annotations

from ..codecs import available_codecs, get_codec
from ..errors import InputError
from ..signal.audio_io import AudioFormat


def lossless_codec(fmt: AudioFormat, codec_id: str):
    """The codec ``codec_id`` (``snc-encode --codec``) for ``fmt``; ``lossless`` takes floats through the
    ``float`` codec."""
    if codec_id not in available_codecs():
        raise InputError(f"unknown codec {codec_id!r}; available: {', '.join(available_codecs())}")
    if fmt.sample_format != "int" and codec_id == "lossless":
        codec_id = "float"  # the lossless codec is integer-only; "float" splits floats into integers and bits
    cfg = {"format": fmt.sample_format, "channels": fmt.channels}
    if fmt.sample_format == "int":
        cfg["bits"] = fmt.bits
    return get_codec(codec_id, cfg)


def perceptual_codec(fmt: AudioFormat):
    """A perceptual codec for ``fmt`` with the codec's default settings."""
    from ..codecs.perceptual import PerceptualCodec

    if fmt.sample_format == "int":
        codec = PerceptualCodec(format="int", bits=fmt.bits, channels=fmt.channels)
    else:  # the stems of a float32 file (preset lossless): coded as 24-bit integers, decoded as float32
        codec = PerceptualCodec(format="float32", channels=fmt.channels)
    codec.samplerate = fmt.sample_rate
    return codec


def heard_alone_codec(fmt: AudioFormat, tuning):
    """The codec of a stream the listener hears as it is (a mix coded alone, the rest stem): noise bands
    by ``tuning.noise_alone`` and ``tuning.noise_fill``."""
    codec = perceptual_codec(fmt)
    codec.noise_substitution = tuning.noise_alone
    codec.noise_fill = tuning.noise_fill
    return codec


def stem_codec(fmt: AudioFormat, preset, tuning, *, has_stems: bool, codec_id: str):
    """The codec of every stem (without stems: of the mix, then heard alone)."""
    if not preset.perceptual_stems(has_stems):
        return lossless_codec(fmt, codec_id)
    if not has_stems:
        return heard_alone_codec(fmt, tuning)
    from ..codecs.perceptual import STEM_ROUNDING

    codec = perceptual_codec(fmt)
    codec.rounding = STEM_ROUNDING  # the residual cancels the stems' noise in the mix: a wider dead zone
    # and no noise bands: a stem's noise band leaves the residual twice the band's energy to code
    codec.noise_substitution = None
    codec.drop_db = tuning.stem_drop_db
    return codec


def residual_codec(fmt: AudioFormat, preset, tuning, *, codec_id: str):
    """The residual's codec: lossless where the preset keeps the mix exact."""
    if not preset.perceptual_residual:
        return lossless_codec(fmt, codec_id)
    codec = perceptual_codec(fmt)
    codec.noise_substitution = tuning.noise_residual
    return codec
