"""The encoder's input: opening and checking the mix and its stems, and the sample formats they are coded in.

Stems are read in the mix's sample format (converted by :class:`~snc.signal.audio_io.AudioSource`), must have
its rate and channels, and may differ in length by at most :data:`LENGTH_TOLERANCE_S` (padded or trimmed).
"""

from __future__ import annotations

import contextlib
import math
import shlex
import warnings

from ..container.model import KNOWN_ROLES, MASTER_ROLE, RESIDUAL_ROLE
from ..container.schema import MAX_STREAMS
from ..errors import InputError, NotAvailableError, SncWarning
from ..signal.audio_io import AudioFormat, AudioSource

#: a stem may be this much longer or shorter than the mix (s): an export's tail, not a different take
LENGTH_TOLERANCE_S = 1.0
#: the widest integers the perceptual presets code (144 dB of range, far below any coding noise): wider
#: integer input is rounded to it, and float input is quantised to it (full scale 1.0 = 2^23).  No dither:
#: the rounding error, 2^-24 of full scale, lies over 100 dB below the coding noise the presets allow
PERCEPTUAL_MAX_BITS = 24


#: the names of the file's own streams: no stem may take them
RESERVED_NAMES = (RESIDUAL_ROLE, MASTER_ROLE)


def role_for(name: str) -> str:
    """A stem's role: its name where that is a known role (``vocals``, ``drums``, ...), else ``other``."""
    low = name.lower()
    return low if low in KNOWN_ROLES and low != RESIDUAL_ROLE else "other"


def peek_format(mix, samplerate, bits) -> AudioFormat:
    """The mix's sample format, without reading its audio."""
    src = AudioSource(mix, name="mix", samplerate=samplerate, bits=bits)
    src.close()
    return src.format


def open_sources(mix, stems, samplerate, bits) -> tuple[AudioSource, dict[str, AudioSource]]:
    """The mix and every stem opened (stem names checked); the caller closes them."""
    mix_src = AudioSource(mix, name="mix", samplerate=samplerate, bits=bits)
    stem_srcs: dict[str, AudioSource] = {}
    try:
        for name, src in (stems or {}).items():
            if not isinstance(name, str) or not name or len(name.encode()) > 255 or name in RESERVED_NAMES:
                raise InputError(f"invalid stem name {name!r} (1..255 bytes, not {' or '.join(RESERVED_NAMES)})")
            stem_srcs[name] = AudioSource(src, name=f"stem {name!r}", samplerate=samplerate, bits=bits)
    except BaseException:
        mix_src.close()
        for s in stem_srcs.values():
            s.close()
        raise
    return mix_src, stem_srcs


@contextlib.contextmanager
def checked_sources(mix, stems, samplerate, bits):
    """``with checked_sources(...) as (mix_src, stem_srcs)``: opened, checked against each other
    (:func:`check_stems`), and closed on the way out."""
    mix_src, stem_srcs = open_sources(mix, stems, samplerate, bits)
    try:
        check_stems(mix_src, stem_srcs)
        yield mix_src, stem_srcs
    finally:
        mix_src.close()
        for s in stem_srcs.values():
            s.close()


def check_stems(mix_src: AudioSource, stem_srcs: dict[str, AudioSource]) -> None:
    """Refuse an empty mix, too many stems, and stems of another rate, channel count or length; warn about
    stems a little shorter or longer than the mix."""
    fmt = mix_src.format
    if mix_src.frames == 0:
        raise InputError("mix: the audio is empty (0 frames)")
    if len(stem_srcs) + 1 > MAX_STREAMS:
        raise InputError(f"too many stems ({len(stem_srcs)}; at most {MAX_STREAMS - 1})")
    for name, src in stem_srcs.items():
        if src.format.sample_rate != fmt.sample_rate:
            raise InputError(f"stem {name!r} is {src.format.sample_rate} Hz, the mix {fmt.sample_rate} Hz: resample "
                             f"it first, e.g. `sox {_example_path(src, name)} -r {fmt.sample_rate} "
                             f"{name}-{fmt.sample_rate}.wav`")
        if src.format.channels != fmt.channels:
            raise InputError(f"stem {name!r} has {src.format.channels} channels, the mix {fmt.channels}: convert it "
                             f"first, e.g. `sox {_example_path(src, name)} {name}-{fmt.channels}ch.wav "
                             f"remix {sox_remix(src.format.channels, fmt.channels)}`")
        diff = src.frames - mix_src.frames
        if diff:
            if abs(diff) > LENGTH_TOLERANCE_S * fmt.sample_rate:
                raise InputError(f"stem {name!r} is {src.frames} frames long, the mix {mix_src.frames} "
                                 f"(differs by more than {LENGTH_TOLERANCE_S:g} s)")
            action = "padded with silence" if diff < 0 else "trimmed"
            warnings.warn(f"stem {name!r} is {abs(diff)} frames {'shorter' if diff < 0 else 'longer'} than the "
                          f"mix; {action} to the mix length", SncWarning, stacklevel=5)


def _example_path(src: AudioSource, name: str) -> str:
    return shlex.quote(src.path) if src.path else f"{name}.wav"


def sox_remix(have: int, want: int) -> str:
    """sox's ``remix`` argument from ``have`` to ``want`` channels: mono is copied to every channel,
    anything else is averaged to mono and copied, or its first channels kept."""
    if have == 1:
        return " ".join(["1"] * want)
    if want == 1:
        return "-"
    return " ".join(str(c + 1) for c in range(want)) if want < have else " ".join(
        [str(c + 1) for c in range(have)] + ["0"] * (want - have))


def check_exact_representable(fmt: AudioFormat, has_stems: bool) -> None:
    """A float64 residual holds ``M - sum(S_k)`` exactly only for integer and float32 mixes.

    For a float64 mix the residual's ulp exceeds the mix's wherever |M - S| > |M|
    (about 0.05 % of samples of ordinary music), so format 1.0 cannot store a
    float64 mix with stems bit-exactly; spec section "Signal model".
    """
    if fmt.sample_format == "float64" and has_stems:
        raise NotAvailableError("bit-exact archival of a float64 mix with stems is not available yet (integer "
                                "and float32 mixes are exact; a float64 mix without stems is exact too)")


def residual_format(fmt: AudioFormat, stem_count: int) -> AudioFormat:
    """The residual needs headroom: |M - sum S_k| <= (K + 1) * full scale."""
    if fmt.sample_format != "int":
        return AudioFormat(fmt.sample_rate, fmt.channels, "float64", 64)
    bits = min(32, fmt.bits + math.ceil(math.log2(stem_count + 1)))
    return AudioFormat(fmt.sample_rate, fmt.channels, "int", bits)


def coded_format(fmt: AudioFormat) -> AudioFormat:
    """The sample format a preset that keeps nothing exact codes ``fmt`` as: integers of at most
    :data:`PERCEPTUAL_MAX_BITS` bits.  A float source's samples beyond full scale are clipped there
    (:func:`warn_clipped` says how many); ``archival`` and ``lossless`` keep them exactly."""
    if fmt.sample_format == "int" and fmt.bits <= PERCEPTUAL_MAX_BITS:
        return fmt
    return AudioFormat(fmt.sample_rate, fmt.channels, "int", PERCEPTUAL_MAX_BITS)


def warn_clipped(sources, fmt: AudioFormat) -> None:
    """Warn about every source whose samples beyond full scale were clipped to ``fmt``."""
    for src in sources:
        if src.clipped:
            warnings.warn(f"{src.name}: {src.clipped} samples beyond full scale (peak {src.peak:.4g}, "
                          f"{20 * math.log10(src.peak):+.2f} dBFS) clipped to {fmt.bits}-bit full scale; "
                          f"--preset archival or lossless keeps them exactly", SncWarning, stacklevel=5)
