"""Dense songs (issue 18 part 3): four stems, each as busy as a whole mix -- where do the bytes go?

The corpus has no such song, so this bench builds them from it: each stem is a whole corpus mix (16-bit 44.1 kHz,
45 s) at -8 dB (``x * 2 // 5`` in integers), and the mix is their exact sum (no mastering), so every stem
is as busy as a mix and the four are independent music.  Two such songs, from the items below.  Each is
encoded with ``snc.encode(mix, BytesIO, stems=..., preset='transparent')`` and:

- ``table``: the transparent preset as it is;
- ``no stem floor``: the same with ``stem_snr_db`` and ``lead_snr_db`` at 0 (stems coded to the mix's mask
  alone): what the per-stem SNR floor (a target: every stem soloable at >= 20 dB) costs;
- ``mix alone``: the mix without stems (one perceptual stream): what the same audio costs with no stems at all.

Printed per encode: bytes per stream, the file / ``flac -8`` of the mix, mix STOI (pystoi) and SNR, and the
lowest stem SNR.

Usage: python bench/dense.py
"""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import quality as q  # noqa: E402
from _common import CORPUS, flac8_bytes_of, manifest, print_table, read_int  # noqa: E402

import snc  # noqa: E402
from snc.encode import tuning  # noqa: E402

#: each dense song's four stems: whole corpus mixes (the unmastered ones and the mixed-only one), as named stems
SONGS = {
    "dense-a": {"vocals": "midi_openmsx_5432gone", "drums": "mod_pingus_6", "bass": "lmms_skiessi_onion",
                "other": "fof_sectoid_feelings"},
    "dense-b": {"vocals": "fof_sectoid_feelings", "drums": "wesnoth_northerners", "bass": "mod_pingus_6",
                "other": "midi_openmsx_5432gone"},
}


def build(song: dict) -> tuple[np.ndarray, dict]:
    paths = {it["id"]: CORPUS / it["path"] / "mix.flac" for it in manifest()["items"]}
    stems = {name: read_int(paths[item])[0] * 2 // 5 for name, item in song.items()}
    frames = min(len(s) for s in stems.values())
    stems = {k: np.ascontiguousarray(v[:frames]).astype(np.int32) for k, v in stems.items()}
    mix = sum(v.astype(np.int64) for v in stems.values())
    if np.abs(mix).max() > 32767:
        raise SystemExit("a dense song clips: lower the stems' scale")
    return mix.astype(np.int32), stems


def encode(mix, stems, **overrides) -> tuple[bytes, object]:
    saved = tuning.PERCEPTUAL_TUNING["transparent"]
    tuning.PERCEPTUAL_TUNING["transparent"] = dataclasses.replace(saved, **overrides)
    try:
        buf = io.BytesIO()
        report = snc.encode(mix, buf, stems=stems, samplerate=44100, bits=16, preset="transparent")
    finally:
        tuning.PERCEPTUAL_TUNING["transparent"] = saved
    return buf.getvalue(), report


def main() -> int:
    rows = []
    for song_id, song in SONGS.items():
        mix, stems = build(song)
        flac = flac8_bytes_of(mix, 44100, 16)
        ref = mix / 32768.0
        for label, stems_arg, overrides in (("table", stems, {}),
                                            ("no stem floor", stems, {"stem_snr_db": 0.0, "lead_snr_db": 0.0}),
                                            ("mix alone", None, {})):
            data, report = encode(mix, stems_arg, **overrides)
            with snc.open(io.BytesIO(data)) as f:
                decoded = f.read()
                stem_snr = min((q.snr_db(stems[n] / 32768.0, f.read(stem=n)) for n in stems), default=None) \
                    if stems_arg else None
            per_stream = ", ".join(f"{s['name']} {s['bytes']:,}" for s in report.streams)
            rows.append([song_id, label, f"{len(data):,}", f"{len(data) / flac:.3f}",
                         f"{q.stoi(ref, decoded, 44100):.4f}", f"{q.snr_db(ref, decoded):.1f}",
                         "" if stem_snr is None else f"{stem_snr:.1f}", per_stream])
            print(f"  {song_id} {label}: {len(data) / flac:.3f} x FLAC ({per_stream})", flush=True)
    print()
    print_table(["song", "encode", "file bytes", "x FLAC", "mix STOI", "mix SNR dB", "min stem SNR dB",
                 "bytes per stream"], rows,
                title="dense songs (4 stems, each a whole corpus mix at -8 dB; transparent preset)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
