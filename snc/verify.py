"""Encoder verification: decode what was written and compare it with the sources.

Two independent checks (after libFLAC's verify mode): the stored hashes match
a full decode, and the decoded mix and stems equal the input samples.
"""

from __future__ import annotations

import numpy as _np

from .audio_io import AudioFormat, AudioSource
from .decoder import SncFile


def verify_encoding(output, mix, stems=None, *, samplerate=None, bits=None) -> dict:
    """Return ``{"ok": bool, "hashes": {...}, "mix_exact": bool, "stems_exact": {name: bool}}``."""
    if hasattr(output, "seek"):
        output.seek(0)
    with SncFile(output) as f:
        hashes = f.verify()
        fmt_sources = [("mix", mix, None)] + [(name, src, name) for name, src in (stems or {}).items()]
        exact: dict[str, bool] = {}
        for label, source, stem in fmt_sources:
            src = AudioSource(source, name=label, samplerate=samplerate, bits=bits)
            try:
                target = _target_format(f, src)
                same = True
                for block in f.blocks(start=0, stem=stem, dtype="native"):
                    if not _np.array_equal(block, src.read(len(block), target)):
                        same = False
                        break
                exact[label] = same
            finally:
                src.close()
    stems_exact = {k: v for k, v in exact.items() if k != "mix"}
    ok = hashes["mix"] and all(hashes["streams"].values()) and all(exact.values())
    return {"ok": ok, "hashes": hashes, "mix_exact": exact["mix"], "stems_exact": stems_exact}


def _target_format(f: SncFile, src: AudioSource) -> AudioFormat:
    """The file's sample format: stems were converted to it when encoded."""
    return AudioFormat(src.format.sample_rate, src.format.channels, f.info.sample_format, f.info.bits)
