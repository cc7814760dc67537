"""snc-export: a .snc file into the formats DJ software and DAWs open.

``-o song.stem.mp4`` writes NI Stems (Traktor, Mixxx 2.6, VirtualDJ): the master and four stems whose sum is
the master (exactly with ALAC, the default).  Needs PyAV: ``pip install 'snc[export]'``.
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
    p = Parser(prog=PROG, description="Export a .snc file for other tools: NI Stems (.stem.mp4) for DJ software.",
               epilog="example: snc-export song.snc -o song.stem.mp4 --map drums=drums+perc --map other=keys+gtr")
    p.add_argument("input", help="the .snc file")
    p.add_argument("-o", "--output", required=True, help="the file to write: .stem.mp4 (NI Stems)")
    p.add_argument("--codec", choices=("alac", "aac"), default="alac",
                   help="NI Stems audio: alac (lossless: the stems add up to the master exactly; default) or aac "
                        "(256 kbit/s)")
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
    from ..interop.slots import parse_map
    from ..interop.stems_mp4 import export_stem_mp4
    from ..render.file import open as open_snc

    if not args.output.lower().endswith(NI_SUFFIXES):
        raise InputError(f"-o {args.output}: give a .stem.mp4 file (NI Stems)")
    slots = None
    with open_snc(args.input) as f:
        samplerate = f.samplerate
        if args.map:
            slots = parse_map(args.map, list(f.stems))
    progress = Progress(args.output, "exported", samplerate=samplerate, quiet=args.quiet, verbose=args.verbose)
    report = export_stem_mp4(args.input, args.output, codec=args.codec, slots=slots, residual=args.residual,
                             overwrite=args.force, check=not args.no_check, progress=progress)
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
        print(f"{args.output}: NI Stems, {report.codec} {report.bits}-bit {report.sample_rate} Hz, "
              f"{human_bytes(report.file_bytes)} bytes{check}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
