"""Float input (decoded MP3 / Ogg Vorbis / Opus) with every preset: sizes, exactness and SNR.

For a corpus mix it makes an MP3 (ffmpeg + libmp3lame), an Ogg Vorbis (ffmpeg + libvorbis) and an Opus file
(opusenc), decodes each to float32 with soundfile (what ``snc-encode`` reads), and encodes that with every
preset (and, for scale, the perceptual presets on the 16-bit original).  Per source and preset it prints the SNC
size against the lossy file, against FLAC -8 of the decoded audio rounded to 24 bits and against raw float32; for
archival and lossless whether the decoded mix is the float input bit for bit; for transparent and compact the mix
SNR against the float input.

Usage: python bench/float_input.py [--item mod_pingus_6] [--seconds 45] [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import snc  # noqa: E402

PRESETS = ("archival", "lossless", "transparent", "compact")
DEFAULT_CORPUS = Path(os.environ.get("SNC_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def make_sources(mix: Path, seconds: float, work: Path) -> dict[str, Path]:
    """The lossy files made from the first ``seconds`` of ``mix`` (those whose tools are installed)."""
    wav = work / "excerpt.wav"
    x, rate = sf.read(mix, dtype="int16", frames=int(seconds * sf.info(mix).samplerate))
    sf.write(wav, x, rate, subtype="PCM_16")
    out = {}
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        for name, args in (("mp3 128k", ["-c:a", "libmp3lame", "-b:a", "128k"]),
                           ("vorbis q5", ["-c:a", "libvorbis", "-q:a", "5"])):
            path = work / ("x.mp3" if "mp3" in name else "x.ogg")
            subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(wav), *args, str(path)], check=True)
            out[name] = path
    else:  # soundfile's own writers
        sf.write(work / "x.mp3", x, rate, format="MP3", subtype="MPEG_LAYER_III")
        sf.write(work / "x.ogg", x, rate, format="OGG", subtype="VORBIS")
        out.update({"mp3 (libsndfile)": work / "x.mp3", "vorbis (libsndfile)": work / "x.ogg"})
    if shutil.which("opusenc"):
        subprocess.run(["opusenc", "--quiet", "--bitrate", "128", str(wav), str(work / "x.opus")], check=True)
        out["opus 128k"] = work / "x.opus"
    return out


def flac_24_bytes(x: np.ndarray, rate: int, work: Path) -> int:
    """FLAC -8 of the float audio rounded to 24 bits (clipped at full scale)."""
    ints = np.clip(np.round(x.astype(np.float64) * 2 ** 23), -2 ** 23, 2 ** 23 - 1).astype(np.int32)
    wav = work / "d24.wav"
    sf.write(wav, ints << 8, rate, subtype="PCM_24")
    if shutil.which("flac"):
        subprocess.run(["flac", "-8", "-s", "-f", "-o", str(work / "d24.flac"), str(wav)], check=True,
                       stderr=subprocess.DEVNULL)
    else:
        sf.write(work / "d24.flac", ints << 8, rate, subtype="PCM_24")
    return os.path.getsize(work / "d24.flac")


def snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    err = got - ref
    return 10 * np.log10(np.sum(ref * ref) / max(np.sum(err * err), 1e-300))


def measure(name: str, path: Path, work: Path, presets=PRESETS) -> list[dict]:
    ref, rate = sf.read(path, dtype="float32")
    flac24 = flac_24_bytes(ref, rate, work)
    rows = []
    for preset in presets:
        out = work / f"{preset}.snc"
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = snc.encode(path, out, preset=preset)
        seconds = time.perf_counter() - t0
        with snc.open(out) as f:
            decoded = f.read(dtype="native")
            if f.info.sample_format == "int":
                got = decoded.astype(np.float64) / 2.0 ** (f.info.bits - 1)
                quality = f"SNR {snr_db(ref.astype(np.float64), got):.1f} dB"
            else:
                exact = np.array_equal(decoded.view(np.uint32), ref.view(np.uint32))
                quality = "bit-exact" if exact else "NOT EXACT"
        rows.append(dict(source=name, preset=preset, bytes=report.file_bytes, lossy=os.path.getsize(path),
                         flac24=flac24, raw=ref.nbytes, quality=quality, seconds=seconds,
                         warnings=[str(w.message) for w in caught]))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--item", default="mod_pingus_6")
    p.add_argument("--seconds", type=float, default=45.0)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = p.parse_args(argv)
    mix = args.corpus / args.item / "mix.flac"
    if not mix.exists():
        print(f"no {mix}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = []
        for name, path in make_sources(mix, args.seconds, work).items():
            rows += measure(name, path, work)
        # for scale: the perceptual presets on the 16-bit original (its SNR is what they give any input)
        rows += measure("16-bit original", work / "excerpt.wav", work, presets=("transparent", "compact"))
    print(f"{args.item}, first {args.seconds:g} s, decoded to float32 by soundfile {sf.__version__} "
          f"(libsndfile {sf.__libsndfile_version__})\n")
    print("| source | lossy bytes | preset | SNC bytes | x lossy | x FLAC-24 | x raw float | mix | encode s |")
    print("|---|---:|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['source']} | {r['lossy']:,} | {r['preset']} | {r['bytes']:,} | {r['bytes'] / r['lossy']:.2f} | "
              f"{r['bytes'] / r['flac24']:.3f} | {r['bytes'] / r['raw']:.3f} | {r['quality']} | {r['seconds']:.1f} |")
    print("\nFLAC -8 of the decoded audio rounded to 24 bits: " +
          ", ".join(sorted({f"{r['source']} {r['flac24']:,} B" for r in rows})))
    for r in rows:
        for w in r["warnings"]:
            print(f"warning ({r['source']}, {r['preset']}): {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
