"""snc-decode: write the mix, one stem, all stems or a remix of a .snc file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import InputError
from ..fileutil import check_output
from ..render.file import SncFile
from ..render.remix import REMIX_GAIN_RANGE_DB
from ..signal.audio_io import AudioFormat, to_native, write_audio
from ..signal.audio_out import stem_tags
from ..signal.layouts import SPATIAL_LAYOUTS, channel_names
from ..version import __version__
from .common import (
    STDIO,
    Parser,
    Progress,
    add_common_options,
    input_path,
    output_path,
    printable,
    run,
    streams_output,
    writing,
)
from .values import finite_float, parse_assignments, parse_position, parse_time

PROG = "snc-decode"
LAYOUTS = SPATIAL_LAYOUTS


def get_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Decode a .snc file to WAV/FLAC: the exact mix, a stem, "
                                "every stem, or a remix.",
                                epilog="example: snc-decode song.snc -o karaoke.wav --mute vocals")
    p.add_argument("input", help="the .snc file (- reads stdin)")
    p.add_argument("-o", "--output", help="output audio file (.wav, .flac, ...; refused if it exists, unless -f); "
                                          "- writes WAV to stdout; required unless --stems-dir")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stem", metavar="NAME", help="write only this stem (or 'residual')")
    which.add_argument("--stems-dir", metavar="DIR", help="write every stem and the residual into DIR")
    p.add_argument("--as-played", action="store_true",
                   help="with --stem/--stems-dir: stems as they play in the mix, through the file's master gain "
                        "(they and the residual then sum to the mix); default: as the encoder was given them")
    p.add_argument("--gain", action="append", default=[], metavar="NAME=DB",
                   help=f"stem gain in dB, {REMIX_GAIN_RANGE_DB[0]:g}..{REMIX_GAIN_RANGE_DB[1]:+g} (repeatable)")
    p.add_argument("--mute", action="append", default=[], metavar="NAME", help="mute a stem (repeatable)")
    p.add_argument("--solo", action="append", default=[], metavar="NAME", help="solo a stem (repeatable)")
    p.add_argument("--profile", metavar="NAME",
                   help="playback profile: the file's authored ones (snc-info lists them) or a built-in: karaoke, "
                        "instrumental, vocal-boost, night, noisy, small-speaker")
    p.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                   help="let the player pick the profile: ambient_db=70, device=phone, night=1, prefer=vocals")
    p.add_argument("--target-lufs", type=finite_float, metavar="LUFS",
                   help="normalise the integrated loudness (BS.1770) to this, true peak limited to -1 dBTP")
    p.add_argument("--attribution", choices=("tiles", "share", "global"), default="tiles",
                   help="how the residual follows a remix: per time-frequency tile, at most the global gain "
                        "(default); the tile share alone; or one gain for the file (spec 19)")
    p.add_argument("--layout", choices=LAYOUTS,
                   help="place the stems for a layout (WAV/FLAC channel order, with its WAVE channel mask: stereo "
                        "L R; 5.1 L R C LFE Ls Rs; 7.1 L R C LFE Lrs Rrs Lss Rss; 7.1.4 7.1 + Ltf Rtf Ltr Rtr; "
                        "binaural left right; Ogg/Opus: the Vorbis order)")
    p.add_argument("--position", action="append", default=[], metavar="NAME=AZ,EL",
                   help="override a stem's stored position (degrees, azimuth positive to the left)")
    p.add_argument("--head-yaw", type=finite_float, default=0.0, metavar="DEG",
                   help="binaural: head turned left by DEG")
    p.add_argument("--hrtf", metavar="FILE.sofa", help="binaural: HRIRs from a SOFA file (default: MIT KEMAR)")
    p.add_argument("--start", type=parse_time, default=0.0, metavar="TIME",
                   help="start time: seconds, M:SS or H:MM:SS (90, 1:30, 1:02:03.5)")
    p.add_argument("--duration", type=parse_time, metavar="TIME", help="duration, as --start (default: to the end)")
    p.add_argument("--strict", action="store_true",
                   help="stop at a damaged packet (CRC or codec error) instead of concealing it with silence")
    add_common_options(p, writes=True)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _frame_range(f: SncFile, start_s: float, duration_s: float | None) -> tuple[int, int]:
    """``(start, frames)`` of the part to decode; the argument parser has made both finite and >= 0."""
    start = round(start_s * f.samplerate)
    if start > f.frames:
        raise InputError(f"--start {start_s:g} s is past the end ({f.duration:.3f} s)")
    left = f.frames - start
    return start, left if duration_s is None else min(left, round(duration_s * f.samplerate))


def _file_format(f: SncFile) -> AudioFormat:
    return AudioFormat(f.samplerate, f.channels, f.info.sample_format, f.info.bits)


def _check_stem(f: SncFile, name: str) -> None:
    names = [s.name for s in f.streams]
    if name not in names:
        raise InputError(f"--stem {name!r}: no such stem; the file has: {', '.join(map(printable, names))}")


def _stem_format(f: SncFile, name: str, fmt: AudioFormat, start: int, frames: int, played: bool) -> AudioFormat:
    """Stems share the mix's format; the residual, or a stem through a master's gain, may exceed it and is
    then written as float32 WAV."""
    residual = f.streams[[s.name for s in f.streams].index(name)].is_residual
    if not (residual or (played and f.master is not None)) or fmt.sample_format != "int":
        return fmt
    limit = 1 << (fmt.bits - 1)
    for block in f.blocks(start=start, frames=frames, stem=name, dtype="native", played=played):
        if block.size and (block.min() < -limit or block.max() >= limit):
            return AudioFormat(fmt.sample_rate, fmt.channels, "float32", 32)
    return fmt


class _Output:
    """One file to write: where, in which format, and the blocks that fill it."""

    def __init__(self, name: str, fmt: AudioFormat, blocks, *, tags: dict, layout: str | None = None):
        self.name, self.fmt, self.blocks, self.tags, self.layout = name, fmt, blocks, tags, layout


def _stem_output(f, name, path: str, fmt, start, frames, played: bool = False) -> _Output:
    sfmt = _stem_format(f, name, fmt, start, frames, played)
    if sfmt.sample_format == "float32" and Path(path).suffix.lower() == ".flac":
        path = str(Path(path).with_suffix(".wav"))  # FLAC has no float samples; float32 holds the residual exactly
    dtype = "native" if sfmt is fmt else "float32"
    return _Output(path, sfmt, lambda: f.blocks(start=start, frames=frames, stem=name, dtype=dtype, played=played),
                   tags=stem_tags(f.tags, name))


def _parse_gain(value: str) -> float:
    """A stem gain in dB: finite and within :data:`snc.render.remix.REMIX_GAIN_RANGE_DB`."""
    gain = float(value)
    lo, hi = REMIX_GAIN_RANGE_DB
    if not lo <= gain <= hi:  # also false for nan
        raise ValueError(f"a gain must be {lo:g}..{hi:+g} dB")
    return gain


def _context(items) -> dict | None:
    if not items:
        return None
    out = {}
    for key, value in parse_assignments(items, "--context").items():
        if key == "ambient_db":
            try:
                out[key] = float(value)
            except ValueError:
                raise InputError(f"--context ambient_db={value!r} is not a number") from None
            if not math.isfinite(out[key]):
                raise InputError(f"--context ambient_db={value!r} is not a finite number")
        elif key == "night":
            out[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            out[key] = value
    return out


def _body(args) -> int:
    if args.output is None and args.stems_dir is None:
        raise InputError("give -o OUTPUT (or --stems-dir DIR)")
    if args.stems_dir is not None and args.output == STDIO:
        raise InputError("--stems-dir writes files; -o - (stdout) does not combine with it")
    gains = parse_assignments(args.gain, "--gain", _parse_gain)
    context = _context(args.context)
    positions = parse_assignments(args.position, "--position", parse_position)
    spatial = dict(layout=args.layout, positions=positions or None, head_yaw_deg=args.head_yaw, hrtf=args.hrtf) \
        if (args.layout or positions or args.head_yaw or args.hrtf) else {}
    rendered = args.profile is not None or context is not None or args.target_lufs is not None or bool(spatial)
    remix = bool(gains or args.mute or args.solo)
    if args.as_played and not (args.stem or args.stems_dir):
        raise InputError("--as-played reads stems: give --stem NAME or --stems-dir DIR")
    if (remix or rendered) and (args.stem or args.stems_dir):
        raise InputError("--gain/--mute/--solo/--profile/--context/--target-lufs render the mix; they do not "
                         "combine with --stem/--stems-dir")
    with input_path(args.input) as source, SncFile(source, strict=args.strict) as f:
        start, frames = _frame_range(f, args.start, args.duration)
        if args.stem is not None:
            _check_stem(f, args.stem)
        fmt = _file_format(f)
        outputs = []
        if args.stems_dir is not None:
            outputs += _stems_dir_outputs(f, args, fmt, start, frames)
        if args.stem is not None:
            outputs.append(_stem_output(f, args.stem, args.output, fmt, start, frames, args.as_played))
        elif args.output is not None:
            outputs.append(_mix_output(f, args, fmt, start, frames, gains=gains, context=context, spatial=spatial,
                                       rendered=rendered, remix=remix))
        _refuse_targets(outputs, inputs=[args.input, source, args.hrtf], force=args.force)
        if args.stems_dir is not None:
            Path(args.stems_dir).mkdir(parents=True, exist_ok=True)
        for out in outputs:
            _write(out, f, frames, args)  # its progress line names the file
    return 0


def _stems_dir_outputs(f, args, fmt, start, frames) -> list[_Output]:
    out_dir = Path(args.stems_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--stems-dir {out_dir} exists and is not a directory")
    ext = Path(args.output).suffix if args.output else ".wav"
    return [_stem_output(f, st.name, str(out_dir / f"{file_name}{ext}"), fmt, start, frames, args.as_played)
            for st, file_name in zip(f.streams, stem_file_names([st.name for st in f.streams]))]


def _mix_output(f, args, fmt, start, frames, *, gains, context, spatial, rendered, remix) -> _Output:
    if rendered:
        if spatial.get("layout"):
            fmt = AudioFormat(fmt.sample_rate, len(channel_names(args.layout)), fmt.sample_format, fmt.bits)
        return _Output(args.output, fmt, lambda: (to_native(b, fmt) for b in f.render_blocks(
            start=start, frames=frames, profile=args.profile, context=context, target_lufs=args.target_lufs,
            gains=gains, mute=args.mute, solo=args.solo, attribution=args.attribution, **spatial)),
            tags=f.tags, layout=args.layout)
    if remix:
        return _Output(args.output, fmt, lambda: (to_native(b, fmt) for b in f.blocks(
            start=start, frames=frames, gains=gains, mute=args.mute, solo=args.solo, attribution=args.attribution)),
            tags=f.tags)
    return _Output(args.output, fmt, lambda: f.blocks(start=start, frames=frames, dtype="native"), tags=f.tags)


def _refuse_targets(outputs: list[_Output], *, inputs, force: bool) -> None:
    """Before anything is written: no output may be an input, nor exist (unless ``force``).  Files in a
    ``--stems-dir`` still to be created cannot exist yet."""
    inputs = [p for p in inputs if p is not None and p != STDIO]
    for out in outputs:
        if not streams_output(out.name) and Path(out.name).parent.is_dir():
            check_output(out.name, inputs=inputs, overwrite=force)


def _write(out: _Output, f: SncFile, frames: int, args) -> None:
    suffix = Path(out.name).suffix if out.name != STDIO else ".wav"
    progress = Progress("stdout" if out.name == STDIO else out.name, "decoded", samplerate=f.samplerate,
                        quiet=args.quiet, verbose=args.verbose)
    with output_path(out.name, suffix=suffix or ".wav") as path, writing(out.name, via=path):
        written = write_audio(path, progress.track(out.blocks(), frames), out.fmt, tags=out.tags, layout=out.layout)
    progress.done(written)


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def stem_file_names(names: list[str]) -> list[str]:
    """Stream names as distinct, safe file names (spec section "Security Considerations").

    Path separators and control characters become ``_``, names are cut to 100
    characters, Windows device names get a ``_`` prefix, and names that clean
    up to the same string get ``-2``, ``-3``, ... suffixes.
    """
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        cleaned = "".join("_" if (c in '/\\:*?"<>|' or ord(c) < 32) else c for c in name).strip(". ")[:100]
        cleaned = cleaned or "stem"
        if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
            cleaned = "_" + cleaned
        candidate, n = cleaned, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{cleaned}-{n}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
