"""The encode pipeline: options -> stems -> profile loudness -> (bitrate search) -> coding -> verify.

1. :mod:`.options`: every option checked before any work (:class:`EncodeOptions`); :mod:`.presets`: what
   each preset keeps exact and how it codes (:class:`Preset`), :mod:`.tuning`: the perceptual tuning.
2. :mod:`.separation`: the user's stems, or a separator's, or none (:mod:`.sources` opens and checks them).
3. :mod:`.master`: with user stems, a first pass fitting the gain a mastering chain put on their sum (the
   master stream, where it pays); :mod:`.profile_loudness`: one measuring the loudness of every profile's render.
4. :mod:`.bitrate`: with ``bitrate=``, the tuning offset whose file comes closest to the rate.
5. :mod:`.coding`: segment by segment, the noise budgets (:mod:`.allocation`), the stems coded with their
   codecs (:mod:`.stream_codecs`) and the closed-loop residual (:mod:`.residual`), written to the file.
6. :mod:`.verify`: with ``verify=True``, the file decoded and compared with the input.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..fileutil import check_output, is_path
from .bitrate import offset_for_bitrate
from .coding import encode_file
from .master import fit_master
from .options import EncodeOptions
from .presets import PRESETS, Preset
from .profile_loudness import measure_profiles
from .report import EncodeReport, ProgressCallback
from .separation import stems_for
from .tuning import DEFAULT_HEADROOM_DB

__all__ = ["encode", "EncodeOptions", "EncodeReport", "ProgressCallback", "PRESETS", "Preset"]


def encode(mix, output, *, stems: Mapping[str, object] | None = None, samplerate: int | None = None,
           bits: int | None = None, preset: str = "transparent", separator="none", bitrate=None,
           verify: bool = False, tags: Mapping[str, str] | None = None, pictures: list[dict] | None = None,
           codec: str = "lossless", remix_headroom: float = DEFAULT_HEADROOM_DB,
           segment_frames: int | None = None, progress: ProgressCallback | None = None,
           model=None, threads: int | None = None, profiles=None, positions=None,
           lead: str | None = None, music=None, colours=None, format_version: str | None = None,
           overwrite: bool = False) -> EncodeReport:
    """Encode a mix (and its stems) to ``output`` (path or seekable binary file object).

    An output path that exists is refused unless ``overwrite=True`` (default False: a slip of the
    output name costs no file); one that is an input (also by hard or symbolic link) always is.

    ``mix`` and each value of ``stems`` are paths (anything soundfile reads) or
    arrays of shape ``(frames, channels)``; arrays need ``samplerate=`` (and
    ``bits=`` for integers wider than their dtype suggests).  Stems are
    converted to the mix's sample format; the residual keeps the mix exact.
    ``pictures``: cover art as dicts ``{"picture_type": 3, "mime": "image/png",
    "description": "", "data": bytes}`` (types as in FLAC's PICTURE block).

    A mix that is not the sum of its stems because a compressor or limiter followed them (a mastered
    mix) gets a master stream where it pays: the gain the stems play through in the mix, so the residual
    holds only what no gain explains (spec snc-format.md section 3.7, ``docs/mastering.md``).

    Presets: ``archival`` codes everything losslessly (``codec`` picks the stream
    codec); ``lossless`` codes the stems perceptually and the residual losslessly
    (the mix stays bit-exact); ``transparent`` and ``compact`` code everything
    perceptually, with the noise allocated against the mix's masking threshold
    (:mod:`snc.encode.allocation`) and ``remix_headroom`` dB of room for remixes.  Float input
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
    ``music``: musical metadata stored as META ``music`` (spec snc-format.md section 10.2): ``{"bpm": 120,
    "key": "F#m", "cues": [{"frame": 0, "label": "intro"}], "lyrics": "...", "synced_lyrics": [{"frame",
    "text"}], "isrc": "USRC17607839"}``, every member optional (:func:`snc.container.music.checked_music`);
    members it leaves out are taken from the mix file's tags where they hold valid values (``BPM``/``TBPM``,
    ``INITIALKEY``/``KEY``, ``ISRC``, ``LYRICS``/``UNSYNCEDLYRICS``).
    ``colours``: ``{stem name: "#rrggbb"}`` shown for the stems instead of the role's default colour.
    ``format_version``: ``"1.1"`` writes a file that SNC 1.1 readers decode: lossless streams keep Rice-coded
    residuals (a few per cent larger, spec codec-lossless.md section 14); ``"1.2"`` one that 1.2 readers decode:
    the master stream has no EQ (spec snc-format.md section 3.7); default: the newest format.
    """
    options = EncodeOptions(samplerate=samplerate, bits=bits, preset=preset, separator=separator, bitrate=bitrate,
                            verify=verify, tags=tags, pictures=pictures, codec=codec, remix_headroom=remix_headroom,
                            segment_frames=segment_frames, progress=progress, model=model, threads=threads,
                            profiles=profiles, positions=positions, lead=lead, music=music, colours=colours,
                            format_version=format_version)
    if is_path(output):
        check_output(output, inputs=[mix, *dict(stems or {}).values()], overwrite=overwrite)
    t0 = time.perf_counter()
    with stems_for(mix, stems, options) as s:
        report = _encode_stems(mix, output, s.stems, s.provenance, options, t0)
    report.separator, report.separator_note, report.separate_seconds = s.separator, s.note, s.seconds
    return report


def _encode_stems(mix, output, stems: dict, separated, options: EncodeOptions, t0: float) -> EncodeReport:
    """:func:`encode` once the stems are known; ``separated``: the separator's provenance (None: user stems)."""
    options.check_stems(list(stems))
    master = fit_master(mix, stems, options) if stems and separated is None else None
    profile_loudness = {} if not options.preset.profile_loudness else measure_profiles(
        mix, stems, options.samplerate, options.bits, options.profiles, options.lead, options.segment_frames,
        options.progress, master)

    def encode_at(out, offset_db, progress=None):
        return encode_file(mix, stems, out, options, separated=separated, profile_loudness=profile_loudness,
                           offset_db=offset_db, progress=progress, master=master)

    offset_db = None  # the preset's own tuning
    if options.bitrate is not None:
        offset_db = offset_for_bitrate(encode_at, float(options.bitrate), options.progress)
    report = encode_at(output, offset_db, options.progress)
    report.encode_seconds = time.perf_counter() - t0
    if options.verify:
        from .verify import verify_report

        verify_report(report, output, mix, stems if separated is None else None, samplerate=options.samplerate,
                      bits=options.bits)
    return report
