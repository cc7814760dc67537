"""snc-encode: encode a mix (and its stems) into one .snc file."""

from __future__ import annotations

import argparse
import json
import math
import sys

from ..container.model import PRESETS
from ..encode import encode
from ..errors import InputError
from ..fileutil import check_output
from ..separate import SEPARATORS
from ..version import __version__
from .common import (
    STDIO,
    Messages,
    Parser,
    Progress,
    add_common_options,
    human_bytes,
    input_path,
    output_path,
    run,
    streams_output,
    writing,
)
from .music import add_music_options, batch_music, colours, music_args
from .values import finite_float, parse_assignments, parse_position, positive_float, positive_int

PROG = "snc-encode"


def get_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description="Encode a mix and its stems into one .snc file (stems + residual; the mix stays exact "
                    "in the archival and lossless presets).",
        epilog="examples: snc-encode mix.wav -o song.snc --stems vocals=v.wav drums=d.wav bass=b.wav --verify\n"
               "          snc-encode library/ -O snc/ -j 2          (every song under library/, resumable)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="IN",
                   help="the mix: any file soundfile reads (WAV, FLAC, AIFF, ...); - reads stdin.  With -O: any "
                        "number of mixes and folders (walked for audio files)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", help="output .snc file (refused if it exists, unless -f; - writes stdout)")
    out.add_argument("-O", "--output-dir", metavar="DIR",
                     help="batch: one .snc per song in DIR, named after the input tree (see --name); a journal "
                          "there makes a rerun skip songs that are done and unchanged (-f redoes them)")
    batch = p.add_argument_group("batch (with -O)")
    batch.add_argument("--manifest", metavar="FILE",
                       help="songs as CSV (columns mix, output, stem:NAME, tag:KEY, lead) or JSON lines "
                            "({mix, output, stems: {name: path}, tags, lead, positions, colours, music}) instead "
                            "of inputs")
    batch.add_argument("-j", "--jobs", type=positive_int, metavar="N",
                       help="songs encoded at once, each in its own process (default: one per CPU)")
    batch.add_argument("--name", default="{relpath}.snc", metavar="TEMPLATE",
                       help="output name under DIR: {relpath} (the input's path under the folder given, no "
                            "suffix), {name}, {parent} (default: {relpath}.snc)")
    batch.add_argument("--dry-run", action="store_true", help="print what would be encoded, skipped or refused")
    cluster = batch.add_mutually_exclusive_group()
    cluster.add_argument("--dask-scheduler", metavar="ADDRESS",
                         help="run the songs on this Dask cluster (pip install 'snc[cluster]'); its workers must "
                              "reach the inputs and DIR under the same paths (a shared filesystem)")
    cluster.add_argument("--dask-local", type=positive_int, metavar="N",
                         help="run the songs on a Dask LocalCluster of N worker processes on this machine")
    p.add_argument("--stems", nargs="+", metavar="NAME=PATH", default=[],
                   help="studio stems, e.g. vocals=v.wav drums=d.wav (same rate and channels as the mix)")
    p.add_argument("--separator", choices=SEPARATORS, default="auto",
                   help="how to get stems when --stems gives none: dsp (built in), demucs (pip install "
                        "'snc[demucs]' and its weights), auto (default: demucs if its weights are here, else dsp), "
                        "none (the mix as one stream, no remix)")
    p.add_argument("--model", metavar="PATH",
                   help="demucs weights: a .th or .safetensors checkpoint, or a folder of them (default: "
                        "htdemucs from the torch hub or HuggingFace cache; nothing is downloaded)")
    p.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads for demucs (default: torch's)")
    p.add_argument("--preset", choices=PRESETS, default="transparent",
                   help="archival: everything lossless; lossless: exact mix, perceptual stems; transparent "
                        "(default): perceptual, inaudible coding noise; compact: perceptual, smaller")
    p.add_argument("--bitrate", type=positive_float, metavar="KBPS",
                   help="average total bitrate instead of the preset's quality (transparent, compact)")
    p.add_argument("--remix-headroom", type=finite_float, default=6.0, metavar="DB",
                   help="stems may be raised (or the others lowered) by this much before their coding noise "
                        "becomes audible (perceptual presets; default: 6)")
    p.add_argument("--profiles", metavar="FILE.json",
                   help="authored playback profiles to store: {name: {gains, mute, eq, compressor, target_lufs, "
                        "true_peak_dbtp, description}}")
    p.add_argument("--position", action="append", default=[], metavar="NAME=AZ,EL",
                   help="stem position for spatial rendering, degrees (azimuth positive to the left); default "
                        "by role: vocals and bass narrow at the centre, drums wide, guitar left, piano right")
    p.add_argument("--lead", metavar="NAME",
                   help="the lead stem: the one karaoke mutes; coded with a higher SNR so that little of it "
                        "is left when muted (default: the vocals)")
    p.add_argument("--verify", action="store_true", help="decode what was written and compare with the input")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", default=[], help="metadata tag (repeatable)")
    add_music_options(p)
    p.add_argument("--codec", default="lossless", help="stream codec for the archival preset (default: lossless)")
    p.add_argument("--format-version", choices=("1.1", "1.2", "1.3", "1.4"), default=None, metavar="V",
                   help="write a file readers of format V decode: 1.1 keeps Rice-coded lossless residuals "
                        "(a few %% larger), 1.2 a master stream without EQ, 1.3 one without compressor; default: the "
                        "newest (1.4)")
    p.add_argument("--segment-frames", type=positive_int, default=None, metavar="N",
                   help="frames per segment: the seek granularity (default: 32768 archival, 131072 otherwise)")
    add_common_options(p, writes=True)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _body(args) -> int:
    if args.output_dir is not None:
        return _batch(args)
    if len(args.inputs) != 1:
        raise InputError("give one mix with -o (or any number of inputs with -O DIR)")
    args.mix = args.inputs[0]
    if args.manifest or args.jobs or args.dry_run or args.dask_scheduler or args.dask_local:
        raise InputError("--manifest, -j, --dry-run and --dask-* are batch options: give -O DIR")
    stems = parse_assignments(args.stems, "--stems")
    if STDIO in stems.values():
        raise InputError("only the mix can be read from stdin (-); give the stems as files")
    profiles = _read_profiles(args.profiles)
    tags = parse_assignments(args.tag, "--tag")
    positions = parse_assignments(args.position, "--position", parse_position)
    music, stem_colours = music_args(args), colours(args)
    say = Messages(args, audio_on_stdout=args.output == STDIO)
    if not streams_output(args.output):  # before reading stdin or any audio
        check_output(args.output, inputs=[args.mix, *stems.values()], overwrite=args.force)
    with input_path(args.mix) as mix, output_path(args.output, suffix=".snc") as output:
        ni_stems = _ni_stems(mix, stems)
        rate = ni_stems.sample_rate if ni_stems is not None else _samplerate(mix)
        progress = Progress(_display_name(args.output), "encoded", samplerate=rate, quiet=args.quiet,
                            verbose=args.verbose)
        options = dict(preset=args.preset, separator=args.separator, bitrate=args.bitrate, verify=args.verify,
                       tags=tags, codec=args.codec, remix_headroom=args.remix_headroom,
                       segment_frames=args.segment_frames, progress=progress, model=args.model,
                       threads=args.threads, profiles=profiles, positions=positions, lead=args.lead,
                       music=music.at(mix, rate), colours=stem_colours, format_version=args.format_version,
                       overwrite=args.force or streams_output(args.output))
        with writing(args.output, via=output):
            if ni_stems is not None:
                from ..interop.stems_mp4_read import encode_stems_file

                report = encode_stems_file(ni_stems, output, **options)
            else:
                report = encode(mix, output, stems=stems or None, **options)
        progress.done(report.frames)
    _summary(report, say, _display_name(args.output))
    return 0


def _batch(args) -> int:
    from .batch import run_batch

    options = dict(preset=args.preset, separator=args.separator, bitrate=args.bitrate, verify=args.verify,
                   tags=parse_assignments(args.tag, "--tag") or None, codec=args.codec,
                   remix_headroom=args.remix_headroom, segment_frames=args.segment_frames, model=args.model,
                   threads=args.threads, profiles=_read_profiles(args.profiles),
                   positions=parse_assignments(args.position, "--position", parse_position) or None, lead=args.lead,
                   music=batch_music(args), colours=colours(args), format_version=args.format_version)
    return run_batch(args, {k: v for k, v in options.items() if v is not None})


def _read_profiles(path) -> str | None:
    """The text of ``--profiles FILE``, checked to be strict JSON (Python's json takes NaN and Infinity,
    which no other JSON reader does); the encoder validates the profiles themselves."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--profiles: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:
        raise InputError(f"--profiles {path}: {exc}") from None
    return text


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as inf
        raise ValueError(f"{text} is out of range")
    return value


def _display_name(output: str) -> str:
    return "stdout" if output == STDIO else output


def _ni_stems(mix: str, stems: dict):
    """The NI Stems file ``mix`` is, read whole (its master is the mix, its tracks the stems), or None."""
    if not mix.lower().endswith((".mp4", ".m4a")):
        return None
    from ..interop.stems_mp4_read import is_stem_mp4, read_stem_mp4

    if not is_stem_mp4(mix):
        return None
    if stems:
        raise InputError(f"{mix} is an NI Stems file: it brings its own stems (no --stems)")
    return read_stem_mp4(mix)


def _samplerate(path) -> int | None:
    """The mix's rate, to show progress in seconds of audio (None if soundfile cannot tell: encode says why)."""
    import soundfile

    try:
        return soundfile.info(path).samplerate
    except Exception:  # noqa: BLE001 -- any failure here is reported by encode itself
        return None


def _summary(report, say: Messages, name: str) -> None:
    seconds = report.frames / report.sample_rate
    say.say(f"{name}: {human_bytes(report.file_bytes)} bytes, {seconds:.2f} s, preset {report.preset}, "
            f"{report.realtime_factor:.1f}x realtime")
    if report.separator:
        note = f"; {report.separator_note}" if report.separator_note else ""
        say.say(f"stems separated with {report.separator} in {report.separate_seconds:.1f} s{note}")
    for s in report.streams:
        say.say(f"  {s['name']:<16} {s['role']:<10} {s['codec']:<9} {human_bytes(s['bytes']):>14} bytes")
    if report.verified is not None:
        d = report.verify_details
        stems_ok = all(d["stems_exact"].values())
        mix_text = "bit-exact" if d["mix_exact"] else f"SNR {d['mix_snr_db']:.1f} dB"
        stems_text = "bit-exact" if stems_ok else "perceptual"
        hashes = "match" if d["hashes"]["mix"] else "differ"
        say.say(f"verify: {'OK' if report.verified else 'FAILED'} (hashes {hashes}, "
                f"mix {mix_text}" + (f", stems {stems_text}" if d["stems_exact"] else "") + ")")


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
