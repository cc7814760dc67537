"""The presets: one :class:`Preset` per name answers every question the encoder asks about it.

A preset is defined by what it keeps bit-exact (:attr:`Preset.exact`): the streams that must be exact are
coded losslessly (with the ``codec`` the user picks), the others perceptually with the preset's
:class:`~snc.encode.tuning.PerceptualTuning`.  Nothing else in the encoder compares preset names.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tuning import DEFAULT_SEGMENT_FRAMES, PERCEPTUAL_SEGMENT_FRAMES, PERCEPTUAL_TUNING, PerceptualTuning


@dataclass(frozen=True)
class Preset:
    """One preset's properties (``snc-encode --preset``; stored in the INFO chunk by name)."""

    name: str
    #: the decoded signals the preset promises bit for bit: ``"mix"`` and/or ``"stems"`` (the verify check)
    exact: tuple[str, ...]
    #: default frames per segment (:data:`~snc.encode.tuning.PERCEPTUAL_SEGMENT_FRAMES` where packets are
    #: perceptual)
    segment_frames: int
    #: measure every profile's loudness in a first pass: players of delivery files normalise with it; an archive
    #: is made for keeping, and its encode speed matters more (docs/tuning.md)
    profile_loudness: bool
    #: the lossless streams also try the ``lossless`` codec's long filter cascade on every packet
    #: (:data:`~snc.codecs.lossless.LONG_FILTERS`): about 2 % smaller, decoding at about half the speed and
    #: encoding the lossless streams twice; an archive is made to be small (docs/lossless-cascade.md)
    long_cascade: bool = False

    @property
    def tuning(self) -> PerceptualTuning | None:
        """How the perceptual streams' noise budgets are set (None: nothing is coded perceptually)."""
        return PERCEPTUAL_TUNING.get(self.name)

    @property
    def exact_mix(self) -> bool:
        """The mix decodes bit-exactly: the residual is coded losslessly."""
        return "mix" in self.exact

    def perceptual_stems(self, has_stems: bool) -> bool:
        """Are the stems (without stems: the one stream of the mix) coded perceptually?  Not where they must be
        exact, nor for a mix coded alone that must be exact (a perceptual mix plus a lossless residual would
        only cost more than the mix coded losslessly)."""
        return "stems" not in self.exact and (has_stems or not self.exact_mix)

    @property
    def perceptual_residual(self) -> bool:
        """Is the residual coded perceptually (the mix not exact)?  Then the streams are coded as integers of at
        most :data:`~snc.encode.sources.PERCEPTUAL_MAX_BITS` bits, and ``--bitrate`` may search the tuning."""
        return not self.exact_mix


#: every preset the encoder implements, by name
PRESETS = {p.name: p for p in (
    Preset("archival", exact=("mix", "stems"), segment_frames=DEFAULT_SEGMENT_FRAMES, profile_loudness=False,
           long_cascade=True),
    Preset("lossless", exact=("mix",), segment_frames=PERCEPTUAL_SEGMENT_FRAMES, profile_loudness=True),
    Preset("transparent", exact=(), segment_frames=PERCEPTUAL_SEGMENT_FRAMES, profile_loudness=True),
    Preset("compact", exact=(), segment_frames=PERCEPTUAL_SEGMENT_FRAMES, profile_loudness=True),
)}
