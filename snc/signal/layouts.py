"""Speaker layouts (ITU-R BS.2051-3; azimuth degrees positive to the left, elevation up) and their
channel order: the renderer's output order and the WAVE channel masks of :mod:`.audio_out`."""

from __future__ import annotations

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


def channel_names(layout: str) -> list[str]:
    return ["left", "right"] if layout == "binaural" else [c[0] for c in LAYOUTS[layout]]
