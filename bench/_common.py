"""Shared bench helpers: where the corpus is, loading items, timing, FLAC sizes, table printing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

#: the benches measure the snc of this checkout: a non-editable ``pip install .`` (as .ci/run does) would
#: otherwise shadow the code under test, since a script's own folder, not the repo, starts sys.path
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(REPO))

CORPUS = Path(os.environ.get("SNC_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def manifest() -> dict:
    path = CORPUS / "manifest.json"
    if not path.exists():
        raise SystemExit(f"corpus not found at {CORPUS} (set SNC_CORPUS)")
    return json.loads(path.read_text())


#: manifest kinds whose items have true stems: plain multitracks and the mastered variants (the same stems, a mix
#: through a real mastering chain, so mix - sum(stems) is loud as in commercial music)
STEM_KINDS = ("multitrack", "multitrack-mastered")


def has_stems(item: dict) -> bool:
    return item["kind"] in STEM_KINDS


def multitrack_items() -> list[dict]:
    """Every corpus item with true stems, the mastered ones included."""
    return [it for it in manifest()["items"] if has_stems(it)]


def read_int(path: Path) -> tuple[np.ndarray, int, int]:
    """Exact integer samples of a file: (int32 array, sample rate, bits)."""
    info = sf.info(str(path))
    bits = {"PCM_16": 16, "PCM_24": 24, "PCM_S8": 8, "PCM_32": 32}[info.subtype]
    data, rate = sf.read(str(path), dtype="int32", always_2d=True)
    return data >> (32 - bits), rate, bits


def flac8_bytes(path: Path) -> int:
    """Size of `flac -8` of an audio file, measured now with the installed flac (1.4)."""
    return flac8_bytes_of(*read_int(path))


def flac8_bytes_of(data: np.ndarray, rate: int, bits: int) -> int:
    """Size of `flac -8` of exact integer samples (as :func:`read_int` returns them)."""
    if shutil.which("flac") is None:
        raise SystemExit("the `flac` command is needed: apt-get install -y flac")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, data << (32 - bits), rate, subtype=f"PCM_{bits}")
        out = Path(tmp) / "out.flac"
        subprocess.run(["flac", "-8", "-f", "-s", "-o", str(out), str(wav)], check=True)
        return out.stat().st_size


def best_time(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (after the caller's warm-up)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else f"{c}" for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    if title:
        lines.append(title)
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(r, widths)) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def one_core() -> None:
    """Pin numba/BLAS to one thread so speeds are per core."""
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
