"""Encoder verification: decode what was written and compare it with the sources.

Two independent checks (after libFLAC's verify mode): the stored hashes match
a full decode, and the decoded signals equal the input samples wherever the
preset promises it -- mix and stems for ``archival``, the mix for ``lossless``.
The perceptual presets promise no exact signal: their check is the hashes (the
decoder reproduces what the encoder measured), and the report carries the
decoded mix's SNR against the input.
"""

from __future__ import annotations

import os

import numpy as _np

from ..decode import Decoder
from ..errors import ChecksumError
from ..signal.audio_io import AudioFormat, AudioSource
from .presets import PRESETS


def verify_encoding(output, mix, stems=None, *, samplerate=None, bits=None) -> dict:
    """Return ``{"ok": bool, "hashes": {...}, "mix_exact": bool, "stems_exact": {name: bool},
    "mix_snr_db": float, "required": [...]}``; ``ok`` needs the hashes and every signal the
    preset promises exact (``required``)."""
    if hasattr(output, "seek"):
        output.seek(0)
    with Decoder(output) as f:
        hashes = f.verify()
        preset = PRESETS.get(f.info.preset)
        required = preset.exact if preset is not None else ("mix", "stems")
        fmt_sources = [("mix", mix, None)] + [(name, src, name) for name, src in (stems or {}).items()]
        exact: dict[str, bool] = {}
        signal = noise = 0.0
        for label, source, stem in fmt_sources:
            src = AudioSource(source, name=label, samplerate=samplerate, bits=bits)
            try:
                target = _target_format(f, src)
                same = True
                for block in f.blocks(start=0, stem=stem, dtype="native"):
                    ref = src.read(len(block), target)
                    if label == "mix":
                        d = block.astype(_np.float64) - ref
                        signal += float(_np.sum(_np.square(ref, dtype=_np.float64)))
                        noise += float(_np.sum(d * d))
                    same = same and _np.array_equal(block, ref)
                    if not same and label != "mix":
                        break
                exact[label] = same
            finally:
                src.close()
    stems_exact = {k: v for k, v in exact.items() if k != "mix"}
    ok = (hashes["mix"] and all(hashes["streams"].values())
          and ("mix" not in required or exact["mix"])
          and ("stems" not in required or all(stems_exact.values())))
    snr = _np.inf if noise == 0 else 10.0 * _np.log10(max(signal, 1e-300) / noise)
    return {"ok": ok, "hashes": hashes, "mix_exact": exact["mix"], "stems_exact": stems_exact,
            "mix_snr_db": float(snr), "required": list(required)}


def verify_report(report, output, mix, stems, *, samplerate, bits) -> None:
    """Verify the file an encode wrote and record the result in its ``report``; a file that fails is
    removed (like libFLAC's verify mode: a wrong file is not left behind) and ChecksumError raised."""
    report.verify_details = verify_encoding(output, mix, stems, samplerate=samplerate, bits=bits)
    report.verified = report.verify_details["ok"]
    if not report.verified:
        if report.path:
            os.unlink(report.path)
        raise ChecksumError(f"verification failed, output removed: {report.verify_details}")


def _target_format(f: Decoder, src: AudioSource) -> AudioFormat:
    """The file's sample format: stems were converted to it when encoded."""
    return AudioFormat(src.format.sample_rate, src.format.channels, f.info.sample_format, f.info.bits)
