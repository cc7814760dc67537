"""Foundation benchmark (issue 2): archival .snc with true stems vs FLAC -8, exactness, speed.

For every multitrack item of the shared corpus: encode mix + true stems with the
archival preset; report the .snc size against FLAC -8 of the mix alone and of the
mix plus every stem (flac measured in this run), bit-exactness of the decoded mix
and of each decoded stem, and encode/decode speed in x realtime on one core after
a warm-up (numba compile excluded; audio is loaded into memory first, so the
speeds are SNC's own, without FLAC input decoding).

Usage: python bench/foundation.py [--items ID ...]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import CORPUS, best_time, flac8_bytes, multitrack_items, one_core, print_table, read_int  # noqa: E402

import snc  # noqa: E402


def warm_up() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-1000, 1000, (20000, 2)).astype(np.int16)
    buf = io.BytesIO()
    snc.encode(x, buf, stems={"a": x // 2, "b": x - x // 2}, samplerate=44100, preset="archival")
    buf.seek(0)
    snc.open(buf).read(dtype="native")


def bench_item(item: dict) -> dict:
    root = CORPUS / item["path"]
    mix, rate, bits = read_int(root / "mix.flac")
    stems = {name: read_int(root / "stems" / f"{name}.flac")[0] for name in item["stems"]}
    seconds = len(mix) / rate

    def encode():
        buf = io.BytesIO()
        snc.encode(mix, buf, stems=stems, samplerate=rate, bits=bits, preset="archival")
        return buf

    buf = encode()
    enc_t = best_time(encode, repeat=2)
    data = buf.getvalue()

    def decode():
        with snc.open(io.BytesIO(data)) as f:
            return f.read(dtype="native")

    dec_t = best_time(decode, repeat=3)
    with snc.open(io.BytesIO(data)) as f:
        mix_exact = np.array_equal(f.read(dtype="native"), mix)
        stems_exact = {n: np.array_equal(f.read(stem=n, dtype="native"), s) for n, s in stems.items()}
        hashes = f.verify()
        stream_bytes = {s.name: s.bytes for s in f.streams}
    # --verify through the API path as users call it (decode + compare with the sources)
    verified = snc.encode(mix, io.BytesIO(), stems=stems, samplerate=rate, bits=bits, verify=True,
                          preset="archival").verified

    flac_mix = flac8_bytes(root / "mix.flac")
    flac_stems = sum(flac8_bytes(root / "stems" / f"{n}.flac") for n in stems)
    return dict(
        id=item["id"], stems=len(stems), snc=len(data), flac_mix=flac_mix, flac_all=flac_mix + flac_stems,
        residual=stream_bytes["residual"], mix_exact=mix_exact, stems_exact=all(stems_exact.values()),
        hashes=hashes["mix"] and all(hashes["streams"].values()), verified=verified,
        enc_x=seconds / enc_t, dec_x=seconds / dec_t,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", nargs="*", help="corpus item ids (default: every multitrack item)")
    args = parser.parse_args(argv)
    one_core()
    items = [it for it in multitrack_items() if not args.items or it["id"] in args.items]
    warm_up()
    rows, results = [], []
    for item in items:
        r = bench_item(item)
        results.append(r)
        rows.append([r["id"], r["stems"], f"{r['snc']:,}", f"{r['flac_mix']:,}", f"{r['flac_all']:,}",
                     f"{r['snc'] / r['flac_mix']:.3f}", f"{r['snc'] / r['flac_all']:.3f}", f"{r['residual']:,}",
                     "yes" if r["mix_exact"] else "NO", "yes" if r["stems_exact"] else "NO",
                     "OK" if (r["verified"] and r["hashes"]) else "FAIL", f"{r['enc_x']:.1f}", f"{r['dec_x']:.1f}"])
    mean = lambda k: float(np.mean([r[k] for r in results]))  # noqa: E731
    rows.append(["mean", "", "", "", "", f"{np.mean([r['snc'] / r['flac_mix'] for r in results]):.3f}",
                 f"{np.mean([r['snc'] / r['flac_all'] for r in results]):.3f}", "", "", "", "",
                 f"{mean('enc_x'):.1f}", f"{mean('dec_x'):.1f}"])
    print_table(["item", "stems", "snc bytes", "flac8 mix", "flac8 mix+stems", "snc/mix", "snc/(mix+stems)",
                 "residual bytes", "mix exact", "stems exact", "verify", "enc x RT", "dec x RT"], rows,
                title=f"archival preset, true stems; speeds on one core after warm-up (numba compile excluded), "
                      f"snc {snc.__version__}")
    ok = all(r["mix_exact"] and r["stems_exact"] and r["verified"] and r["hashes"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
