"""Loudness of every profile, measured at encode so a player can normalise without a first pass.

For each profile (the built-ins and the file's authored ones), over the whole input: the remix of the source
stems by the profile's gains (the residual ``mix - sum of stems`` following with the stems' mean square weights
so far: the global rule of spec section 19, :func:`snc.render.remix.residual_gain`), then its EQ and compressor
-- the render before its loudness gain and limiter -- through a BS.1770-4 meter (:mod:`snc.signal.loudness`).
Stored in the META chunk: ``mix_loudness`` ``{"loudness_lufs", "true_peak_dbtp"}`` of the plain mix and
``profile_loudness`` ``{name: {"loudness_lufs"}}`` (spec section 10.1); the renderer uses them when the request
is the profile alone (or a loudness target alone).  The true peak is measured for the plain mix only (its 4x
interpolation costs more than all the loudness meters), and the encoder skips the pass for the archival preset
(a mix alone encodes fast enough for the pass to matter); a player then measures in a first pass of its own.
The coding noise of a lossy preset changes the decoded render's loudness by far less than 0.1 LU.
"""

from __future__ import annotations

import math

import numpy as _np

from ..signal.loudness import LoudnessMeter
from .dynamics import Chain
from .profiles import Profile
from .remix import db_to_gain, residual_gain


class ProfileMeters:
    """Streaming: :meth:`update` with the mix and stem blocks (float, full scale 1), :meth:`results` at the end."""

    def __init__(self, profiles: dict[str, Profile], names: list[str], roles: list[str], samplerate: int,
                 channels: int, lead: str | None = None):
        self.plans = []
        #: profile name -> index of the plan that measures it: profiles that render the same (e.g. karaoke
        #: and the mix in a file without vocals) share one plan
        self.plan_of: dict[str, int] = {}
        seen: dict[tuple, int] = {}
        for name, prof in profiles.items():
            db, muted = prof.remix(list(zip(names, roles)), lead)
            gains = [0.0 if stem in muted else db_to_gain(db.get(stem, 0.0)) for stem in names]
            signature = (tuple(gains), prof.eq, prof.compressor)
            if signature in seen:
                self.plan_of[name] = seen[signature]
                continue
            seen[signature] = self.plan_of[name] = len(self.plans)
            # true peak only for the plain mix: ~4x the cost of the loudness, and a render's peak after its
            # loudness gain is the limiter's business
            self.plans.append((name, _np.array(gains), Chain(prof, samplerate, channels, 0.0),
                               LoudnessMeter(samplerate, channels, true_peak=(name == ""))))
        self.energy = _np.zeros(len(names))

    def update(self, mix: _np.ndarray, stems: list[_np.ndarray]) -> None:
        if not self.plans:
            return
        residual = mix - sum(stems) if stems else _np.zeros_like(mix)
        self.energy += [float(_np.einsum("ij,ij->", s, s)) for s in stems]
        energy = self.energy.tolist()
        for _, gains, chain, meter in self.plans:
            g_res = residual_gain(gains.tolist(), energy)
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
