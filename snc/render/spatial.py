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
a SOFA file the user gives (AES69 SimpleFreeFieldHRIR: ``Data.IR``, ``Data.SamplingRate``,
``SourcePosition`` spherical or cartesian, the ear order from ``ReceiverPosition``; read within the
bounds of :func:`load_hrirs`); ``head_yaw_deg`` turns the head (sources move the other way).

Sources: a mono stem is one source at its azimuth/elevation; a stereo stem two, at azimuth
+- 30 * width degrees (its left channel on the left).  The residual is placed like a stereo stem at
the front (width 1): it carries the mix's detail, low-level.  Distance ``d`` (m) scales a stem by
``1 / max(d, 1)``.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache
from pathlib import Path

import numpy as _np

from ..errors import InputError, NotAvailableError
from ..signal.layouts import LAYOUTS, LFE, SPATIAL_LAYOUTS

STEREO_SPREAD_DEG = 30.0
HRIR_FILE = Path(__file__).resolve().parent / "data" / "kemar_hrir.npz"


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


#: what a SOFA file (``--hrtf``) may declare; checked before anything but its header is read
SOFA_RATES_HZ = (8000.0, 384000.0)
MAX_SOFA_TAPS = 8192
MAX_SOFA_MEASUREMENTS = 65536
#: the impulse responses as held in memory (float64): bounds what a file can make us read and decompress
MAX_SOFA_BYTES = 128 << 20
#: binaural rendering needs audio at a rate where an HRIR means something
BINAURAL_RATES_HZ = SOFA_RATES_HZ


@cache
def _vbap(layout: str) -> Vbap:
    """One :class:`Vbap` per layout (it holds no state; a player makes a renderer at every change)."""
    return Vbap(layout)


@lru_cache(maxsize=4)
def load_hrirs(path: str | None = None) -> tuple[_np.ndarray, _np.ndarray, float]:
    """``(unit direction vectors (M, 3), responses (M, 2, taps) float64 [left, right], rate)`` of the
    shipped set or of a SOFA file (``--hrtf FILE.sofa``; needs h5py, ``pip install 'snc[sofa]'``).

    A SOFA file is HDF5, which can point outside itself (external links, external or virtual storage):
    those are refused, so a file given as an HRTF never makes us read another file.  Shapes, types and
    rates are checked against :data:`MAX_SOFA_TAPS`, :data:`MAX_SOFA_MEASUREMENTS`,
    :data:`MAX_SOFA_BYTES` and :data:`SOFA_RATES_HZ` before the responses are read, which bounds what
    a compressed dataset can expand to."""
    if path is None:
        data = _np.load(HRIR_FILE)
        dirs, ir = data["directions"].astype(_np.float64), data["hrir"].astype(_np.float64)
        rate = float(data["samplerate"])
        return _np.array([_unit(a, e) for a, e in dirs]), ir, rate
    if not Path(path).is_file():
        raise InputError(f"--hrtf {path}: no such file")
    try:
        import h5py
    except ImportError:
        raise NotAvailableError("reading a SOFA file needs h5py: pip install 'snc[sofa]'") from None
    try:
        with h5py.File(path, "r") as f:
            return _read_sofa(f, h5py)
    except _SofaError as exc:
        raise InputError(f"--hrtf {path}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(f"--hrtf {path}: not a readable SOFA file ({str(exc).splitlines()[0][:120]})") from None


#: HDF5's own filters (deflate, shuffle, fletcher32, szip, nbit, scaleoffset) and h5py's lzf
_SOFA_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


class _SofaError(Exception):
    """What is wrong with a SOFA file, in a few words (the caller names the file)."""


def _sofa_dataset(f, h5py, name: str, required: bool = True):
    """A dataset stored inside the file itself, or None when optional and absent."""
    link = f.get(name, getlink=True)
    if link is None:
        if required:
            raise _SofaError(f"no {name} (not a SOFA SimpleFreeFieldHRIR file)")
        return None
    if not isinstance(link, h5py.HardLink):
        where = "another file" if isinstance(link, h5py.ExternalLink) else "elsewhere"
        raise _SofaError(f"{name} is a link to {where}; "
                         "refused (only data stored in the file itself is read)")
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise _SofaError(f"{name} is not a dataset")
    if ds.external is not None or ds.is_virtual:
        raise _SofaError(f"{name} keeps its data in other files (HDF5 external or virtual storage); refused")
    if ds.dtype.kind not in "fiu":
        raise _SofaError(f"{name} must hold numbers, not {ds.dtype}")
    plist = ds.id.get_create_plist()
    unknown = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())
               if plist.get_filter(i)[0] not in _SOFA_FILTERS]
    if unknown:  # a filter HDF5 would look for as a plugin: no code is loaded for a user's file
        raise _SofaError(f"{name} needs HDF5 filter {unknown[0]}, which is not read")
    if ds.chunks is not None and math.prod(ds.chunks) * ds.dtype.itemsize > MAX_SOFA_BYTES:
        raise _SofaError(f"{name} has chunks over {MAX_SOFA_BYTES >> 20} MiB")
    return ds


def _small(ds, limit: int = 4096) -> _np.ndarray:
    if ds.size > limit:
        raise _SofaError(f"{ds.name.lstrip('/')} has {ds.size} values, more than expected")
    values = _np.asarray(ds[()], dtype=_np.float64)
    if not _np.all(_np.isfinite(values)):
        raise _SofaError(f"{ds.name.lstrip('/')} holds NaN or infinite values")
    return values


def _coordinate_type(ds) -> str:
    kind = ds.attrs.get("Type", "cartesian" if ds.name.endswith("ReceiverPosition") else "spherical")
    if isinstance(kind, bytes):
        kind = kind.decode("ascii", "replace")
    kind = str(kind).strip().lower()
    if kind not in ("spherical", "cartesian"):
        raise _SofaError(f"{ds.name.lstrip('/')}:Type must be spherical or cartesian, got {kind[:40]!r}")
    return kind


def _read_sofa(f, h5py) -> tuple[_np.ndarray, _np.ndarray, float]:
    ir_ds = _sofa_dataset(f, h5py, "Data.IR")
    rate_ds = _sofa_dataset(f, h5py, "Data.SamplingRate")
    pos_ds = _sofa_dataset(f, h5py, "SourcePosition")
    receivers = _sofa_dataset(f, h5py, "ReceiverPosition", required=False)
    if ir_ds.ndim != 3 or ir_ds.shape[1] != 2:
        raise _SofaError(f"Data.IR must be (measurements, 2 ears, taps), got shape {ir_ds.shape}")
    count, _, taps = ir_ds.shape
    if not 1 <= count <= MAX_SOFA_MEASUREMENTS:
        raise _SofaError(f"{count} measurements; 1..{MAX_SOFA_MEASUREMENTS} are read")
    if not 1 <= taps <= MAX_SOFA_TAPS:
        raise _SofaError(f"impulse responses of {taps} taps; 1..{MAX_SOFA_TAPS} are read")
    if count * 2 * taps * 8 > MAX_SOFA_BYTES:
        raise _SofaError(f"{count} x 2 x {taps} taps is over {MAX_SOFA_BYTES >> 20} MiB")
    rates = _small(rate_ds).ravel()
    if rates.size != 1:
        raise _SofaError("Data.SamplingRate must be one value")
    rate = float(rates[0])
    if not SOFA_RATES_HZ[0] <= rate <= SOFA_RATES_HZ[1]:
        raise _SofaError(f"Data.SamplingRate {rate:g} Hz is outside {SOFA_RATES_HZ[0]:g}..{SOFA_RATES_HZ[1]:g} Hz")
    if pos_ds.ndim != 2 or pos_ds.shape[1] != 3 or pos_ds.shape[0] not in (1, count):
        raise _SofaError(f"SourcePosition must be ({count}, 3) or (1, 3), got shape {pos_ds.shape}")
    pos = _small(pos_ds, 3 * MAX_SOFA_MEASUREMENTS)
    if _coordinate_type(pos_ds) == "cartesian":
        x, y, z = pos[:, 0], pos[:, 1], pos[:, 2]
        if _np.any(_np.hypot(_np.hypot(x, y), z) == 0):
            raise _SofaError("SourcePosition has a source at the listener (0, 0, 0): no direction")
        pos = _np.stack([_np.degrees(_np.arctan2(y, x)), _np.degrees(_np.arctan2(z, _np.hypot(x, y)))], axis=1)
    pos = _np.broadcast_to(pos[:, :2], (count, 2))
    ir = _np.asarray(ir_ds[()], dtype=_np.float64)
    if not _np.all(_np.isfinite(ir)):
        raise _SofaError("Data.IR holds NaN or infinite values")
    if receivers is not None and _left_is_second(receivers):
        ir = ir[:, ::-1]
    vecs = _np.array([_unit(a, e) for a, e in pos])
    return vecs, _np.ascontiguousarray(ir), rate


def _left_is_second(ds) -> bool:
    """Whether ReceiverPosition puts the left ear (+y, or azimuth +90) second; two ears at the same
    side-to-side place (positions left out) keep the SOFA convention, left first."""
    if ds.ndim not in (2, 3) or ds.shape[0] != 2 or ds.shape[1] != 3:
        raise _SofaError(f"ReceiverPosition must be (2, 3) or (2, 3, measurements), got shape {ds.shape}")
    pos = _small(ds, 6 * MAX_SOFA_MEASUREMENTS)
    first = pos[:, :, 0] if pos.ndim == 3 else pos
    if _coordinate_type(ds) == "spherical":
        side = _np.sin(_np.radians(first[:, 0])) * _np.cos(_np.radians(first[:, 1])) * first[:, 2]
    else:
        side = first[:, 1]
    return bool(side[1] > side[0])


@lru_cache(maxsize=8)
def hrirs_at(path: str | None, samplerate: int) -> tuple[_np.ndarray, _np.ndarray]:
    """``(directions, responses)`` of :func:`load_hrirs` resampled to ``samplerate`` (cached: a player
    makes a binaural renderer at every change)."""
    if not BINAURAL_RATES_HZ[0] <= samplerate <= BINAURAL_RATES_HZ[1]:
        raise InputError(f"binaural rendering needs a sample rate of {BINAURAL_RATES_HZ[0]:g}.."
                         f"{BINAURAL_RATES_HZ[1]:g} Hz, got {samplerate} Hz")
    vecs, ir, rate = load_hrirs(path)
    if abs(rate - samplerate) > 0.5:
        from fractions import Fraction

        from scipy.signal import resample_poly

        # a ratio of small integers keeps the polyphase filter short for any pair of rates (within 0.1 %)
        ratio = Fraction(samplerate / rate).limit_denominator(1000)
        ir = resample_poly(ir, ratio.numerator, ratio.denominator, axis=-1)
    return vecs, ir


class Binaural:
    """Nearest-direction HRIR convolution of point sources, streaming (overlap-add tails).

    :meth:`render` convolves all sources of a block in the frequency domain at once: one FFT per
    source, the products with each ear's HRTF summed, one inverse FFT per ear (8 transforms for
    six sources instead of 24 with a convolution per source and ear)."""

    def __init__(self, samplerate: int, sofa: str | None = None):
        self.vecs, self.ir = hrirs_at(sofa, samplerate)
        self._spectra: dict[tuple[int, int], _np.ndarray] = {}
        self._tail = _np.zeros((self.ir.shape[-1] - 1, 2))

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
        self.vbap = _vbap(layout) if layout != "binaural" else None
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
