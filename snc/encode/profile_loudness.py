"""Profile loudness: a first pass over the input measuring the loudness of every profile's render.

Players of delivery files normalise with these figures (META ``mix_loudness`` and ``profile_loudness``); the
preset decides whether the pass is made (:attr:`snc.encode.presets.Preset.profile_loudness`).
"""

from __future__ import annotations

import numpy as np

from .sources import checked_sources, role_for


def measure_profiles(mix, stems, samplerate, bits, profiles: dict, lead, block: int, progress, master=None) -> dict:
    """``{profile name: loudness}`` of the plain mix (name ``""``), the built-in and the authored ``profiles``
    (:mod:`snc.render.measure`), reading ``block`` frames (a segment) at a time; with a ``master``
    (:class:`snc.encode.master.MasterPlan`) the stems as they will play, through its gain."""
    from ..render.measure import ProfileMeters
    from ..render.profiles import BUILTIN, Profile

    with checked_sources(mix, stems, samplerate, bits) as (mix_src, stem_srcs):
        fmt = mix_src.format
        names = list(stem_srcs) or ["mix"]
        roles = [role_for(n) for n in stem_srcs] or ["mix"]
        # "" is the plain mix: what --target-lufs alone normalises
        every = {"": Profile("mix"), **BUILTIN, **{k: Profile.from_json(k, v) for k, v in profiles.items()}}
        meters = ProfileMeters(every, names, roles, fmt.sample_rate, fmt.channels, lead)
        scale = float(1 << (fmt.bits - 1)) if fmt.sample_format == "int" else 1.0
        done = 0
        while done < mix_src.frames:
            n = min(block, mix_src.frames - done)
            m = mix_src.read(n, fmt).astype(np.float64) / scale
            blocks = [src.read(n, fmt) for src in stem_srcs.values()]
            if master is not None:
                gain = master.played_gain(done // block, blocks)
                blocks = [master.codec.play(gain, b) for b in blocks]
            parts = [b.astype(np.float64) / scale for b in blocks] or [m]
            meters.update(m, parts)
            done += n
            if progress is not None:
                progress({"stage": "measure", "frames_done": done, "frames_total": mix_src.frames})
        return meters.results()
