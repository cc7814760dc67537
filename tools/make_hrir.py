"""Build SNC's compact HRIR set (snc/render/data/kemar_hrir.npz) from the MIT KEMAR measurements.

Source: MIT_KEMAR_normal_pinna.sofa as shipped by Debian's libmysofa1 package
(``apt-get install libmysofa1`` -> /usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa): 710 directions,
elevations -40..90 degrees, 512 taps at 44.1 kHz.  Gardner & Martin, "HRTF measurements of a KEMAR
dummy-head microphone", MIT Media Lab Perceptual Computing Technical Report 280, 1994 -- "provided free
with no restrictions on use, provided the authors are cited" (the data's licence, quoted in the npz).

Compaction: every direction is kept; each response is cut to TAPS samples (a half-Hann fade over the last
FADE taps; the cut keeps at least 94 % of every response's energy, the tool prints the least), stored as float16 (the
quantisation noise is ~66 dB below the response's peak, far under what a listener can hear through the
HRIR's own spectral detail).  Directions are stored in the SOFA convention, which is also SNC's: azimuth
counter-clockwise from the front (positive = left), elevation up; ear 0 is the left ear.

Needs h5py (a SOFA file is HDF5): ``pip install h5py`` -- a tool dependency, not the library's.
Usage: ``python tools/make_hrir.py [SOFA] [--out PATH]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_SOFA = "/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa"
OUT = Path(__file__).resolve().parents[1] / "snc" / "render" / "data" / "kemar_hrir.npz"
TAPS = 256
FADE = 32
CITATION = ("MIT KEMAR HRTF (normal pinna), B. Gardner and K. Martin, MIT Media Lab, 1994: 'This data is "
            "Copyright 1994 by the MIT Media Laboratory. It is provided free with no restrictions on use, "
            "provided the authors are cited when the data is used in any research or commercial application.' "
            "Via Debian libmysofa1 (MIT_KEMAR_normal_pinna.sofa); cut to 256 taps, float16, by tools/make_hrir.py.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sofa", nargs="?", default=DEFAULT_SOFA)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    try:
        import h5py
    except ImportError as err:
        raise SystemExit("needs h5py: pip install h5py") from err
    if not Path(args.sofa).exists():
        raise SystemExit(f"{args.sofa} not found: apt-get install libmysofa1")
    with h5py.File(args.sofa, "r") as f:
        rate = float(f["Data.SamplingRate"][0])
        positions = np.asarray(f["SourcePosition"][:], dtype=np.float64)
        ir = np.asarray(f["Data.IR"][:], dtype=np.float64)
        receivers = np.asarray(f["ReceiverPosition"][:]).squeeze()
    if receivers[0, 1] <= 0:
        raise SystemExit("expected receiver 0 on the left (y > 0)")
    energy = np.cumsum(ir ** 2, axis=2) / np.sum(ir ** 2, axis=2, keepdims=True)
    kept = energy[:, :, TAPS - 1].min()
    fade = np.ones(TAPS)
    fade[-FADE:] = 0.5 * (1 + np.cos(np.pi * (np.arange(FADE) + 1) / FADE))
    hrir = (ir[:, :, :TAPS] * fade).astype(np.float16)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, directions=positions[:, :2].astype(np.float32), hrir=hrir,
                        samplerate=np.array(rate), source=np.array(CITATION))
    print(f"{args.out}: {len(hrir)} directions x 2 ears x {TAPS} taps at {rate:g} Hz, "
          f"{Path(args.out).stat().st_size:,} bytes; least energy kept {100 * kept:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
