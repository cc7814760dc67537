"""What the NI Stems writer and reader share: PyAV on demand, the tags they map, BPM values."""

from __future__ import annotations

from ..errors import NotAvailableError

#: ilst keys FFmpeg's MP4 muxer writes from container metadata, from SNC's lower-case tags
TAGS_OUT = {"title": "title", "artist": "artist", "album": "album", "date": "date", "genre": "genre",
            "comment": "comment", "copyright": "copyright", "tracknumber": "track"}


def av_module():
    try:
        import av
    except ImportError:
        raise NotAvailableError("exporting needs PyAV: pip install 'snc[export]'") from None
    return av


def bpm_number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 1000 else None
