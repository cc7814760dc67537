"""The encoder's tuning: how the perceptual presets set the noise budgets, and every tuning constant.

Each constant carries a one-line *why*; the measurements behind the numbers, and the bench commands that
reproduce them, are in ``docs/tuning.md`` (one section per name).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# ---------------------------------------------------------------------------------------------- the constants
#: remix headroom (dB) the stems' noise budgets leave by default: any one stem raised (or the others lowered) 6 dB
DEFAULT_HEADROOM_DB = 6.0
#: segment of an archival file, the spec's default (snc-format.md, "Limits"); perceptual files differ (below)
DEFAULT_SEGMENT_FRAMES = 32768
#: segment of a perceptual file: its packets are independent and re-learn their entropy models, so longer
#: segments save bytes; the price is that a seek decodes up to 3 s (44.1 kHz) of every stream it plays
PERCEPTUAL_SEGMENT_FRAMES = 131072
#: coarser than the preset, the noise bands of a stream heard alone start an octave lower per this many dB ...
NOISE_WIDEN_DB = 3.0
#: ... but never below this frequency (Hz), where noise stands in for tones the ear follows
NOISE_LOWEST_HZ = 3000.0
#: ``--bitrate`` asks for the best sound at a rate, not transparency: the speech floor is capped here (dB) so
#: that it stops taking the bits the rest of the spectrum needs more
BITRATE_SPEECH_SNR_DB = 15.0
#: ``--bitrate`` searches the offset of :meth:`PerceptualTuning.shifted` in this range (dB) ...
BITRATE_SEARCH_DB = (-30.0, 30.0)
#: ... by bisection in this many whole-file encodes (0.12 dB: the size moves ~3 % per 0.25 dB)
BITRATE_SEARCH_STEPS = 9


@dataclass(frozen=True)
class PerceptualTuning:
    """How a perceptual preset sets the noise budgets (``spec/codec-perceptual.md`` section 9)."""

    #: coding noise re the masking threshold of the mix (dB; positive = more noise)
    quality_db: float
    #: in the third-octave bands 150 Hz - 4.3 kHz the mix's noise stays this far below the band (dB): speech
    #: intelligibility of the mix
    speech_snr_db: float
    #: every stem keeps at least this SNR over each segment (dB), so it can be soloed
    stem_snr_db: float
    #: in every analysis band the mix's noise stays this far below the band's mean power (dB): when positive no
    #: band of the mix is dropped whole, even where the mask would allow it (a spectral hole is heard most)
    band_snr_db: float
    #: assumed playback level of a full-scale sine (dB SPL), which places the absolute threshold of hearing;
    #: the encoder cannot know the volume, and at 160 the threshold never decides anything
    full_scale_spl: float
    #: the lead stem's SNR (dB; the stem a karaoke remix mutes: ``encode(lead=)``, else the vocals).  Muted, the
    #: mask its coding noise hid under is gone, and the residual passes on part of that noise (spec 19.1)
    lead_snr_db: float
    #: noise substitution ``(lowest Hz, highest SNR dB)`` (:data:`snc.codecs.perceptual.NOISE_SUBSTITUTION`) of
    #: a mix coded alone, and of the residual (None: off): noise is cheaper than the waveform it stands for
    noise_alone: tuple | None = (8000.0, 10.0)
    noise_residual: tuple | None = None
    #: ``noise_alone`` also fills high bands the budget drops whole
    #: (:attr:`~snc.codecs.perceptual.EncoderSettings.noise_fill`); set by :meth:`shifted` coarser than the preset,
    #: where a band floor below 0 dB lets whole bands drop
    noise_fill: bool = False
    #: a stem's band is left uncoded unless its energy is this far above its budget (dB;
    #: :attr:`snc.codecs.perceptual.EncoderSettings.drop_db`): uncoded, its energy goes to the residual, which
    #: codes it only where the *mix* needs it.  3 dB is the stem budget's own margin (the stems get half the
    #: remix mask, :data:`snc.encode.allocation.STEM_SHARE`), so a dropped band stays under the mask of a remix
    #: within the headroom.  Not for streams heard as they are
    stem_drop_db: float = 3.0
    #: separated stems (``separator=``; None: coded like studio stems).  A separator's last stem is the rest of
    #: the mix, so it is coded as that: in closed loop, the mix minus the other decoded stems, at the mix's own
    #: budget (spec codec-perceptual.md 9, "the rest stem"), and the residual is left with nothing to code; the
    #: mix is coded once, with its tonal structure, instead of every stem's noise twice.  The price: the rest
    #: soloed holds the other stems' noise.  Its speech floor (dB) is higher than ``speech_snr_db``: the rest's
    #: noise meets its budget in every band, where the residual's was often below it
    separated_speech_snr_db: float | None = None
    #: ... the SNR floor of every separated stem, lead included (dB): a separated stem is an estimate whose
    #: separation error is far louder than coding noise this far below it
    separated_snr_db: float = 12.0
    #: ... and the rest's noise substitution (as ``noise_alone``, which a mix coded alone uses)
    separated_noise: tuple | None = (16000.0, 10.0)

    def for_separated(self) -> PerceptualTuning:
        """The tuning of a file whose stems a separator made: the speech floor, stem floors and noise
        substitution of the rest stem (:attr:`separated_speech_snr_db`); unchanged without one."""
        if self.separated_speech_snr_db is None:
            return self
        return replace(self, speech_snr_db=self.separated_speech_snr_db, stem_snr_db=self.separated_snr_db,
                       lead_snr_db=self.separated_snr_db, noise_alone=self.separated_noise)

    def at_bitrate(self) -> PerceptualTuning:
        """The tuning ``--bitrate`` shifts: the speech floor at most :data:`BITRATE_SPEECH_SNR_DB`."""
        return replace(self, speech_snr_db=min(self.speech_snr_db, BITRATE_SPEECH_SNR_DB))

    def shifted(self, offset_db: float) -> PerceptualTuning:
        """Everything ``offset_db`` coarser (``--bitrate`` searches this one number).  Finer (negative
        offsets) also narrows noise substitution: with bits to spare, a band's waveform is worth them.
        Coarser (positive offsets) widens it for the streams heard alone (``noise_alone``): from an octave lower
        per :data:`NOISE_WIDEN_DB` (down to :data:`NOISE_LOWEST_HZ`), up to ``offset_db`` more SNR, and into bands
        the budget drops whole (``noise_fill``): at low rates noise sounds better than holes."""
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


#: the tuning of each perceptual preset (:attr:`snc.encode.presets.Preset.tuning`): transparent aims at mix STOI
#: >= 0.996, ViSQOL >= 4.6 and stem SNR >= 20 dB; compact at ViSQOL >= 4.4 in the fewest bytes; lossless at the
#: fewest bytes of stems plus lossless residual (docs/tuning.md, "PERCEPTUAL_TUNING")
PERCEPTUAL_TUNING = {
    "transparent": PerceptualTuning(quality_db=9.0, speech_snr_db=19.0, stem_snr_db=20.0, band_snr_db=1.0,
                                    full_scale_spl=160.0, lead_snr_db=22.0, separated_speech_snr_db=22.0),
    "lossless": PerceptualTuning(quality_db=9.0, speech_snr_db=19.0, stem_snr_db=20.0, band_snr_db=1.0,
                                 full_scale_spl=160.0, lead_snr_db=22.0),
    # compact's noise bands cover its high bands, so its speech floor can sit lower
    "compact": PerceptualTuning(quality_db=20.0, speech_snr_db=6.5, stem_snr_db=6.0, band_snr_db=0.3,
                                full_scale_spl=160.0, lead_snr_db=8.0, noise_residual=(8000.0, 10.0)),
}
