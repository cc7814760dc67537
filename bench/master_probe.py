"""How much of a mastered mix's residual would a time-varying gain explain?  A probe for issue 18 part 1
(mastering-aware coding), run before any format change: it measures, it encodes nothing with SNC.

For every corpus item with true stems: ``D = sum(stems)`` and the mix ``M`` (16-bit integers), and the residual
``M - P`` for

- ``none``: ``P = D`` (what the format stores today);
- ``gain B``: ``P = (g[t] * D[t] + 2^13) >> 14`` per channel, ``g`` a Q14 gain interpolated linearly between knots
  every ``B`` frames, the knots fitted by least squares on the whole item (integer arithmetic from the fitted
  knots on, as a decoder would run it).

Printed: the residual's RMS re the mix's (dB) and the bytes of ``flac -8`` of the residual (a lossless coder's
view of its cost), and the knots' raw size (16 bits each; an entropy coder would take less).  A compressor
or limiter is a gain that follows the music's envelope; an EQ in the chain is not a gain, which the probe shows
as what ``gain`` leaves.

With ``--arx P,Q``, one more row per item: after the finest gain, the residual ``r`` predicted per channel by
least squares over the whole item from its own ``P`` past values and ``Q + 1`` values of the gained stems'
sum ``s`` (``r[t] ~ sum a_k r[t-k] + sum b_k s[t-k]``): the predictor an EQ in the chain would need (a
biquad's equation error is exactly of this form), in floating point, its coefficients not counted.

With ``--eq``, one more row per item (per ``--eq-sections``): the master's EQ as the encoder fits it
(:func:`snc.encode.master_eq.fit_eq`, on :data:`snc.encode.master.EQ_FIT_SECONDS` from the middle of the
item), then knots at the finest spacing fitted on the stems through it (the item as one segment), and the
residual the decoder's integer arithmetic leaves (:meth:`snc.codecs.gain.GainCodec.play`).  Printed with it:
the fit's seconds.

With ``--compressor``, one more row per item: the master's compressor as the encoder fits it
(:func:`snc.encode.master_dynamics.fit_compressor`, a feed-forward RMS compressor computed from the stems' sum,
on the EQ's excerpt), then knots at the finest spacing on the stems through it (the item as one segment), and
the residual the decoder's integer arithmetic leaves (:meth:`snc.codecs.gain.GainCodec.segment_gain`).  A
detector that squares its input has a gain that ripples at audio rate, which no knots follow.  Printed with
it: the fitted parameters (threshold and knee in log2, slope 1 - 1/ratio, attack and release per frame) and
the fit's seconds.

With ``--chain``, one more row per mastered item: the manifest's own ffmpeg filter chain run on the stems'
sum (float, then rounded), which is what the mix went through.  What it leaves is the floor of any model of
the chain: the stems' own rounding and their small differences from the unmastered mix, through the chain's
gain.  Needs ``ffmpeg``.

Usage: ``python bench/master_probe.py [--items ID,...] [--knots 128,512,2048] [--arx 4,4]
[--eq [--eq-sections 2,3,4] [--eq-seconds S] [--sm-passes N]] [--compressor] [--chain]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import CORPUS, flac8_bytes_of, multitrack_items, print_table, read_int  # noqa: E402

Q = 14


def fit_knots(m: np.ndarray, d: np.ndarray, spacing: int) -> np.ndarray:
    """Least-squares knots (float) of a gain linear between knots every ``spacing`` frames: ``m ~ g(t) d``."""
    n = len(m)
    t = np.arange(n)
    k, f = t // spacing, (t % spacing) / spacing
    count = n // spacing + 2
    a, b = (1.0 - f) * d, f * d
    ata = np.zeros((count, count))
    aty = np.zeros(count)
    np.add.at(ata, (k, k), a * a)
    np.add.at(ata, (k + 1, k + 1), b * b)
    np.add.at(ata, (k, k + 1), a * b)
    np.add.at(ata, (k + 1, k), a * b)
    np.add.at(aty, k, a * m)
    np.add.at(aty, k + 1, b * m)
    ata += np.eye(count) * 1e-6 * max(ata.diagonal().mean(), 1.0)  # knots over silence: stay finite
    return np.linalg.solve(ata, aty)


def predict(d: np.ndarray, knots: np.ndarray, spacing: int) -> np.ndarray:
    """Integer prediction from Q14 knots, as a decoder would compute it."""
    g = np.round(knots * (1 << Q)).astype(np.int64)
    t = np.arange(len(d))
    k, r = t // spacing, t % spacing
    gain = (g[k] * (spacing - r) + g[k + 1] * r + spacing // 2) // spacing
    return (gain * d.astype(np.int64) + (1 << (Q - 1))) >> Q


def measure(item_id: str, name: str, residual: np.ndarray, mix_power: float, rate: int, side_bytes: int = 0):
    """A table row: the residual's RMS re the mix (dB), flac -8 bytes of it, the knots' raw bytes."""
    db = 10 * np.log10(max(float((residual.astype(np.float64) ** 2).mean()), 1e-30) / mix_power)
    flac = flac8_bytes_of(np.clip(residual, -(1 << 23), (1 << 23) - 1).astype(np.int32), rate, 24)
    print(f"  {item_id} {name}: {db:.1f} dB, {flac:,} B", flush=True)
    return [item_id, name, f"{db:.1f}", f"{flac:,}", f"{side_bytes:,}"]


def arx_error(r: np.ndarray, s: np.ndarray, p: int, q: int) -> np.ndarray:
    """``r`` minus its least-squares ARX prediction from ``p`` past values of ``r`` and ``s[t-q..t]``, rounded."""
    m = max(p, q) + 1
    n = len(r)
    r64, s64 = r.astype(np.float64), s.astype(np.float64)
    cols = [r64[m - k : n - k] for k in range(1, p + 1)] + [s64[m - k : n - k] for k in range(q + 1)]
    a = np.stack(cols, 1)
    coef, *_ = np.linalg.lstsq(a, r64[m:], rcond=None)
    out = r.astype(np.int64).copy()
    out[m:] = np.round(r64[m:] - a @ coef).astype(np.int64)
    return out


def eq_row(item_id: str, root: Path, mix: np.ndarray, d: np.ndarray, spacing: int, mix_power: float, rate: int,
           sections: int):
    """The ``--eq`` row: the encoder's EQ fit, knots on the stems through it, the decoder's residual."""
    import time

    from snc.codecs.gain import GainCodec, interpolate
    from snc.encode.master import _excerpt
    from snc.encode.master import fit_knots as snc_fit_knots
    from snc.encode.master_eq import fit_eq

    shift = spacing.bit_length() - 1
    cut = slice(*_excerpt(len(mix), rate))  # the encoder's excerpt
    t0 = time.perf_counter()
    eq = fit_eq(mix[cut], d[cut], shift, sections)
    seconds = time.perf_counter() - t0
    if eq is None:
        return [item_id, f"EQ {sections} sections + gain {spacing}", "no EQ (fit_eq: None)", "", "", f"{seconds:.1f}"]
    codec = GainCodec(channels=mix.shape[1], knot_shift=shift, eq=[rows.tolist() for rows in eq])
    stems = [read_int(p)[0] for p in sorted((root / "stems").glob("*.flac"))]
    heard = codec.play(codec.unity(len(mix)), d)
    gain = interpolate(snc_fit_knots(mix, heard, shift), len(mix), shift)
    rest = mix.astype(np.int64) - sum(codec.play(gain, s).astype(np.int64) for s in stems)
    row = measure(item_id, f"EQ {len(eq[0])} sections + gain {spacing}", rest, mix_power, rate,
                  side_bytes=2 * mix.shape[1] * (len(mix) // spacing + 2))
    return [*row, f"{seconds:.1f}"]


def compressor_row(item_id: str, root: Path, mix: np.ndarray, d: np.ndarray, spacing: int, mix_power: float,
                   rate: int):
    """The ``--compressor`` row: the encoder's compressor fit on its excerpt, knots on the stems through it, the
    decoder's residual (as :func:`eq_row`)."""
    import time

    from snc.codecs.gain import COMPRESSOR_FIELDS, GainCodec, interpolate
    from snc.encode.master import _excerpt
    from snc.encode.master import fit_knots as snc_fit_knots
    from snc.encode.master_dynamics import fit_compressor

    shift = spacing.bit_length() - 1
    cut = slice(*_excerpt(len(mix), rate))
    t0 = time.perf_counter()
    params = fit_compressor(mix[cut], d[cut], shift, rate)
    seconds = time.perf_counter() - t0
    if params is None:
        return [item_id, f"compressor + gain {spacing}", "no compressor (fit_compressor: None)", "", "",
                f"{seconds:.1f}"]
    print(f"  {item_id} compressor: " + ", ".join(f"{name} {v / 65536:.4g}"
                                                  for (name, _, _), v in zip(COMPRESSOR_FIELDS, params)), flush=True)
    codec = GainCodec(channels=mix.shape[1], knot_shift=shift, compressor=params)
    stems = [read_int(p)[0] for p in sorted((root / "stems").glob("*.flac"))]
    unity = codec.segment_gain(codec.unity(len(mix)), stems)
    heard = sum(codec.play(unity, s).astype(np.int64) for s in stems)
    gain = codec.segment_gain(interpolate(snc_fit_knots(mix, heard, shift), len(mix), shift), stems)
    rest = mix.astype(np.int64) - sum(codec.play(gain, s).astype(np.int64) for s in stems)
    row = measure(item_id, f"compressor + gain {spacing}", rest, mix_power, rate,
                  side_bytes=2 * mix.shape[1] * (len(mix) // spacing + 2))
    return [*row, f"{seconds:.1f}"]


def chain_row(item: dict, mix: np.ndarray, d: np.ndarray, mix_power: float, rate: int):
    """The ``--chain`` row: the manifest's filter chain on the stems' sum, by ffmpeg, in floating point."""
    import subprocess
    import tempfile

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "sum.wav", Path(tmp) / "out.wav"
        sf.write(src, (d / 32768.0).astype(np.float32), rate, subtype="FLOAT")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-af", item["mastering"]["filter_chain"],
                        "-c:a", "pcm_f64le", str(out)], check=True)
        y = sf.read(out, dtype="float64")[0] * 32768.0
    return measure(item["id"], "the manifest's chain on the stems' sum (floor)",
                   mix.astype(np.int64) - np.round(y).astype(np.int64), mix_power, rate)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="", help="comma-separated item ids (default: every item with stems)")
    ap.add_argument("--knots", default="128,512,2048", help="knot spacings in frames")
    ap.add_argument("--arx", default="", metavar="P,Q", help="also an ARX predictor after the finest gain")
    ap.add_argument("--eq", action="store_true", help="also the master's EQ as the encoder fits it")
    ap.add_argument("--chain", action="store_true",
                    help="also the manifest's mastering chain on the stems' sum (ffmpeg; the floor)")
    ap.add_argument("--compressor", action="store_true",
                    help="also a fitted feed-forward compressor on the stems' sum (a probe, floating point)")
    ap.add_argument("--eq-sections", default="4", metavar="N,...",
                    help="biquads of the --eq fit (default 4, the encoder's; e.g. 2,3,4 to compare)")
    ap.add_argument("--eq-seconds", type=float, default=None, metavar="S",
                    help="seconds the --eq fit sees (default: the encoder's EQ_FIT_SECONDS)")
    ap.add_argument("--sm-passes", type=int, default=None, metavar="N",
                    help="Steiglitz-McBride passes per round of the --eq fit (default: the encoder's SM_PASSES)")
    args = ap.parse_args(argv)
    if args.eq_seconds is not None or args.sm_passes is not None:
        from importlib import import_module  # snc.encode is also the name of a function

        if args.eq_seconds is not None:
            import_module("snc.encode.master").EQ_FIT_SECONDS = args.eq_seconds
        if args.sm_passes is not None:
            import_module("snc.encode.master_eq").SM_PASSES = args.sm_passes
    spacings = [int(x) for x in args.knots.split(",")]
    rows = []
    for item in multitrack_items():
        if args.items and item["id"] not in args.items.split(","):
            continue
        root = CORPUS / item["path"]
        mix, rate, bits = read_int(root / "mix.flac")
        d = sum(read_int(p)[0].astype(np.int64) for p in sorted((root / "stems").glob("*.flac")))
        mix_power = float((mix.astype(np.float64) ** 2).mean())

        rows.append(measure(item["id"], "none", mix - d, mix_power, rate))
        for spacing in spacings:
            p = np.stack([predict(d[:, c], fit_knots(mix[:, c].astype(np.float64), d[:, c].astype(np.float64),
                                                     spacing), spacing) for c in range(mix.shape[1])], axis=1)
            rows.append(measure(item["id"], f"gain {spacing}", mix - p, mix_power, rate,
                                side_bytes=2 * mix.shape[1] * (len(mix) // spacing + 2)))
            if args.arx and spacing == min(spacings):
                pa, qa = (int(x) for x in args.arx.split(","))
                err = np.stack([arx_error(mix[:, c] - p[:, c], p[:, c], pa, qa) for c in range(mix.shape[1])], axis=1)
                rows.append(measure(item["id"], f"gain {spacing} + ARX {pa},{qa}", err, mix_power, rate,
                                    side_bytes=2 * mix.shape[1] * (len(mix) // spacing + 2)))
            if args.eq and spacing == min(spacings):
                for sections in (int(x) for x in args.eq_sections.split(",")):
                    rows.append(eq_row(item["id"], root, mix, d, spacing, mix_power, rate, sections))
            if args.chain and spacing == min(spacings) and "mastering" in item:
                rows.append(chain_row(item, mix, d, mix_power, rate))
            if args.compressor and spacing == min(spacings):
                rows.append(compressor_row(item["id"], root, mix, d, spacing, mix_power, rate))
    print()
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    print_table(["item", "prediction", "residual dB re mix", "flac -8 of residual", "knots raw bytes",
                 "fit s"][:width], rows,
                title="the residual after a time-varying gain on the sum of the stems")


if __name__ == "__main__":
    main()
