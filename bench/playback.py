"""Playback benchmark (issue 6: "Playback: remix, adaptive profiles, loudness, spatial rendering, streaming").

Every item is encoded once, ``snc.encode(mix, BytesIO, stems=true stems, preset='transparent', lead=L)``
(multitrack items, ``L`` the lead stem of part 1 as ``snc-encode --lead`` would name it; the mixed-only item
without stems), full 45 s unless ``--excerpt``.

Part 1 -- karaoke.  On the multitrack items with a vocal or lead stem (a stem named ``vocals``, else ``lead``
or ``guitar``), the render with that stem muted (``read(mute=[stem], attribution=rule)`` for the ``tiles`` (the
default), ``share`` and ``global`` rules of spec section 19), and what is left of the muted stem ``V`` (true stem)
relative to its own energy:

- ``coherent``: the part of ``Y - (M - V)`` along ``V`` (least-squares projection): the stem's own signal;
  in a file with a master stream ``V`` is the stem as it plays in the mix, through the master's gain
  (spec snc-format.md 3.7): that, not the stem as delivered, is what the mastered mix holds of it;
- ``noise``: the muted stem's coding noise ``n = V' - V`` (``V'`` decoded) as the residual passes it on --
  ``g_R * n`` under the global rule, the tile gains applied to ``n`` (``snc.render.attribution``) otherwise;
- ``left``: the two together -- the number the target (<= -30 dB) is about;
- ``deviation``: all of ``Y - (M - V)``, which also holds the other stems' own coding noise (not the muted
  stem's; informative);
- ``lead SNR``: of the decoded lead against the true one (coded to ``lead_snr_db``);
- ``file bytes``: and, in brackets, their change against the same encode with the lead held to the other
  stems' SNR -- the price of the lead's finer coding.

Part 2 -- loudness.  ``f.render(target_lufs=-14)`` of every item: integrated loudness measured by pyloudnorm
(an independent BS.1770 implementation) against the target (+-0.5 LU), true peak by ``snc.signal.loudness``
(4x oversampled; <= -1 dBTP), and each built-in profile that sets a target, likewise, with its loudness range
(EBU Tech 3342) next to the mix's.

Part 3 -- render speed, x realtime on one core (``bench/_common.one_core``), after a warm-up render, fastest of
3, of the whole item with the most stems: the exact mix, a remix (one stem muted, tiles), each built-in profile,
``--target-lufs -14`` and the layouts 5.1, 7.1, 7.1.4 and binaural (stems at their role's default position;
target >= 30x for 7.1.4 and binaural).

Usage: ``python bench/playback.py [--items a,b] [--excerpt START DUR] [--skip 1|2|3]``
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

_common.one_core()

import snc  # noqa: E402
from snc.encode import tuning as snc_encoder  # noqa: E402
from snc.render.attribution import attributed_residual  # noqa: E402
from snc.render.profiles import BUILTIN  # noqa: E402
from snc.signal.loudness import LoudnessMeter  # noqa: E402
from snc.signal.mixing import mastered  # noqa: E402

LEAD_NAMES = ("vocals", "lead", "guitar")
KARAOKE_TARGET_DB = -30.0
TARGET_LUFS = -14.0
LUFS_TOLERANCE = 0.5
PEAK_CEILING = -1.0
SPATIAL_TARGET = 30.0


def db(num: float, den: float) -> float:
    return 10.0 * math.log10(num / den) if num > 0 else -math.inf


def load(item: dict, excerpt) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    start, frames = excerpt(item)
    mix, rate, _ = _common.read_int(_common.CORPUS / item["path"] / "mix.flac")
    stems = {}
    for p in sorted((_common.CORPUS / item["path"] / "stems").glob("*.flac")):
        stems[p.stem] = _common.read_int(p)[0][start:start + frames]
    return mix[start:start + frames], stems, rate


def lead_of(stems: dict) -> str | None:
    return next((n for n in LEAD_NAMES if n in stems), None)


def encode(mix, stems, rate) -> bytes:
    buf = io.BytesIO()
    snc.encode(mix, buf, stems=stems or None, samplerate=rate, bits=16, preset="transparent", lead=lead_of(stems))
    return buf.getvalue()


def plain_bytes(mix, stems, rate) -> int:
    """The price of the lead's finer coding: file bytes of the same encode with the lead held to the other
    stems' SNR (``lead_snr_db = stem_snr_db``)."""
    tuning = snc_encoder.PERCEPTUAL_TUNING["transparent"]
    snc_encoder.PERCEPTUAL_TUNING["transparent"] = dataclasses.replace(tuning, lead_snr_db=tuning.stem_snr_db)
    try:
        return len(encode(mix, stems, rate))
    finally:
        snc_encoder.PERCEPTUAL_TUNING["transparent"] = tuning


def karaoke(items, files) -> None:
    rows = []
    for item in items:
        mix, stems, rate = files[item["id"]][1:]
        lead = lead_of(stems)
        if lead is None:
            continue
        data = files[item["id"]][0]
        plain = plain_bytes(mix, stems, rate)
        with snc.open(io.BytesIO(data)) as f:
            names = f.stems
            # the stems as they play in the mix: through the master's gain where the file has one (spec 3.7)
            gain = np.concatenate([f.master_gain(seg) for seg in f.segments]) if f.master is not None else None
            decoded = {n: np.concatenate([f.decode_packet(seg, f.stream_index(n)) for seg in f.segments]) / 32768.0
                       for n in names}
            v = (stems[lead] if gain is None else mastered(gain, stems[lead])) / 32768.0
            m = mix / 32768.0
            ev = float(np.sum(v * v))
            noise = decoded[lead] - v
            cost = f"{len(data):,} ({100 * (len(data) / plain - 1):+.1f} %)"
            gains = f.remix_gains(mute=[lead])
            stem_gains = [gains[i] for i in range(len(names))]
            residual_gain = gains[len(names)]
            for rule in ("tiles", "share", "global"):
                y = f.read(mute=[lead], attribution=rule)
                dev = y - (m - v)
                a = float(np.sum(dev * v)) / ev
                coherent = a * a * ev
                passed = (attributed_residual([decoded[n] for n in names], noise, stem_gains, residual_gain, rate,
                                              ceiling=rule == "tiles")
                          if rule != "global" else residual_gain * noise)
                left = db(coherent + float(np.sum(passed ** 2)), ev)
                flag = " *" if left > KARAOKE_TARGET_DB else ""
                rows.append([item["id"], lead, rule, f"{db(coherent, ev):.1f}",
                             f"{db(float(np.sum(passed ** 2)), ev):.1f}", f"{left:.1f}{flag}",
                             f"{db(float(np.sum(dev * dev)), ev):.1f}", f"{-db(float(np.sum(noise ** 2)), ev):.1f}",
                             cost])
    _common.print_table(["item", "muted stem", "attribution", "coherent dB", "noise dB", "left dB", "deviation dB",
                         "lead SNR dB", "file bytes (vs no lead)"],
                        rows, title=f"\nKaraoke: what is left of the muted stem, re its own energy "
                                    f"(transparent preset, true stems; * = above the {KARAOKE_TARGET_DB:g} dB target)")


def pyloudnorm_lufs(y: np.ndarray, rate: int) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(y))


def loudness(items, files) -> None:
    rows = []
    for item in items:
        data, mix, _, rate = files[item["id"]]
        with snc.open(io.BytesIO(data)) as f:
            base = LoudnessMeter(rate, f.channels)
            base.update(f.read())
            renders = [("--target-lufs -14", TARGET_LUFS, f.render(target_lufs=TARGET_LUFS))]
            renders += [(name, p.target_lufs, f.render(profile=name)) for name, p in BUILTIN.items()
                        if p.target_lufs is not None]
            for label, target, y in renders:
                meter = LoudnessMeter(rate, f.channels)
                meter.update(y)
                ref = pyloudnorm_lufs(y, rate)
                peak = meter.true_peak_dbtp()
                miss = abs(ref - target) > LUFS_TOLERANCE or peak > PEAK_CEILING
                rows.append([item["id"], label, f"{base.integrated_lufs():.2f}", f"{target:.1f}",
                             f"{ref:.2f}{' *' if abs(ref - target) > LUFS_TOLERANCE else ''}",
                             f"{meter.integrated_lufs():.2f}", f"{peak:.2f}{' *' if peak > PEAK_CEILING else ''}",
                             f"{base.loudness_range_lu():.1f}", f"{meter.loudness_range_lu():.1f}",
                             "MISSED" if miss else "ok"])
    _common.print_table(["item", "render", "mix LUFS", "target", "pyloudnorm LUFS", "snc LUFS", "true peak dBTP",
                         "mix LRA", "render LRA", "targets"], rows,
                        title=f"\nLoudness after normalisation (targets: within +-{LUFS_TOLERANCE} LU by pyloudnorm, "
                              f"true peak <= {PEAK_CEILING} dBTP; * = missed)")


def speed(items, files) -> None:
    item = max(items, key=lambda it: len(files[it["id"]][2]))
    data, mix, stems, rate = files[item["id"]]
    seconds = len(mix) / rate
    with snc.open(io.BytesIO(data)) as f:
        muted = f.stems[-1]
        cases = [("mix", lambda: f.read()), (f"remix (mute {muted}, tiles)", lambda: f.read(mute=[muted])),
                 (f"remix (mute {muted}, global)", lambda: f.read(mute=[muted], attribution="global"))]
        cases += [(f"profile {name}", lambda name=name: f.render(profile=name)) for name in BUILTIN]
        cases += [("--target-lufs -14", lambda: f.render(target_lufs=TARGET_LUFS))]
        cases += [(f"layout {layout}", lambda layout=layout: f.render(layout=layout))
                  for layout in ("5.1", "7.1", "7.1.4", "binaural")]
        rows = []
        for label, fn in cases:
            fn()  # warm-up
            t = _common.best_time(fn)
            target = SPATIAL_TARGET if label in ("layout 7.1.4", "layout binaural") else None
            rows.append([label, f"{seconds / t:.1f}{' *' if target and seconds / t < target else ''}",
                         f">= {target:g}" if target else "-"])
    _common.print_table(["render", "x realtime (one core)", "target"], rows,
                        title=f"\nRender speed: {item['id']} ({len(stems)} stems at their role's default positions, "
                              f"transparent preset, {seconds:.0f} s; * = missed)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: all)")
    ap.add_argument("--excerpt", nargs=2, type=float, metavar=("START", "DUR"), help="seconds of each item")
    ap.add_argument("--skip", default="", help="parts to skip: any of 1, 2, 3")
    args = ap.parse_args(argv)
    items = _common.manifest()["items"]
    if args.items:
        items = [it for it in items if it["id"] in set(args.items.split(","))]

    def excerpt(item):
        rate = item["sample_rate"]
        if args.excerpt is None:
            return 0, int(item["duration_s"] * rate)
        return int(args.excerpt[0] * rate), int(args.excerpt[1] * rate)

    files = {}
    for item in items:
        mix, stems, rate = load(item, excerpt) if _common.has_stems(item) else (None, {}, None)
        if mix is None:
            start, frames = excerpt(item)
            mix, rate, _ = _common.read_int(_common.CORPUS / item["path"] / "mix.flac")
            mix = mix[start:start + frames]
        files[item["id"]] = (encode(mix, stems, rate), mix, stems, rate)
    if "1" not in args.skip:
        karaoke(items, files)
    if "2" not in args.skip:
        loudness(items, files)
    if "3" not in args.skip:
        speed(items, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
