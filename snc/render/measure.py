"""Loudness of every profile, measured at encode so a player can normalise without a first pass.

For each profile (the built-ins and the file's authored ones), over the whole input: the remix of the
source stems by the profile's gains (the residual ``mix - sum of stems`` following with the stems' mean
square weights so far, the global rule of spec section 19), then its EQ and compressor -- the render
before its loudness gain and limiter -- through a BS.1770-4 meter (:mod:`snc.signal.loudness`).  Stored in
the META chunk: ``mix_loudness`` ``{"loudness_lufs", "true_peak_dbtp"}`` of the plain mix and
``profile_loudness`` ``{name: {"loudness_lufs"}}`` (spec section 10.1); the renderer uses them when the
request is the profile alone (or a loudness target alone).  Measured cost on midi_openmsx_5432gone
(4 stems, transparent): the encode goes from 4.3x to 3.7x realtime with the profiles' true peaks left
out (with them, a 7-render pass cost ~50 % more encode time: the 4x interpolation dominates).  An
archival encode of a mix alone would lose ~35 % of its speed (19.8x -> 12.7x), so the encoder skips the
pass for the archival preset; a player then measures in a first pass of its own.  The coding noise
of a lossy preset changes the decoded render's loudness by far less than 0.1 LU.
"""

from __future__ import annotations

import math

import numpy as _np

from ..signal.loudness import LoudnessMeter
from .profiles import Profile


class ProfileMeters:
    """Streaming: :meth:`update` with the mix and stem blocks (float, full scale 1), :meth:`results` at the end."""

    def __init__(self, profiles: dict[str, Profile], names: list[str], roles: list[str], samplerate: int,
                 channels: int, lead: str | None = None):
        from .renderer import _Chain

        self.plans = []
        #: profile name -> index of the plan that measures it: profiles that render the same (e.g. karaoke
        #: and the mix in a file without vocals) share one plan
        self.plan_of: dict[str, int] = {}
        seen: dict[tuple, int] = {}
        for name, prof in profiles.items():
            db, muted = prof.remix(list(zip(names, roles)), lead)
            gains = [0.0 if stem in muted or db.get(stem, 0.0) == -math.inf else 10.0 ** (db.get(stem, 0.0) / 20.0)
                     for stem in names]
            signature = (tuple(gains), prof.eq, prof.compressor)
            if signature in seen:
                self.plan_of[name] = seen[signature]
                continue
            seen[signature] = self.plan_of[name] = len(self.plans)
            # true peak only for the plain mix: ~4x the cost of the loudness, and a render's peak after its
            # loudness gain is the limiter's business
            self.plans.append((name, _np.array(gains), _Chain(prof, samplerate, channels, 0.0),
                               LoudnessMeter(samplerate, channels, true_peak=(name == ""))))
        self.energy = _np.zeros(len(names))

    def update(self, mix: _np.ndarray, stems: list[_np.ndarray]) -> None:
        if not self.plans:
            return
        residual = mix - sum(stems) if stems else _np.zeros_like(mix)
        self.energy += [float(_np.einsum("ij,ij->", s, s)) for s in stems]
        total = self.energy.sum()
        for _, gains, chain, meter in self.plans:
            g_res = float(gains @ self.energy / total) if total > 0 else float(gains.mean()) if len(gains) else 1.0
            y = g_res * residual
            for g, s in zip(gains, stems):
                if g != 0.0:
                    y = y + g * s
            meter.update(chain.shape(y))

    def results(self) -> dict:
        measured = []
        for _, _, _, meter in self.plans:
            lufs = meter.integrated_lufs()
            entry = {"loudness_lufs": round(lufs, 3) if math.isfinite(lufs) else None}
            if meter.measures_peak:
                peak = meter.true_peak_dbtp()
                entry["true_peak_dbtp"] = round(peak, 3) if math.isfinite(peak) else None
            measured.append(entry)
        return {name: (dict(measured[i]) if name == "" else {"loudness_lufs": measured[i]["loudness_lufs"]})
                for name, i in self.plan_of.items()}
