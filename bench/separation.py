"""Separation benchmark (issue 5: "Separation on encode: built-in separator, demucs, and stem provenance").

Part 1 -- separation quality.  For every multitrack item of the shared corpus (``manifest.json``), the true stems
are mapped to roles where their names match (``drums``, ``bass``, ``vocals``; ``other`` = the sum of every other
stem; an item with no stem of the first three roles is not scored, its ``other`` would be the whole mix), and for
each role present: SI-SDR (scale-invariant SDR, Le Roux et al. 2019, eq. 1, over both channels
of the whole 45 s) against the true role signal of

- ``mix/K``: the trivial baseline (every role gets the mix divided by the number of roles; SI-SDR is scale
  invariant, so this is the SI-SDR of the mix itself);
- ``dsp``: ``snc.separate.dsp.DspSeparator().separate(mix)`` on the whole item (float64, full scale 1.0);
- ``oracle``: ideal ratio masks ``|S_k|^2 / sum_j |S_j|^2`` from the true role signals, in the same STFT as
  the dsp separator (``snc.separate.dsp.stft``, frame 4096 at 44.1 kHz), applied to the mix: what masking in
  that transform can reach at best;
- ``demucs`` too when it can run here (installed and its weights found by ``--model`` or the caches; this
  machine cannot download them, so the row then says why it is missing).

Speed: ``DspSeparator().separate`` of each whole item in x realtime on one core (process pinned with
``bench/_common.one_core``), after a warm-up call (numba compile and cache load excluded), fastest of 3.

Part 2 -- what separation costs in bits.  ``snc.encode(mix, BytesIO, preset='transparent', samplerate=44100,
bits=16)`` of each item three ways: with its true stems, with ``separator='dsp'`` and with ``separator='none'``
(the mix as one stream); file bytes / ``flac -8`` of the mix (measured in this run), and the decoded mix's SNR,
STOI and ViSQOL (``bench/quality``) for the separated encode, against the issue-4 targets of the transparent
preset: size <= 0.35 x FLAC, STOI >= 0.996, ViSQOL >= 4.6 (``*`` = missed).

Targets of the issue: dsp beats mix/K by >= 3 dB SI-SDR on drums and on bass, averaged over the corpus items
that have the role (``*`` = missed); dsp >= 20x realtime.

Usage: ``python bench/separation.py [--items a,b] [--excerpt START DUR] [--skip 1|2] [--model PATH]``
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import quality as q  # noqa: E402

_common.one_core()

import snc  # noqa: E402
from snc.separate import dsp, separate_mix  # noqa: E402

ROLES = ("drums", "bass", "vocals", "other")
TARGET_GAIN_DB = 3.0
TARGET_SPEED = 20.0
TRANSPARENT = {"size": 0.35, "stoi": 0.996, "visqol": 4.6}


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., "SDR - half-baked or well done?", 2019, eq. 1)."""
    ref = np.asarray(ref, dtype=np.float64).ravel()
    est = np.asarray(est, dtype=np.float64).ravel()
    target = (est @ ref) / (ref @ ref) * ref
    noise = est - target
    return 10.0 * math.log10((target @ target) / (noise @ noise))


def role_signals(item: dict, start: int, frames: int) -> dict[str, np.ndarray]:
    """True stems mapped to roles (float64, full scale 1.0): matching names keep their role, the rest sum to other."""
    stems_dir = _common.CORPUS / item["path"] / "stems"
    roles: dict[str, np.ndarray] = {}
    for path in sorted(stems_dir.glob("*.flac")):
        x, _ = sf.read(path, dtype="float64", always_2d=True, start=start, frames=frames)
        role = path.stem if path.stem in ROLES[:3] else "other"
        roles[role] = roles.get(role, 0.0) + x
    return {r: roles[r] for r in ROLES if r in roles}


def oracle(mix: np.ndarray, roles: dict[str, np.ndarray], rate: int) -> dict[str, np.ndarray]:
    """Ideal ratio masks of the true roles applied to the mix, in the dsp separator's STFT."""
    nfft = dsp._frame_size(rate)
    spec = dsp.stft(mix, nfft).astype(np.complex128)
    powers = {r: np.abs(dsp.stft(x, nfft)) ** 2 for r, x in roles.items()}
    total = sum(p.mean(axis=0) for p in powers.values()) + 1e-30
    return {r: dsp.istft(spec * (p.mean(axis=0) / total), nfft, len(mix)) for r, p in powers.items()}


def demucs_separator(model):
    """A DemucsSeparator, or the one-line reason it cannot run here."""
    from snc.errors import SncError
    from snc.separate.demucs import DemucsSeparator

    try:
        return DemucsSeparator(model), ""
    except SncError as exc:
        return None, str(exc).split(". ")[0]


def part1(items, excerpt, model) -> None:
    rows, gains = [], {r: [] for r in ROLES}
    demucs, why = demucs_separator(model)
    if demucs is None:
        print(f"demucs: not run here ({why})")
    sep = dsp.DspSeparator()
    sep.separate(np.zeros((44100, 2)), 44100)  # warm-up: numba compile / cache load
    speeds = []
    for item in items:
        start, frames = excerpt(item)
        mix, rate = sf.read(_common.CORPUS / item["path"] / "mix.flac", dtype="float64", always_2d=True,
                            start=start, frames=frames)
        roles = role_signals(item, start, frames)
        if set(roles) == {"other"}:  # nothing to tell apart: "other" would be the whole mix
            print(f"{item['id']}: no stem named drums, bass or vocals; not scored")
            continue
        est = sep.separate(mix, rate)
        seconds = _common.best_time(lambda mix=mix, rate=rate: sep.separate(mix, rate))
        speeds.append(len(mix) / rate / seconds)
        ideal = oracle(mix, roles, rate)
        extra = demucs.separate(mix, rate) if demucs is not None else None
        for role, ref in roles.items():
            base = si_sdr(ref, mix)
            got = si_sdr(ref, est[role])
            gains[role].append(got - base)
            rows.append([item["id"], role, f"{base:.2f}", f"{got:.2f}", f"{got - base:+.2f}",
                         f"{si_sdr(ref, ideal[role]):.2f}",
                         f"{si_sdr(ref, extra[role]):.2f}" if extra is not None and role in extra else "-",
                         f"{speeds[-1]:.1f}"])
    _common.print_table(["item", "role", "mix/K SI-SDR", "dsp SI-SDR", "dsp - mix/K", "oracle IRM", "demucs",
                         "dsp x RT"], rows,
                        title="\nSeparation quality (SI-SDR dB against the true role; other = sum of the other stems)")
    summary = []
    for role in ROLES:
        if not gains[role]:
            continue
        mean = float(np.mean(gains[role]))
        flag = " *" if role in ("drums", "bass") and mean < TARGET_GAIN_DB else ""
        target = f">= {TARGET_GAIN_DB:g}" if role in ("drums", "bass") else "-"
        summary.append([role, len(gains[role]), f"{mean:+.2f}{flag}", target])
    speed = min(speeds)
    summary.append(["dsp speed (worst item)", len(speeds), f"{speed:.1f}x{' *' if speed < TARGET_SPEED else ''}",
                    f">= {TARGET_SPEED:g}x"])
    _common.print_table(["role", "items", "mean dsp - mix/K (dB)", "target"], summary,
                        title="\nAverage over the corpus (* = target missed)")


def part2(items, excerpt) -> None:
    rows = []
    for item in items:
        start, frames = excerpt(item)
        path = _common.CORPUS / item["path"] / "mix.flac"
        mix, rate, bits = _common.read_int(path)
        mix = mix[start:start + frames]
        with_flac = _common.flac8_bytes_of(mix, rate, bits)
        stems = {}
        for p in sorted((_common.CORPUS / item["path"] / "stems").glob("*.flac")):
            stems[p.stem] = _common.read_int(p)[0][start:start + frames]
        sizes = {}
        for label, kwargs in (("true stems", {"stems": stems}), ("dsp", {"separator": "dsp"}),
                              ("none", {"separator": "none"})):
            buf = io.BytesIO()
            t0 = time.perf_counter()
            report = snc.encode(mix, buf, samplerate=rate, bits=bits, preset="transparent", **kwargs)
            seconds = time.perf_counter() - t0
            sizes[label] = report.file_bytes
            if label == "dsp":
                ref = mix / float(1 << (bits - 1))
                # the stems the encoder coded (the separator is deterministic) against their decoded selves
                with separate_mix(mix, separator="dsp", samplerate=rate, bits=bits) as sep:
                    separated = {name: np.array(a.array) / float(1 << (bits - 1)) for name, a in sep.stems.items()}
                buf.seek(0)
                with snc.open(buf) as f:
                    decoded = f.read()
                    stem_snrs = [q.snr_db(v, f.read(stem=name)) for name, v in separated.items()]
                dsp_quality = (q.snr_db(ref, decoded), q.stoi(ref, decoded, rate), _visqol(ref, decoded, rate))
                dsp_speed = len(mix) / rate / seconds
                residual = next(s["bytes"] for s in report.streams if s["role"] == "residual")
        snr, st, vq = dsp_quality
        ratio = sizes["dsp"] / with_flac
        rows.append([item["id"], f"{with_flac:,}", f"{sizes['true stems'] / with_flac:.3f}",
                     f"{ratio:.3f}{' *' if ratio > TRANSPARENT['size'] else ''}",
                     f"{sizes['none'] / with_flac:.3f}", f"{sizes['dsp'] / sizes['true stems']:.2f}",
                     f"{residual / sizes['dsp']:.0%}", f"{snr:.1f}",
                     f"{st:.4f}{' *' if st < TRANSPARENT['stoi'] else ''}",
                     "-" if vq is None else f"{vq:.3f}{' *' if vq < TRANSPARENT['visqol'] else ''}",
                     f"{min(stem_snrs[:-1]):.1f}", f"{stem_snrs[-1]:.1f}", f"{dsp_speed:.1f}"])
    _common.print_table(["item", "FLAC -8 bytes", "true stems / FLAC", "dsp stems / FLAC", "none / FLAC",
                         "dsp / true", "dsp residual share", "dsp mix SNR dB", "dsp mix STOI", "dsp mix ViSQOL",
                         "dsp stem SNR dB, min of the others", "dsp stem SNR dB, last (the rest)",
                         "dsp enc x RT (with separation)"], rows,
                        title="\nTransparent preset: what separation costs in bits (* = issue-4 transparent "
                              "target missed: size <= 0.35, STOI >= 0.996, ViSQOL >= 4.6). Stem SNR: decoded dsp "
                              "stems against the separator's own output; the last stem is coded as the rest of the "
                              "mix and holds the others' coding noise (spec codec-perceptual.md 9)")


def _visqol(ref, deg, rate):
    return None if q.visqol_unavailable() else q.visqol(ref, deg, rate)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: all multitrack items)")
    ap.add_argument("--excerpt", nargs=2, type=float, metavar=("START", "DUR"), help="seconds of each item")
    ap.add_argument("--skip", default="", help="'1' or '2': skip that part")
    ap.add_argument("--model", default=None, help="demucs weights for the demucs column (default: the caches)")
    args = ap.parse_args(argv)
    items = _common.multitrack_items()
    if args.items:
        wanted = set(args.items.split(","))
        items = [it for it in items if it["id"] in wanted]

    def excerpt(item):
        rate = item["sample_rate"]
        if args.excerpt is None:
            return 0, int(item["duration_s"] * rate)
        return int(args.excerpt[0] * rate), int(args.excerpt[1] * rate)

    if "1" not in args.skip:
        part1(items, excerpt, args.model)
    if "2" not in args.skip:
        part2(items, excerpt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
