"""snc-export: a .snc file into the formats DJ software and DAWs open.

- ``-o song.stem.mp4``: NI Stems (Traktor, Mixxx 2.6, VirtualDJ): the master and four stems whose sum is the
  master (exactly with ALAC, the default; AAC on request);
- ``-o song.mka``: Matroska, the mix and a named track per stem plus the residual (FLAC, the default, or Opus);
- ``--stems-dir DIR [--format flac|wav]``: one file per track and ``stems.json``.

Needs PyAV for the first two: ``pip install 'snc[export]'``.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from ..version import __version__
from .common import Parser, Progress, add_common_options, human_bytes, printable, run

PROG = "snc-export"
NI_SUFFIXES = (".stem.mp4", ".stem.m4a", ".mp4", ".m4a")


def get_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Export a .snc file for other tools: NI Stems (.stem.mp4) for DJ software, "
                                      "Matroska (.mka) or a folder of FLAC/WAV files for DAWs.",
               epilog="example: snc-export song.snc -o song.stem.mp4 --map drums=drums+perc --map other=keys+gtr")
    p.add_argument("input", help="the .snc file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", help="the file to write: .stem.mp4 (NI Stems) or .mka (Matroska)")
    where.add_argument("--stems-dir", metavar="DIR", help="write one file per track and stems.json into DIR")
    p.add_argument("--format", choices=("flac", "wav"), default="flac", help="--stems-dir files (default flac)")
    p.add_argument("--codec", choices=("alac", "aac", "flac", "opus"), default=None,
                   help="NI Stems: alac (lossless: the stems add up to the master exactly; default) or aac "
                        "(256 kbit/s); Matroska: flac (default) or opus")
    p.add_argument("--map", action="append", default=[], metavar="SLOT=STEM[+STEM...]",
                   help="put these stems into one of the four stem slots (repeat, in slot order); default: by role, "
                        "drums, bass, other, vocals; every stem must be in a slot")
    p.add_argument("--residual", default="attribution", metavar="attribution|SLOT",
                   help="where the residual (mix minus the stems) goes: shared by the file's attribution "
                        "(default) or all into one slot")
    p.add_argument("--no-check", action="store_true", help="do not decode the written file to measure its sum")
    add_common_options(p, writes=True)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _body(args) -> int:
    from ..render.file import open as open_snc

    with open_snc(args.input) as f:
        samplerate, stem_names = f.samplerate, list(f.stems)
    target = args.stems_dir or args.output
    progress = Progress(target, "exported", samplerate=samplerate, quiet=args.quiet, verbose=args.verbose)
    if args.stems_dir is not None or args.output.lower().endswith(".mka"):
        if args.map or args.residual != "attribution":
            raise InputError("--map and --residual shape NI Stems' four slots; Matroska and folders keep every stem")
        return _multitrack(args, progress)
    if not args.output.lower().endswith(NI_SUFFIXES):
        raise InputError(f"-o {args.output}: give a .stem.mp4 (NI Stems) or .mka (Matroska) file, or --stems-dir")
    return _ni_stems(args, stem_names, progress)


def _multitrack(args, progress) -> int:
    from ..interop.multitrack import export_folder, export_matroska

    if args.stems_dir is not None:
        if args.codec is not None:
            raise InputError("--codec is for -o; a folder takes --format flac|wav")
        report = export_folder(args.input, args.stems_dir, fmt=args.format, overwrite=args.force, progress=progress)
        progress.done(None)
        if not args.quiet:
            print(f"{args.stems_dir}: {', '.join(report['files'])}", file=sys.stderr)
        return 0
    if args.codec not in (None, "flac", "opus"):
        raise InputError(f"--codec {args.codec}: Matroska takes flac or opus")
    report = export_matroska(args.input, args.output, codec=args.codec or "flac", overwrite=args.force,
                             progress=progress)
    progress.done(None)
    if not args.quiet:
        print(f"{args.output}: Matroska, {report['codec']}, tracks {', '.join(report['tracks'])}, "
              f"{human_bytes(report['file_bytes'])} bytes", file=sys.stderr)
    return 0


def _ni_stems(args, stem_names: list[str], progress) -> int:
    from ..interop.slots import parse_map
    from ..interop.stems_mp4 import export_stem_mp4

    if args.codec not in (None, "alac", "aac"):
        raise InputError(f"--codec {args.codec}: NI Stems takes alac or aac")
    slots = parse_map(args.map, stem_names) if args.map else None
    report = export_stem_mp4(args.input, args.output, codec=args.codec or "alac", slots=slots,
                             residual=args.residual, overwrite=args.force, check=not args.no_check, progress=progress)
    progress.done(None)
    if not args.quiet:
        for k, slot in enumerate(report.slots, 1):
            members = "+".join(slot["stems"]) or "(silent)"
            print(f"  stem {k}: {printable(slot['name'])} {slot['color']} <- {printable(members)}", file=sys.stderr)
        check = ""
        if report.max_sum_error is not None:
            check = ("; stems sum to the master exactly" if report.max_sum_error == 0 else
                     f"; stems sum to the master within {report.max_sum_error} LSB "
                     f"({report.sum_snr_db:.1f} dB SNR)")
        room = f" ({6 * report.headroom_bits} dB of headroom)" if report.headroom_bits else ""
        if report.spilled_samples:
            check += (f"; {report.spilled_samples} samples beyond full scale in a stem moved to another stem "
                      f"(their sum unchanged)")
        print(f"{args.output}: NI Stems, {report.codec} {report.bits}-bit{room} {report.sample_rate} Hz, "
              f"{human_bytes(report.file_bytes)} bytes{check}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
