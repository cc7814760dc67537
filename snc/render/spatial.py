"""Spatial rendering: every stem placed at its position, on speakers (VBAP) or headphones (HRIRs).

Speaker layouts follow ITU-R BS.2051-3 (angles in degrees, azimuth positive to the left, elevation
up); channel order of the output is the order of :data:`LAYOUTS` (also in the README):

=========  ============================================================================
stereo     L +30, R -30
5.1        L +30, R -30, C 0, LFE, Ls +110, Rs -110
7.1        L +30, R -30, C 0, LFE, Lss +90, Rss -90, Lrs +135, Rrs -135
7.1.4      7.1, then Ltf +45/+30, Rtf -45/+30, Ltr +135/+30, Rtr -135/+30
binaural   left ear, right ear
=========  ============================================================================

Panning is vector base amplitude panning (V. Pulkki, "Virtual sound source positioning using vector
base amplitude panning", JAES 45(6), 1997): between the two neighbouring speakers of a horizontal
layout, or inside the triangle of a 3-D layout (the convex hull of the speakers, with a virtual
speaker straight below whose signal is dropped), gains normalised to unit energy.  The LFE channel
gets nothing (no bass management).  Binaural rendering convolves each source with the MIT KEMAR
head-related impulse responses of the nearest measured direction (tools/make_hrir.py), or those of
a SOFA file the user gives; ``head_yaw_deg`` turns the head (sources move the other way).

Sources: a mono stem is one source at its azimuth/elevation; a stereo stem two, at azimuth
+- 30 * width degrees (its left channel on the left).  The residual is placed like a stereo stem at
the front (width 1): it carries the mix's detail, low-level.  Distance ``d`` (m) scales a stem by
``1 / max(d, 1)``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as _np

from ..errors import InputError, NotAvailableError

LFE = "LFE"
LAYOUTS = {
    "stereo": [("L", 30, 0), ("R", -30, 0)],
    "5.1": [("L", 30, 0), ("R", -30, 0), ("C", 0, 0), (LFE, 0, 0), ("Ls", 110, 0), ("Rs", -110, 0)],
    "7.1": [("L", 30, 0), ("R", -30, 0), ("C", 0, 0), (LFE, 0, 0), ("Lss", 90, 0), ("Rss", -90, 0),
            ("Lrs", 135, 0), ("Rrs", -135, 0)],
    "7.1.4": [("L", 30, 0), ("R", -30, 0), ("C", 0, 0), (LFE, 0, 0), ("Lss", 90, 0), ("Rss", -90, 0),
              ("Lrs", 135, 0), ("Rrs", -135, 0), ("Ltf", 45, 30), ("Rtf", -45, 30), ("Ltr", 135, 30),
              ("Rtr", -135, 30)],
}
SPATIAL_LAYOUTS = (*LAYOUTS, "binaural")
STEREO_SPREAD_DEG = 30.0
HRIR_FILE = Path(__file__).resolve().parent / "data" / "kemar_hrir.npz"


def channel_names(layout: str) -> list[str]:
    return ["left", "right"] if layout == "binaural" else [c[0] for c in LAYOUTS[layout]]


def _unit(az: float, el: float) -> _np.ndarray:
    a, e = math.radians(az), math.radians(el)
    return _np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])


class Vbap:
    """VBAP gains for one layout: :meth:`gains` of a direction -> one gain per output channel."""

    def __init__(self, layout: str):
        if layout not in LAYOUTS:
            raise InputError(f"unknown layout {layout!r}; choose one of {', '.join(SPATIAL_LAYOUTS)}")
        self.layout = layout
        spk = [(i, az, el) for i, (name, az, el) in enumerate(LAYOUTS[layout]) if name != LFE]
        self.channels = len(LAYOUTS[layout])
        self.index = [i for i, _, _ in spk]
        self.three_d = any(el != 0 for _, _, el in spk)
        if self.three_d:
            from scipy.spatial import ConvexHull

            vecs = _np.array([_unit(az, el) for _, az, el in spk] + [_unit(0, -90)])  # + virtual bottom
            hull = ConvexHull(vecs)
            self.sets = [(tuple(s), _np.linalg.inv(vecs[list(s)])) for s in hull.simplices]
            self.virtual = len(spk)
        else:
            order = sorted(range(len(spk)), key=lambda k: spk[k][1])
            self.ring = [(order[k], order[(k + 1) % len(order)]) for k in range(len(order))]
            self.az = [spk[k][1] for k in range(len(spk))]

    def gains(self, az: float, el: float = 0.0) -> _np.ndarray:
        out = _np.zeros(self.channels)
        g = self._gains_3d(az, el) if self.three_d else self._gains_2d(az)
        for k, v in g.items():
            out[self.index[k]] = v
        norm = math.sqrt(float(_np.sum(out ** 2)))
        return out / norm if norm > 0 else out

    def _gains_2d(self, az: float) -> dict:
        az = (az + 180.0) % 360.0 - 180.0
        if len(self.az) == 2:  # stereo: the front arc only; beyond a speaker, that speaker
            lo, hi = min(self.az), max(self.az)
            az = min(max(az, lo), hi)
        for a, b in self.ring:
            span = (self.az[b] - self.az[a]) % 360.0
            off = (az - self.az[a]) % 360.0
            if span > 0 and off <= span + 1e-9:
                # 2-D VBAP (Pulkki eq. 5): solve p = g_a l_a + g_b l_b in the plane
                base = _np.array([[math.cos(math.radians(self.az[a])), math.sin(math.radians(self.az[a]))],
                                  [math.cos(math.radians(self.az[b])), math.sin(math.radians(self.az[b]))]])
                p = _np.array([math.cos(math.radians(az)), math.sin(math.radians(az))])
                ga, gb = _np.linalg.solve(base.T, p)
                return {a: max(ga, 0.0), b: max(gb, 0.0)}
        return {0: 1.0}

    def _gains_3d(self, az: float, el: float) -> dict:
        p = _unit(az, el)
        best = None
        for s, inv in self.sets:
            g = p @ inv  # Pulkki eq. 8: g = p^T L^-1
            if g.min() >= -1e-9 and (best is None or g.min() > best[1].min()):
                best = (s, g)
        s, g = best
        return {k: max(v, 0.0) for k, v in zip(s, g) if k != self.virtual}


@lru_cache(maxsize=4)
def load_hrirs(path: str | None = None) -> tuple[_np.ndarray, _np.ndarray, float]:
    """``(unit direction vectors (M, 3), responses (M, 2, taps) float64, rate)`` of the shipped set
    or of a SOFA file (``--hrtf FILE.sofa``; needs h5py)."""
    if path is None:
        data = _np.load(HRIR_FILE)
        dirs, ir, rate = data["directions"].astype(_np.float64), data["hrir"].astype(_np.float64), float(data["samplerate"])
    else:
        if not Path(path).is_file():
            raise InputError(f"--hrtf {path}: no such file")
        try:
            import h5py
        except ImportError:
            raise NotAvailableError("reading a SOFA file needs h5py: pip install h5py") from None
        try:
            with h5py.File(path, "r") as f:
                rate = float(f["Data.SamplingRate"][0])
                dirs = _np.asarray(f["SourcePosition"][:, :2], dtype=_np.float64)
                ir = _np.asarray(f["Data.IR"][:], dtype=_np.float64)
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(f"--hrtf {path}: not a readable SOFA file ({str(exc).splitlines()[0][:120]})") from None
        if ir.ndim != 3 or ir.shape[1] != 2:
            raise InputError(f"--hrtf {path}: expected two receivers (ears)")
    vecs = _np.array([_unit(a, e) for a, e in dirs])
    return vecs, ir, rate


class Binaural:
    """Nearest-direction HRIR convolution of point sources, streaming (overlap-add tails).

    :meth:`render` convolves all sources of a block in the frequency domain at once: one FFT per
    source, the products with each ear's HRTF summed, one inverse FFT per ear (8 transforms for
    six sources instead of 24 with a convolution per source and ear)."""

    def __init__(self, samplerate: int, sofa: str | None = None):
        vecs, ir, rate = load_hrirs(sofa)
        if abs(rate - samplerate) > 0.5:
            from scipy.signal import resample_poly

            g = math.gcd(int(samplerate), int(rate))
            ir = resample_poly(ir, int(samplerate) // g, int(rate) // g, axis=-1)
        self.vecs, self.ir = vecs, ir
        self._spectra: dict[tuple[int, int], _np.ndarray] = {}
        self._tail = _np.zeros((ir.shape[-1] - 1, 2))

    def nearest(self, az: float, el: float) -> int:
        return int(_np.argmax(self.vecs @ _unit(az, el)))

    def render(self, sources: list[tuple[_np.ndarray, float, float]]) -> _np.ndarray:
        """Both ears (frames, 2) of mono sources ``(signal, azimuth, elevation)``, all of one block."""
        import scipy.fft as sfft

        n = len(sources[0][0]) if sources else 0
        taps = self.ir.shape[-1]
        size = sfft.next_fast_len(n + taps - 1, real=True)
        total = _np.zeros((2, size // 2 + 1), dtype=complex)
        for sig, az, el in sources:
            k = self.nearest(az, el)
            if (size, k) not in self._spectra:
                if len(self._spectra) > 256:
                    self._spectra.clear()
                self._spectra[(size, k)] = sfft.rfft(self.ir[k], size, axis=-1)
            total += sfft.rfft(sig, size) * self._spectra[(size, k)]
        y = sfft.irfft(total, size, axis=-1)[:, : n + taps - 1].T
        y[: len(self._tail)] += self._tail
        self._tail = y[n:].copy()
        return y[:n]

    def response(self, az: float, el: float) -> _np.ndarray:
        """The (2, taps) impulse responses :meth:`render` uses for a direction."""
        return self.ir[self.nearest(az, el)]


class SpatialRenderer:
    """Places stems (and the residual) for a layout; :meth:`process` takes one span of streams."""

    def __init__(self, layout: str, samplerate: int, *, positions: dict, head_yaw_deg: float = 0.0,
                 hrtf: str | None = None):
        if layout not in SPATIAL_LAYOUTS:
            raise InputError(f"unknown layout {layout!r}; choose one of {', '.join(SPATIAL_LAYOUTS)}")
        self.layout = layout
        self.positions = positions  # stream index -> (az, el, distance, width)
        self.yaw = float(head_yaw_deg)
        self.binaural = Binaural(samplerate, hrtf) if layout == "binaural" else None
        self.vbap = Vbap(layout) if layout != "binaural" else None
        self.channels = 2 if layout == "binaural" else len(LAYOUTS[layout])

    def sources(self, index: int, channels: int) -> list[tuple[int, float, float, float]]:
        """``(input channel, azimuth, elevation, gain)`` of each virtual source of a stream."""
        az, el, dist, width = self.positions[index]
        gain = 1.0 / max(dist, 1.0)
        if channels == 1:
            return [(0, az, el, gain)]
        if channels == 2:
            spread = STEREO_SPREAD_DEG * width
            return [(0, az + spread, el, gain), (1, az - spread, el, gain)]
        raise NotAvailableError(f"spatial rendering of {channels}-channel stems is not available yet")

    def process(self, streams: dict[int, _np.ndarray]) -> _np.ndarray:
        """Render ``{stream index: gained signal (frames, channels)}`` to the layout's channels.

        Sources at the same direction are summed first (everything here is linear), so the cost
        grows with the number of distinct directions, not of stems (one FFT each for binaural, then
        one inverse FFT per ear)."""
        by_direction: dict[tuple, _np.ndarray] = {}
        for index, x in streams.items():
            for c, az, el, g in self.sources(index, x.shape[1]):
                key = (round(az - self.yaw, 6), round(el, 6))
                if key in by_direction:
                    by_direction[key] += g * x[:, c]
                else:
                    by_direction[key] = g * x[:, c]
        if self.binaural is not None:
            return self.binaural.render([(sig, az, el) for (az, el), sig in by_direction.items()])
        keys = list(by_direction)
        signals = _np.stack([by_direction[k] for k in keys], axis=1)            # (frames, directions)
        gains = _np.stack([self.vbap.gains(az + self.yaw, el) for az, el in keys])  # (directions, channels)
        return signals @ gains
