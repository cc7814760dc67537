"""Separation: the stems of a mix given without them (``separator=``), or the user's stems as they are."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from .sources import peek_format


@dataclass
class Stems:
    """The stems an encode codes: the user's, a separator's, or none (``stems`` empty: the mix alone)."""

    stems: dict = field(default_factory=dict)
    #: the separator's provenance of every stem (None: user stems or none)
    provenance: dict | None = None
    #: the separator that made them, how ``auto`` chose, and how long it took (s)
    separator: str | None = None
    note: str = ""
    seconds: float = 0.0


@contextlib.contextmanager
def stems_for(mix, stems, options):
    """``with stems_for(mix, stems, options) as s``: user stems win over a separator; without them
    ``options.separator`` makes them (:func:`snc.separate.separate_mix`: temporary files, removed on exit)."""
    separator, note = options.separator, ""
    if not stems and separator == "auto" and options.preset.exact_mix and \
            peek_format(mix, options.samplerate, options.bits).sample_format == "float64":
        # a float64 mix with stems cannot be stored bit-exactly (sources.check_exact_representable)
        separator, note = "none", "auto: no separation for a float64 mix (it could not stay exact with stems)"
    if stems or separator == "none":
        yield Stems(stems=dict(stems or {}), note=note)
        return
    from ..separate import separate_mix

    t0 = time.perf_counter()
    with separate_mix(mix, separator=separator, samplerate=options.samplerate, bits=options.bits,
                      model=options.model, threads=options.threads, progress=options.progress) as sep:
        yield Stems(stems=sep.stems, provenance=sep.provenance, separator=sep.separator, note=sep.note,
                    seconds=time.perf_counter() - t0)
