"""The ``perceptual`` codec's driver: configuration, encode, decode (after libavcodec's ``aacenc.c``).

:class:`PerceptualCodec` runs the encoder's steps -- transform (:mod:`snc.kernels.mdct`), psychoacoustic
model (:mod:`.psy`, when no noise budget is given), mid/side (:mod:`.stereo`), quantiser (:mod:`.quantise`),
noise substitution (:mod:`.noise`), then the packet kernel's entropy coder -- and decodes with the integer
kernel.  Its stored config (:meth:`~snc.codecs.base.Codec.get_config`) is what a decoder needs; how the
encoder codes is given at construction, once, as :class:`EncoderSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as _np

from ...errors import CodecError
from ...kernels import warmup
from ..base import Codec
from ..registry import register_codec
from .noise import steady_highs, substitute
from .psy import masking_threshold, psd_to_bands
from .quantise import quantise_bands, quantise_short
from .stereo import choose_mid_side, to_mid_side
from .tables import (
    EDGES_LONG,
    EDGES_SHORT,
    FLOAT_BITS,
    INACTIVE,
    MAX_BUDGET,
    MAX_CHANNELS,
    MAX_PACKET_FRAMES,
    NOISE_SUBSTITUTION,
    ROUNDING,
    kernels,
)


@dataclass(frozen=True)
class EncoderSettings:
    """How a :class:`PerceptualCodec` encodes; none of it is needed to decode, so none of it is stored."""

    #: the stream's sample rate (Hz): places the psychoacoustic model's bands and the noise bands' lowest Hz
    samplerate: int = 48000
    #: the self-mask's level re the masking threshold (dB; positive = more noise), used without a noise budget
    quality_db: float = 0.0
    #: rounding offsets of the quantiser (:data:`~.tables.ROUNDING`; :data:`~.tables.STEM_ROUNDING` for stems)
    rounding: tuple = ROUNDING
    #: ``(lowest Hz, highest SNR dB)`` of noise substitution (:data:`~.tables.NOISE_SUBSTITUTION`); None: off
    noise_substitution: tuple | None = NOISE_SUBSTITUTION
    #: noise substitution also of high bands the budget drops whole (energy below it), not only of coded ones:
    #: at coarse settings whole high bands fall under the budget, and a spectral hole is what listeners (and
    #: ViSQOL) punish most
    noise_fill: bool = False
    #: a band whose energy is less than this many dB above its budget is not coded (all zero; its noise is then
    #: its energy, up to ``drop_db`` over the budget): just above its budget a band would keep one or two +-1
    #: values for a flag, a scale factor and a zero flag per bin.  0 for streams heard as they are
    drop_db: float = 0.0

    def __post_init__(self):
        def pair(value):
            ok = isinstance(value, (tuple, list)) and len(value) == 2 and \
                all(isinstance(v, Real) and _np.isfinite(v) for v in value)
            return tuple(value) if ok else None

        if not (isinstance(self.samplerate, Integral) and self.samplerate > 0):
            raise CodecError(f"perceptual: samplerate must be a positive integer, got {self.samplerate!r}")
        rounding = pair(self.rounding)
        if rounding is None or not all(0.0 <= r < 1.0 for r in rounding):
            raise CodecError(f"perceptual: rounding must be two offsets in [0, 1), got {self.rounding!r}")
        noise = None if self.noise_substitution is None else pair(self.noise_substitution)
        if self.noise_substitution is not None and noise is None:
            raise CodecError(f"perceptual: noise_substitution must be (lowest Hz, highest SNR dB) or None, "
                             f"got {self.noise_substitution!r}")
        for name in ("quality_db", "drop_db"):
            value = getattr(self, name)
            if not (isinstance(value, Real) and _np.isfinite(value)):
                raise CodecError(f"perceptual: {name} must be a finite number, got {value!r}")
        # frozen, so normalised through object.__setattr__: pairs as tuples, samplerate an int, noise_fill a bool
        object.__setattr__(self, "samplerate", int(self.samplerate))
        object.__setattr__(self, "rounding", rounding)
        object.__setattr__(self, "noise_substitution", noise)
        object.__setattr__(self, "noise_fill", bool(self.noise_fill))


#: the settings of a codec built without any (e.g. a decoder from a stored config)
DEFAULT_SETTINGS = EncoderSettings()


@register_codec
class PerceptualCodec(Codec):
    """MDCT, per-band step sizes, context-adaptive range coding.  ``PerceptualCodec(format=, bits=, channels=,
    settings=EncoderSettings(...))``; the settings are fixed for the codec's life (:attr:`settings`)."""

    __slots__ = ("_int_bits", "_settings")
    codec_id = "perceptual"
    lossless = False

    def __init__(self, *, format: str = "int", bits: int = 16, channels: int = 1,
                 settings: EncoderSettings = DEFAULT_SETTINGS):
        super().__init__(format=format, bits=bits, channels=channels)
        if format not in ("int", "float32"):
            raise CodecError(f"perceptual: only integer and float32 sample formats are supported, got {format!r}")
        if not 1 <= channels <= MAX_CHANNELS:
            raise CodecError(f"perceptual: channels must be 1..{MAX_CHANNELS}, got {channels!r}")
        if not isinstance(settings, EncoderSettings):
            raise CodecError(f"perceptual: settings must be EncoderSettings, got {type(settings).__name__}")
        # a float32 stream codes its samples as FLOAT_BITS-bit integers (full scale 1.0) and decodes to those
        # integers times 2^-(FLOAT_BITS - 1), exact in binary32
        self._int_bits = bits if format == "int" else FLOAT_BITS
        self._settings = settings

    @classmethod
    def from_config(cls, config: dict) -> PerceptualCodec:
        """A decoder (default encoder settings) from a stored config; encoder settings are never stored."""
        if "settings" in config:
            raise CodecError(f"perceptual: invalid codec config {config!r}: 'settings' is not stored")
        return super().from_config(config)

    @property
    def int_bits(self) -> int:
        """The integer width the packets code: ``bits``, or FLOAT_BITS for a float32 stream."""
        return self._int_bits

    @property
    def settings(self) -> EncoderSettings:
        """How this codec encodes (given at construction)."""
        return self._settings

    # -- encoder ---------------------------------------------------------
    def analyse(self, block: _np.ndarray):
        """Window kinds and MDCT spectra (F, channels, 1024) of a block, as :meth:`encode` codes them."""
        mdct, _ = kernels()
        warmup.ensure("perceptual-encode")
        x = _np.asarray(block, dtype=_np.float64)
        kinds = mdct.plan_kinds(mdct.detect_transients(x, full_scale=float(1 << (self.int_bits - 1))))
        spectra = _np.stack([mdct.forward(x[:, c], kinds) for c in range(x.shape[1])], axis=1)
        return kinds, spectra

    def self_mask(self, block: _np.ndarray) -> _np.ndarray:
        """The noise budget :meth:`encode` uses without one: the block's masking threshold, ``quality_db`` above."""
        full = float(1 << (self.int_bits - 1))
        return masking_threshold(_np.asarray(block, dtype=_np.float64), self.settings.samplerate, full) * \
            10.0 ** (self.settings.quality_db / 10.0)

    def encode(self, block: _np.ndarray, noise: _np.ndarray | None = None, analysis=None) -> bytes:
        """Code ``block``.  ``noise``: the allowed coding-noise power per MDCT bin, shape ``(F, channels, 1024)``
        on the packet's frames (:func:`snc.kernels.mdct.n_frames`); without it the codec masks itself
        (:meth:`self_mask`).  ``analysis``: ``(kinds, spectra)`` of :meth:`analyse` to use instead (e.g. with
        other window kinds)."""
        mdct, pk = kernels()
        warmup.ensure("perceptual-encode")
        block = self.integers(block)
        frames = block.shape[0]
        if frames == 0:
            return bytes([pk.VERSION])
        kinds, spectra = analysis if analysis is not None else self.analyse(block)
        if noise is None:
            noise = self.self_mask(block)
        nf = mdct.n_frames(frames)
        noise = _np.asarray(noise, dtype=_np.float64)
        if spectra.shape != (nf, self.channels, 1024) or noise.shape != spectra.shape:
            raise CodecError(f"perceptual: noise budget must have shape {(nf, self.channels, 1024)}")
        if _np.isnan(noise).any():
            raise CodecError("perceptual: the noise budget contains NaN")
        # an infinite budget means "not coded"; keep the arithmetic finite
        noise = _np.clip(noise, 0.0, MAX_BUDGET)
        ms = _np.zeros(nf, dtype=_np.int64)
        if self.channels == 2:
            ms = choose_mid_side(spectra, noise)
            coded, budget = to_mid_side(spectra, noise, ms)
        else:
            coded, budget = spectra.copy(), noise.copy()
        sf, noisy, q = self._quantise_frames(block, kinds, coded, budget)
        sf[sf == INACTIVE] = pk.SF_UNUSED  # all-zero bands: the value is never coded
        buf = _np.zeros(pk.bound_bytes(nf, self.channels), dtype=_np.uint8)
        n = pk.encode_packet(kinds.astype(_np.int64), ms, sf, noisy, q.astype(_np.int32), buf)
        if n < 0:
            raise CodecError(f"perceptual: internal error: {_message(-n)}")
        return buf[:n].tobytes()

    def _quantise_frames(self, block, kinds, coded, budget):
        """Scale factors, noise-band flags and quantised values of every frame and channel: LONG frames band by
        band with noise substitution, SHORT frames as eight blocks sharing their scale factors."""
        mdct, _ = kernels()
        s_ = self.settings
        nf, nb = len(kinds), len(EDGES_LONG) - 1
        sf = _np.full((nf, self.channels, nb), INACTIVE, dtype=_np.int64)
        noisy = _np.zeros((nf, self.channels, nb), dtype=_np.int64)
        q = _np.zeros((nf, self.channels, 1024), dtype=_np.int64)
        short = kinds == mdct.SHORT
        steady = (kinds == mdct.LONG) & steady_highs(block)
        for c in range(self.channels):
            if (~short).any():
                band_budget = psd_to_bands(budget[~short, c], EDGES_LONG, False)
                s, qq, _ = quantise_bands(coded[~short, c], band_budget, EDGES_LONG, s_.rounding, s_.drop_db)
                level, subst = substitute(coded[~short, c], band_budget, samplerate=s_.samplerate,
                                          noise_substitution=s_.noise_substitution, noise_fill=s_.noise_fill)
                subst &= steady[~short, None]
                s = _np.where(subst, level, s)
                qq[_np.repeat(subst, _np.diff(EDGES_LONG), axis=-1)] = 0
                sf[~short, c, :] = s
                noisy[~short, c, :] = subst
                q[~short, c] = qq
            if short.any():
                blocks = coded[short, c].reshape(-1, 8, 128)
                s, qq = quantise_short(blocks, psd_to_bands(budget[short, c], EDGES_SHORT, True),
                                       s_.rounding, s_.drop_db)
                sf[short, c, : len(EDGES_SHORT) - 1] = s
                q[short, c] = qq.reshape(-1, 1024)
        return sf, noisy, q

    def integers(self, block: _np.ndarray) -> _np.ndarray:
        """The integers a block is coded as: itself for an integer stream; a float32 stream's samples
        rounded (half to even) to FLOAT_BITS bits and clipped to full scale."""
        block = self.check_block(block)
        if self.format == "int":
            return block
        full = float(1 << (self.int_bits - 1))
        return _np.clip(_np.round(block.astype(_np.float64) * full), -full, full - 1).astype(_np.int32)

    # -- decoder ---------------------------------------------------------
    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        if not (isinstance(frames, (int, _np.integer)) and frames >= 0):
            raise CodecError(f"perceptual: invalid frame count {frames!r}")
        frames = int(frames)
        mdct, pk = kernels()
        data = _np.frombuffer(bytes(data), dtype=_np.uint8)
        out = _np.empty((frames, self.channels), dtype=_np.int32)
        if frames == 0:
            if len(data) != 1 or data[0] != pk.VERSION:
                raise CodecError("perceptual: corrupt packet: an empty packet is one version byte")
            return out.astype(self.dtype)
        # adaptive coding makes silence nearly free, so the size cannot bound the length: a fixed cap
        # bounds the output allocated before decoding
        if frames > MAX_PACKET_FRAMES:
            raise CodecError(f"perceptual: a packet holds at most {MAX_PACKET_FRAMES} frames, got {frames}")
        warmup.ensure("perceptual-decode")
        err = pk.decode_packet(data, frames, self.int_bits, out)
        if err != 0:  # errcodes.OK
            raise CodecError(f"perceptual: corrupt packet: {_message(err)}")
        return out if self.format == "int" else _np.ldexp(out, 1 - self.int_bits).astype(_np.float32)


def _message(code: int) -> str:
    from ...kernels import coefcode, errcodes

    _, pk = kernels()
    text = {**errcodes.MESSAGES, **coefcode.MESSAGES, **pk.MESSAGES}.get(int(code))
    return text or f"error code {int(code)}"
