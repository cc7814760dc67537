"""The ``perceptual`` stream codec: MDCT, per-band step sizes, context-adaptive range coding.

Packet bytes: ``spec/codec-perceptual.md``; transform: ``spec/perceptual-transform.md``;
entropy coding: ``spec/perceptual-entropy.md``.

The encoder is free (floats, psychoacoustics, any allocation); the decoder is
integer-only -- range decoding, fixed-point dequantisation (``q * 2^(sf/4)``
with a 4-entry Q30 mantissa table), integer mid/side and the fixed-point
inverse MDCT -- so a packet decodes to the same samples on every machine.  That
is what lets the ``lossless`` preset add an integer residual to perceptual
stems and still promise a bit-exact mix.

``encode(block, noise=None)``: ``noise`` is the allowed coding-noise power per
MDCT bin, shape ``(F, channels, 1024)`` on the packet's frames
(:func:`snc.kernels.mdct.n_frames`), as given by :mod:`snc.encode.allocation`; without
it the codec masks itself (:func:`snc.psycho.masking_threshold` of the block,
``quality_db`` above it): that is the plain stereo codec used with
``--separator none``.
"""

from __future__ import annotations

import numpy as _np

from ..errors import CodecError
from ..kernels import warmup
from ..kernels.bands import band_edges, band_power
from ..psycho import psd_to_bands
from .base import Codec
from .registry import register_codec

EDGES_LONG = band_edges(1024)
EDGES_SHORT = band_edges(128)
#: rate-distortion-aware rounding (:func:`quantise_magnitude`): ``a = |c| / step`` rounds to
#: ``floor(a + offset)``, offsets ``(for a < 1, for a >= 1)``.  Below 1/2: a value costs more bits the
#: larger it is, a zero least (most coefficients are near it), so rounding down trades a little noise
#: for bits -- and the quantiser then takes the coarsest step that meets the band's budget.  This is for
#: streams the listener hears (the residual, a mix coded alone)
ROUNDING = (0.40, 0.40)
#: for stems: in the default mix the residual cancels their noise, so a wider dead zone costs no audible
#: quality there.  Measured on 15 s excerpts (transparent, true stems) against ROUNDING: midi -1.9 %,
#: fof -1.4 % bytes, mix ViSQOL 4.638 / 4.645 against 4.639 / 4.645, every stem's SNR equal or higher.
#: The same offsets on every stream saved as much but cost the mix 0.02 - 0.05 ViSQOL (full files:
#: midi 4.639 -> 4.595) and the plain codec 0.05 - 0.1 at equal bitrate
STEM_ROUNDING = (0.30, 0.42)
#: perceptual noise substitution (PNS; the idea of MPEG-4 AAC's PNS tool, ISO/IEC 14496-3 4.6.13): a band
#: of a LONG frame at or above ``NOISE_SUBSTITUTION[0]`` Hz that its budget would code at an SNR below
#: ``NOISE_SUBSTITUTION[1]`` dB (or drop) is sent as its energy only, and the decoder fills it with noise of
#: that power (spec codec-perceptual.md 4.1); a band below its budget is dropped as before.  Its waveform is lost, its spectral envelope kept -- what the
#: ear (and ViSQOL) hears of high, noisy bands.  Measured on the plain codec (``bitrate=128``, 15 s excerpts),
#: ViSQOL minus Opus's at SNC's measured bitrate: mod_pingus_6 -0.68 -> -0.08, wesnoth_northerners
#: -0.19 -> +0.02.  Only for streams heard as they are (a mix coded alone, the residual): a stem's noise band
#: would leave the residual twice the band's energy to code
NOISE_SUBSTITUTION = (8000.0, 10.0)
#: ... and only in LONG frames whose high band is steady: the largest energy of the second difference (a
#: high-pass) in the sixteen 128-sample blocks under the frame's window at most this many times their
#: mean.  A click the transient detector let through (it cannot see one at a packet's start) would
#: otherwise become noise spread over 2048 samples.  Measured on 15 s of three corpus mixes: 90 % of
#: frames are below 2.2 - 3.6 (white noise ~1.5); a synthetic drum hit 5 - 10
NOISE_FLATNESS = 3.0
#: ... and only in bands that sound like noise: over three frames (the frame and its neighbours) the
#: largest power of one bin at most this many times the band's mean.  Gaussian noise in a 32-bin band
#: stays below 5.8 in 99 % of frames; a steady partial stands far above it
NOISE_PEAKINESS = 6.0
#: refinement passes that move a band's step until its measured noise meets the budget
REFINE_PASSES = 3
#: a band's noise may exceed its budget by half a scale-factor step (0.75 dB): the quantiser takes
#: the coarsest step within it, so the noise lands on the budget on average instead of up to a whole
#: step (1.5 dB) below it -- measured: -9 % bytes at equal mix STOI
NOISE_TOLERANCE = 10.0 ** (0.75 / 10.0)
MAX_CHANNELS = 8
#: float32 streams are coded as integers of this width: 144 dB below full scale, far under any coding noise
FLOAT_BITS = 24
#: the encoder's mark of an all-zero band (outside the legal scale factors)
INACTIVE = 1 << 20
#: budgets above this (beyond any coefficient's energy) are clipped to it: "code nothing"
MAX_BUDGET = 1e300
#: most frames one packet may claim (the output is allocated before decoding): the container's
#: segment limit is far below it
MAX_PACKET_FRAMES = 1 << 24


def _kernels():
    """The packet and transform kernels, imported on first use (the transform builds its exact
    integer tables at import, which a program that never codes perceptual audio should not pay)."""
    from ..kernels import mdct, perceptual_packet

    return mdct, perceptual_packet


def quantise_magnitude(a: _np.ndarray, rounding=ROUNDING) -> _np.ndarray:
    """Quantised magnitudes (float, integral) of ``a = |c| / step`` (see :data:`ROUNDING`)."""
    below_one, above = rounding
    return _np.floor(a + _np.where(a < 1.0, below_one, above))


def step_size(sf: _np.ndarray) -> _np.ndarray:
    """The decoder's step for scale factor ``sf``: ``MANT[sf & 3] * 2^((sf >> 2) - 30)`` exactly."""
    _, pk = _kernels()
    sf = _np.asarray(sf, dtype=_np.int64)
    return pk.MANT[sf & 3].astype(_np.float64) * _np.exp2((sf >> 2) - 30)


def _quantise(coefs: _np.ndarray, noise: _np.ndarray, edges: _np.ndarray, rounding=ROUNDING,
              drop_db: float = 0.0):
    """Scale factors and quantised values for spectra ``coefs`` (..., n) with the per-band
    noise budgets ``noise`` (..., nbands), refined until the measured noise meets the budget.

    Returns ``(sf (..., nbands) int64, q (..., n) int64, sf_floor (..., nbands))``; a band whose
    energy is not more than ``drop_db`` above its budget (:attr:`PerceptualCodec.drop_db`) is left at
    zero (its sf is then :data:`INACTIVE`); ``sf_floor`` is the smallest scale factor that keeps every
    ``|q|`` inside the entropy coder's range."""
    _, pk = _kernels()
    widths = _np.diff(edges)
    energy = band_power(coefs * coefs, edges)
    target = _np.maximum(noise, 1e-12)
    sf = _np.floor(4.0 * _np.log2(_np.sqrt(12.0 * target))).astype(_np.int64)
    # the largest quantised magnitude must stay inside the entropy coder's range
    peak = _np.maximum.reduceat(_np.abs(coefs), edges[:-1], axis=-1)
    sf_floor = _np.ceil(4.0 * _np.log2(_np.maximum(peak, 1e-30) / pk.Q_LIMIT)).astype(_np.int64) + 1
    sf = _np.clip(_np.maximum(sf, sf_floor), pk.SF_MIN, pk.SF_MAX)
    active = energy > target * 10.0 ** (drop_db / 10.0)
    allowed = target * NOISE_TOLERANCE

    def trial(sf):
        step = _np.repeat(step_size(sf), widths, axis=-1)
        a = _np.abs(coefs) / step
        q = quantise_magnitude(a, rounding)
        err = (a - q) * step
        return q, band_power(err * err, edges)

    q, got = trial(sf)
    for _ in range(REFINE_PASSES):  # finer where the noise is over
        worse = active & (got > allowed) & (sf > _np.maximum(sf_floor, pk.SF_MIN))
        if not worse.any():
            break
        sf = sf - worse
        q, got = trial(sf)
    for _ in range(REFINE_PASSES):  # coarser where the next step still fits
        up = _np.minimum(sf + 1, pk.SF_MAX)
        q_up, got_up = trial(up)
        fits = active & (got <= allowed) & (got_up <= allowed) & (up > sf)
        if not fits.any():
            break
        sf = _np.where(fits, up, sf)
        q = _np.where(_np.repeat(fits, widths, axis=-1), q_up, q)
        got = _np.where(fits, got_up, got)
    q = (_np.sign(coefs) * q).astype(_np.int64)
    q *= _np.repeat(active, widths, axis=-1)
    return _np.where(active, sf, INACTIVE), q, sf_floor


def _stereo_bits(e: _np.ndarray, n: _np.ndarray, widths: _np.ndarray) -> _np.ndarray:
    """Rough bits of bands of energy ``e`` coded at noise ``n`` (0.5 log2 SNR per coefficient)."""
    return (widths * 0.5 * _np.log2(_np.maximum(e / _np.maximum(n, 1e-12), 1.0))).sum(axis=-1)


@register_codec
class PerceptualCodec(Codec):
    codec_id = "perceptual"
    lossless = False

    def __init__(self, *, format: str = "int", bits: int = 16, channels: int = 1):
        super().__init__(format=format, bits=bits, channels=channels)
        if format not in ("int", "float32"):
            raise CodecError(f"perceptual: only integer and float32 sample formats are supported, got {format!r}")
        #: the integer width the packets code: a float32 stream codes its samples as FLOAT_BITS-bit integers
        #: (full scale 1.0) and decodes to those integers times 2^-(FLOAT_BITS - 1), exact in binary32
        self.int_bits = bits if format == "int" else FLOAT_BITS
        if not 1 <= channels <= MAX_CHANNELS:
            raise CodecError(f"perceptual: channels must be 1..{MAX_CHANNELS}, got {channels!r}")
        # encoder settings (not needed to decode, so not in the config)
        self.samplerate = 48000
        self.quality_db = 0.0
        #: rounding offsets of the quantiser (:data:`ROUNDING`; :data:`STEM_ROUNDING` for stems)
        self.rounding = ROUNDING
        #: ``(lowest Hz, highest SNR dB)`` of noise substitution (:data:`NOISE_SUBSTITUTION`); None: off
        self.noise_substitution = NOISE_SUBSTITUTION
        #: noise substitution also of high bands the budget drops whole (energy below it), not only of coded
        #: ones: at coarse settings whole high bands fall under the budget, and a spectral hole is what
        #: ViSQOL punishes most (see :attr:`snc.encode.tuning.PerceptualTuning.noise_fill`)
        self.noise_fill = False
        #: a band whose energy is less than this many dB above its budget is not coded (all zero; its
        #: noise is then its energy, up to ``drop_db`` over the budget).  Such a band would keep one or
        #: two +-1 values for a flag, a scale factor and a zero flag per bin: ~12 bits per value on the
        #: compact stems of midi_openmsx_5432gone.  0 for streams heard as they are; stems: see
        #: :attr:`snc.encode.tuning.PerceptualTuning.stem_drop_db`
        self.drop_db = 0.0

    # -- encoder ---------------------------------------------------------
    def analyse(self, block: _np.ndarray):
        """Window kinds and MDCT spectra (F, channels, 1024) of a block, as :meth:`encode` codes them."""
        mdct, _ = _kernels()
        warmup.ensure("perceptual-encode")
        x = _np.asarray(block, dtype=_np.float64)
        kinds = mdct.plan_kinds(mdct.detect_transients(x, full_scale=float(1 << (self.int_bits - 1))))
        spectra = _np.stack([mdct.forward(x[:, c], kinds) for c in range(x.shape[1])], axis=1)
        return kinds, spectra

    def self_mask(self, block: _np.ndarray) -> _np.ndarray:
        from ..psycho import masking_threshold

        full = float(1 << (self.int_bits - 1))
        return masking_threshold(_np.asarray(block, dtype=_np.float64), self.samplerate, full) * \
            10.0 ** (self.quality_db / 10.0)

    def encode(self, block: _np.ndarray, noise: _np.ndarray | None = None, analysis=None) -> bytes:
        """Code ``block``; ``analysis``: ``(kinds, spectra)`` of :meth:`analyse` to use instead
        (e.g. with other window kinds)."""
        mdct, pk = _kernels()
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
        coded = spectra.copy()
        budget = noise.copy()
        if self.channels == 2:
            ms = self._choose_stereo(spectra, noise)
            if ms.any():
                left, right = spectra[ms == 1, 0], spectra[ms == 1, 1]
                coded[ms == 1, 0] = 0.5 * (left + right)
                coded[ms == 1, 1] = 0.5 * (left - right)
                # L = M + S, R = M - S: each gets both noises, so each of M and S gets half the smaller budget
                half = 0.5 * _np.minimum(noise[ms == 1, 0], noise[ms == 1, 1])
                budget[ms == 1, 0] = half
                budget[ms == 1, 1] = half
        nb = len(EDGES_LONG) - 1
        sf = _np.full((nf, self.channels, nb), INACTIVE, dtype=_np.int64)
        noisy = _np.zeros((nf, self.channels, nb), dtype=_np.int64)
        q = _np.zeros((nf, self.channels, 1024), dtype=_np.int64)
        short = kinds == mdct.SHORT
        steady = (kinds == mdct.LONG) & _steady_highs(block)
        for c in range(self.channels):
            if (~short).any():
                band_budget = psd_to_bands(budget[~short, c], EDGES_LONG, False)
                s, qq, _ = _quantise(coded[~short, c], band_budget, EDGES_LONG, self.rounding, self.drop_db)
                level, subst = self._substitute(coded[~short, c], band_budget)
                subst &= steady[~short, None]
                s = _np.where(subst, level, s)
                qq[_np.repeat(subst, _np.diff(EDGES_LONG), axis=-1)] = 0
                sf[~short, c, :] = s
                noisy[~short, c, :] = subst
                q[~short, c] = qq
            if short.any():
                blocks = coded[short, c].reshape(-1, 8, 128)
                bud = psd_to_bands(budget[short, c], EDGES_SHORT, True)[:, None, :]
                s, qq, floor = _quantise(blocks, _np.broadcast_to(bud, blocks.shape[:2] + bud.shape[2:]),
                                         EDGES_SHORT, self.rounding, self.drop_db)
                # the eight blocks share one scale factor per band: the finest one, but not so fine
                # that the loudest block's values leave the coder's range; then requantise
                active = (s != INACTIVE).any(axis=1)
                s = _np.where(active, _np.maximum(s.min(axis=1), floor.max(axis=1)), INACTIVE)
                qq = _requantise(blocks, s, self.rounding)
                sf[short, c, : len(EDGES_SHORT) - 1] = s
                q[short, c] = qq.reshape(-1, 1024)
        sf[sf == INACTIVE] = pk.SF_UNUSED  # all-zero bands: the value is never coded
        buf = _np.zeros(pk.bound_bytes(nf, self.channels), dtype=_np.uint8)
        n = pk.encode_packet(kinds.astype(_np.int64), ms, sf, noisy, q.astype(_np.int32), buf)
        if n < 0:
            raise CodecError(f"perceptual: internal error: {_message(-n)}")
        return buf[:n].tobytes()

    def _substitute(self, coefs: _np.ndarray, band_budget: _np.ndarray):
        """Noise substitution (:data:`NOISE_SUBSTITUTION`) of LONG spectra ``coefs`` (F, 1024) with
        band budgets (F, 50): ``(level, chosen)``, the noise level (a scale factor whose step is the band's
        RMS: ``+-step`` values carry its power) and which bands become noise bands."""
        _, pk = _kernels()
        energy = band_power(coefs * coefs, EDGES_LONG)
        level = _np.clip(_np.round(2.0 * _np.log2(_np.maximum(energy, 1e-300))), pk.SF_MIN, pk.SF_MAX).astype(_np.int64)
        if self.noise_substitution is None:
            return level, _np.zeros(energy.shape, dtype=bool)
        lowest_hz, max_snr_db = self.noise_substitution
        high = EDGES_LONG[:-1] * (0.5 * self.samplerate / 1024.0) >= lowest_hz
        # only bands the budget would code: one below it is dropped as before (its noise is inaudible, and
        # the residual of a mix coded alone, whose budget is infinite, must stay empty) -- unless noise_fill
        lowest_energy = 0.0 if self.noise_fill else band_budget
        chosen = high & (energy > lowest_energy) & (energy < band_budget * 10.0 ** (max_snr_db / 10.0))
        power = coefs * coefs
        smooth = power.copy()
        smooth[1:] += power[:-1]
        smooth[:-1] += power[1:]
        peak = _np.maximum.reduceat(smooth, EDGES_LONG[:-1], axis=-1)
        chosen &= peak <= NOISE_PEAKINESS * band_power(smooth, EDGES_LONG)
        return level, chosen

    def _choose_stereo(self, spectra, noise) -> _np.ndarray:
        """Mid/side per frame where it saves bits by the rough 0.5*log2(SNR) estimate."""
        e = spectra ** 2
        left, right = e[:, 0], e[:, 1]
        mid = (0.25 * (spectra[:, 0] + spectra[:, 1]) ** 2)
        side = (0.25 * (spectra[:, 0] - spectra[:, 1]) ** 2)
        widths = _np.diff(EDGES_LONG)
        bands = lambda p: band_power(p, EDGES_LONG)  # noqa: E731
        nl, nr = psd_to_bands(noise[:, 0], EDGES_LONG, False), psd_to_bands(noise[:, 1], EDGES_LONG, False)
        half = 0.5 * _np.minimum(nl, nr)
        lr = _stereo_bits(bands(left), nl, widths) + _stereo_bits(bands(right), nr, widths)
        msb = _stereo_bits(bands(mid), half, widths) + _stereo_bits(bands(side), half, widths)
        return (msb < lr).astype(_np.int64)

    # -- decoder ---------------------------------------------------------
    def decode(self, data: bytes, frames: int) -> _np.ndarray:
        if not (isinstance(frames, (int, _np.integer)) and frames >= 0):
            raise CodecError(f"perceptual: invalid frame count {frames!r}")
        frames = int(frames)
        mdct, pk = _kernels()
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

    def integers(self, block: _np.ndarray) -> _np.ndarray:
        """The integers a block is coded as: itself for an integer stream; a float32 stream's samples
        rounded (half to even) to FLOAT_BITS bits and clipped to full scale."""
        block = self.check_block(block)
        if self.format == "int":
            return block
        full = float(1 << (self.int_bits - 1))
        return _np.clip(_np.round(block.astype(_np.float64) * full), -full, full - 1).astype(_np.int32)


def _steady_highs(block: _np.ndarray) -> _np.ndarray:
    """Frames (bool ``(F,)``) whose high band is steady in every channel (:data:`NOISE_FLATNESS`)."""
    mdct, _ = _kernels()
    x = _np.asarray(block, dtype=_np.float64)
    frames = x.shape[0]
    nf = mdct.n_frames(frames)
    hop = mdct.HOP
    sub = hop // 8
    d = _np.zeros(((nf + 1) * hop, x.shape[1]))
    if frames >= 3:  # frame t's window covers samples hop (t - 1) .. hop (t + 1): pad one hop in front
        d[hop + 2 : hop + frames] = x[2:] - 2.0 * x[1:-1] + x[:-2]
    energy = _np.einsum("bnc,bnc->bc", d.reshape(-1, sub, x.shape[1]), d.reshape(-1, sub, x.shape[1]))
    windows = _np.lib.stride_tricks.sliding_window_view(energy, 16, axis=0)[::8][:nf]  # (F, C, 16)
    peak, mean = windows.max(axis=-1), windows.mean(axis=-1)
    return (peak <= NOISE_FLATNESS * mean).all(axis=-1)


def _message(code: int) -> str:
    from ..kernels import coefcode, errcodes

    _, pk = _kernels()
    text = {**errcodes.MESSAGES, **coefcode.MESSAGES, **pk.MESSAGES}.get(int(code))
    return text or f"error code {int(code)}"


def _requantise(blocks: _np.ndarray, sf: _np.ndarray, rounding=ROUNDING) -> _np.ndarray:
    """Quantise short blocks (Fs, 8, 128) with per-band scale factors shared by the 8 blocks."""
    _, pk = _kernels()
    widths = _np.diff(EDGES_SHORT)
    active = sf != INACTIVE
    step = _np.repeat(step_size(_np.where(active, sf, 0)), widths, axis=-1)[:, None, :]
    q = _np.sign(blocks) * quantise_magnitude(_np.abs(blocks) / step, rounding)
    return (q * _np.repeat(active, widths, axis=-1)[:, None, :]).astype(_np.int64)
