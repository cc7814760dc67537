"""Quality-measurement plumbing for the perceptual benches (issue 4): STOI, ViSQOL, SNR and an Opus round trip.

All audio is float64 ``(frames, channels)`` at full scale 1.0 (1-D arrays are taken as mono).  The metric
functions compare a reference with a degraded signal of the *same shape*; nothing here realigns or trims
(the Opus round trip is already sample-exact, see :func:`opus_roundtrip`).

- :func:`stoi`   -- pystoi STOI (``extended=False``) at the file's own rate, mean of the per-channel values.
- :func:`visqol` -- visqol-python in audio mode (SVR model) on the mono downmix of both signals, resampled
  to 48 kHz with ``scipy.signal.resample_poly``; returns MOS-LQO (1..5; about 4.73 is the ceiling, reached
  by identical signals).
- :func:`snr_db` -- ``10 log10(sum ref^2 / sum (ref - deg)^2)`` over all samples; ``inf`` when identical.
- :func:`opus_roundtrip` -- ``opusenc --bitrate N --vbr`` then ``opusdec --rate 48000 --float``, resampled
  back to the input rate; returns the decoded array aligned with the input and the ``.opus`` file's bytes.

These are bench tools: pystoi and visqol-python come from the ``bench`` extra, opusenc/opusdec from the Debian
``opus-tools`` package.  They are imported lazily, so this module imports without them;
:func:`visqol_unavailable` says in one line why ViSQOL cannot run here (``None`` when it can), so a bench
can print "n/a (reason)" instead of a number.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

OPUS_RATE = 48000  # Opus always codes at 48 kHz; opusdec is asked for 48 kHz and we resample back
VISQOL_RATE = 48000  # ViSQOL audio mode is defined at 48 kHz


def as_2d(x: np.ndarray) -> np.ndarray:
    """``x`` as float64 ``(frames, channels)``; a 1-D array is one channel."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"audio must be (frames,) or (frames, channels), got shape {a.shape}")
    return a


def _pair(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, d = as_2d(ref), as_2d(deg)
    if r.shape != d.shape:
        raise ValueError(f"reference {r.shape} and degraded {d.shape} differ in shape")
    if r.shape[0] == 0:
        raise ValueError("empty audio")
    return r, d


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (linear phase, no delay); identity when the rates match."""
    if rate == target:
        return np.asarray(x, dtype=np.float64)
    g = math.gcd(int(rate), int(target))
    return resample_poly(np.asarray(x, dtype=np.float64), target // g, rate // g, axis=0)


# --------------------------------------------------------------------------------------------- metrics


def snr_db(ref: np.ndarray, deg: np.ndarray) -> float:
    """Signal-to-noise ratio of ``deg`` against ``ref`` in dB over all samples and channels.

    ``inf`` when the two are identical; ``-inf`` when the reference is silent but the degraded signal is not.
    """
    r, d = _pair(ref, deg)
    noise = float(np.sum((r - d) ** 2))
    sig = float(np.sum(r**2))
    if noise == 0.0:
        return math.inf
    if sig == 0.0:
        return -math.inf
    return 10.0 * math.log10(sig / noise)


def stoi(ref: np.ndarray, deg: np.ndarray, rate: int) -> float:
    """Mean over channels of pystoi's STOI (``extended=False``) at the file's rate.

    pystoi resamples internally to 10 kHz and drops frames more than 40 dB below the loudest reference frame.
    """
    from pystoi import stoi as _stoi

    r, d = _pair(ref, deg)
    return float(np.mean([_stoi(r[:, c], d[:, c], int(rate), extended=False) for c in range(r.shape[1])]))


def visqol_unavailable() -> str | None:
    """``None`` if ViSQOL can run here, else a one-line reason (import or start-up failure)."""
    try:
        _visqol_api()
    except Exception as exc:  # noqa: BLE001 - the reason is what we report
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi

    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol(ref: np.ndarray, deg: np.ndarray, rate: int) -> float:
    """ViSQOL MOS-LQO (visqol-python, audio mode) of the mono downmixes, both resampled to 48 kHz.

    The first call in a process compiles visqol-python's numba kernels (cached on disk afterwards).
    Cost: about 0.35 s per second of audio on one core here.
    """
    r, d = _pair(ref, deg)
    r48 = resample(r.mean(axis=1), rate, VISQOL_RATE)
    d48 = resample(d.mean(axis=1), rate, VISQOL_RATE)
    return float(_visqol_api().measure_from_arrays(r48, d48, VISQOL_RATE).moslqo)


# ------------------------------------------------------------------------------------------ opus anchor


def opus_roundtrip(x: np.ndarray, rate: int, kbps: float) -> tuple[np.ndarray, int]:
    """Encode ``x`` with ``opusenc --bitrate kbps --vbr`` and decode it again.

    Returns ``(decoded, opus_bytes)``: ``decoded`` is float64 with exactly the shape of ``x`` and sample-aligned
    with it; ``opus_bytes`` is the size of the whole ``.opus`` file (Ogg pages, headers and tags included).

    Input goes to opusenc as a 32-bit float WAV (exact for <= 24-bit sources).  opusenc resamples a non-48 kHz
    input to 48 kHz itself and adds its resampler's delay to the stream's pre-skip; opusdec removes the pre-skip
    and trims the end by the final granule position, and ``--float`` keeps its output undithered.  The 48 kHz
    output is resampled back with zero-phase ``resample_poly``, so no delay is left to compensate: measured by
    cross-correlation, the lag is 0 (within 0.001 sample) at 44.1 and 48 kHz (see tests/bench/test_bench_quality.py).
    What remains is rounding of the length at 48 kHz (+-1 sample at the input rate), which is trimmed or
    zero-padded here; a larger length mismatch raises, since it would mean the alignment assumption broke.
    """
    for tool in ("opusenc", "opusdec"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the `{tool}` command is needed: apt-get install -y opus-tools")
    a = as_2d(x)
    n, ch = a.shape
    with tempfile.TemporaryDirectory(prefix="snc-opus-") as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / "out.opus", Path(tmp) / "dec.wav"
        sf.write(src, a.astype(np.float32), int(rate), subtype="FLOAT")
        _run(["opusenc", "--quiet", "--bitrate", f"{kbps:g}", "--vbr", str(src), str(enc)])
        _run(["opusdec", "--quiet", "--rate", str(OPUS_RATE), "--float", str(enc), str(dec)])
        nbytes = enc.stat().st_size
        y, yrate = sf.read(dec, dtype="float64", always_2d=True)
    if yrate != OPUS_RATE or y.shape[1] != ch:
        raise RuntimeError(f"opusdec gave {y.shape[1]} ch at {yrate} Hz, expected {ch} ch at {OPUS_RATE} Hz")
    y = resample(y, OPUS_RATE, int(rate))
    if abs(len(y) - n) > 2:
        raise RuntimeError(f"opus round trip length {len(y)} vs input {n}: pre-skip/end trimming is off")
    out = np.zeros((n, ch))
    m = min(n, len(y))
    out[:m] = y[:m]
    return out, nbytes


def _run(cmd: list[str]) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
