"""The ``perceptual`` stream codec: MDCT, per-band step sizes, context-adaptive range coding.

Packet bytes: ``spec/codec-perceptual.md``; transform: ``spec/perceptual-transform.md``;
entropy coding: ``spec/perceptual-entropy.md``.

The encoder is free (floats, psychoacoustics, any allocation); the decoder is
integer-only -- range decoding, fixed-point dequantisation (``q * 2^(sf/4)``
with a 4-entry Q30 mantissa table), integer mid/side and the fixed-point
inverse MDCT -- so a packet decodes to the same samples on every machine.  That
is what lets the ``lossless`` preset add an integer residual to perceptual
stems and still promise a bit-exact mix.

Grouped like libavcodec's AAC encoder:

* :mod:`.codec` -- :class:`PerceptualCodec`, the driver (config, encode, decode) and its
  :class:`EncoderSettings` (``aacenc.c``);
* :mod:`.psy` -- the psychoacoustic model: masking threshold, bands of a threshold (``aacpsy.c``);
* :mod:`.quantise` -- step sizes, rounding, the per-band scale-factor search (``aaccoder.c``);
* :mod:`.stereo` -- mid/side per frame (``aacenc_ms``);
* :mod:`.noise` -- perceptual noise substitution (PNS);
* :mod:`.tables` -- band edges, constants, the kernels (``aactab.c``).

``encode(block, noise=None)``: ``noise`` is the allowed coding-noise power per
MDCT bin, shape ``(F, channels, 1024)`` on the packet's frames
(:func:`snc.kernels.mdct.n_frames`), as an encoder's allocation gives it; without
it the codec masks itself (:func:`.psy.masking_threshold` of the block,
``quality_db`` above it): that is the plain stereo codec used with
``--separator none``.
"""

from .codec import EncoderSettings, PerceptualCodec
from .quantise import quantise_bands, quantise_magnitude, step_size
from .tables import NOISE_SUBSTITUTION, ROUNDING, STEM_ROUNDING

__all__ = ["EncoderSettings", "NOISE_SUBSTITUTION", "PerceptualCodec", "ROUNDING", "STEM_ROUNDING",
           "quantise_bands", "quantise_magnitude", "step_size"]
