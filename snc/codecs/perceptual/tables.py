"""Tables of the ``perceptual`` codec: band layouts, the encoder's constants, and the packet kernels.

Like libavcodec's ``aactab.c``: every number the encoder's steps share, each with a line on why it is
what it is.  The band edges are the codec's (:mod:`snc.kernels.bands`, spec codec-perceptual.md 2);
the kernels are imported on first use (:func:`kernels`).
"""

from __future__ import annotations

from ...kernels.bands import band_edges, band_power  # noqa: F401  (band_power: the steps take it from here)

EDGES_LONG = band_edges(1024)
EDGES_SHORT = band_edges(128)
#: rate-distortion-aware rounding (:func:`~snc.codecs.perceptual.quantise.quantise_magnitude`): ``a = |c| / step``
#: rounds to ``floor(a + offset)``, offsets ``(for a < 1, for a >= 1)``.  Below 1/2: a value costs more bits the
#: larger it is, a zero least (most coefficients are near it), so rounding down trades a little noise for bits --
#: and the quantiser then takes the coarsest step that meets the band's budget.  For streams the listener hears
#: (the residual, a mix coded alone)
ROUNDING = (0.40, 0.40)
#: for stems: in the default mix the residual cancels their noise, so a wider dead zone costs no audible quality
#: there (fewer bytes, every stem's SNR kept); the same offsets on every stream would cost the mix quality
STEM_ROUNDING = (0.30, 0.42)
#: perceptual noise substitution (PNS; the idea of MPEG-4 AAC's PNS tool, ISO/IEC 14496-3 4.6.13): a band of a
#: LONG frame at or above ``NOISE_SUBSTITUTION[0]`` Hz that its budget would code at an SNR below
#: ``NOISE_SUBSTITUTION[1]`` dB is sent as its energy only, and the decoder fills it with noise of that power
#: (spec codec-perceptual.md 4.1); a band below its budget is dropped as before.  Its waveform is lost, its
#: spectral envelope kept -- what the ear hears of high, noisy bands.  Only for streams heard as they are (a mix
#: coded alone, the residual): a stem's noise band would leave the residual twice the band's energy to code
NOISE_SUBSTITUTION = (8000.0, 10.0)
#: ... and only in LONG frames whose high band is steady: the largest energy of the second difference (a
#: high-pass) in the sixteen 128-sample blocks under the frame's window at most this many times their mean.  A
#: click the transient detector let through (it cannot see one at a packet's start) would otherwise become noise
#: spread over 2048 samples.  Steady music stays below ~3.6 (white noise ~1.5), a drum hit reaches 5 - 10
NOISE_FLATNESS = 3.0
#: ... and only in bands that sound like noise: over three frames (the frame and its neighbours) the largest
#: power of one bin at most this many times the band's mean.  Gaussian noise in a 32-bin band stays below 5.8 in
#: 99 % of frames; a steady partial stands far above it
NOISE_PEAKINESS = 6.0
#: refinement passes that move a band's step until its measured noise meets the budget
REFINE_PASSES = 3
#: a band's noise may exceed its budget by half a scale-factor step (0.75 dB): the quantiser takes the coarsest
#: step within it, so the noise lands on the budget on average instead of up to a whole step (1.5 dB) below it
NOISE_TOLERANCE = 10.0 ** (0.75 / 10.0)
MAX_CHANNELS = 8
#: float32 streams are coded as integers of this width: 144 dB below full scale, far under any coding noise
FLOAT_BITS = 24
#: the encoder's mark of an all-zero band (outside the legal scale factors)
INACTIVE = 1 << 20
#: budgets above this (beyond any coefficient's energy) are clipped to it: "code nothing"
MAX_BUDGET = 1e300
#: most frames one packet may claim (the output is allocated before decoding): the container's segment limit
#: is far below it
MAX_PACKET_FRAMES = 1 << 24


def kernels():
    """The transform and packet kernels ``(mdct, perceptual_packet)``, imported on first use (the transform
    builds its exact integer tables at import, which a program that never codes perceptual audio should not pay)."""
    from ...kernels import mdct, perceptual_packet

    return mdct, perceptual_packet

