"""Python-side view of the header chunks: plain dataclasses <-> schema containers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import FormatError
from . import schema as _s

PRESETS = ("archival", "lossless", "transparent", "compact")
RESIDUAL_ROLE = "residual"
#: the role of the master stream (spec section 3.7): the gain every stem plays through in the mix
MASTER_ROLE = "master"

# Default colour per role (sRGB), used when the encoder is not given one.
ROLE_COLOURS = {
    "vocals": "#e6194b",
    "drums": "#f58231",
    "bass": "#4363d8",
    "other": "#3cb44b",
    "guitar": "#911eb4",
    "piano": "#42d4f4",
    "mix": "#a9a9a9",
    RESIDUAL_ROLE: "#808080",
}
KNOWN_ROLES = tuple(ROLE_COLOURS)


@dataclass
class Position:
    """Object position for spatial rendering (spec section "STRM chunk")."""

    azimuth_deg: float = 0.0  # 0 = front, positive = left (ITU-R BS.2051 convention)
    elevation_deg: float = 0.0
    distance_m: float = 1.0
    width: float = 1.0  # 0 = point source, 1 = the full stereo image


def parse_direction(name: str, value) -> tuple[float, float]:
    """``(azimuth, elevation)`` degrees of a stem's position as given by a user, checked:
    azimuth -180..180 (positive to the left), elevation -90..90."""
    from ..errors import InputError

    try:
        az, el = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"position of {name!r} must be (azimuth, elevation) in degrees, got {value!r}") from None
    if not (-180.0 <= az <= 180.0 and -90.0 <= el <= 90.0):
        raise InputError(f"position of {name!r} out of range: azimuth -180..180, elevation -90..90 degrees")
    return az, el


#: Default position per role (azimuth, elevation, distance, width), used when the encoder is not given one:
#: the lead and the bass narrow at the centre (a speaker layout puts them in the centre channel), the
#: drums wide, guitar a little left and piano a little right (a common stage), the rest full width.
ROLE_POSITIONS = {
    "vocals": Position(0.0, 0.0, 1.0, 0.3),
    "bass": Position(0.0, 0.0, 1.0, 0.3),
    "drums": Position(0.0, 0.0, 1.0, 0.8),
    "guitar": Position(15.0, 0.0, 1.0, 0.6),
    "piano": Position(-15.0, 0.0, 1.0, 0.6),
    "other": Position(0.0, 0.0, 1.0, 1.0),
    "mix": Position(0.0, 0.0, 1.0, 1.0),
    RESIDUAL_ROLE: Position(0.0, 0.0, 1.0, 1.0),
}


#: bounds a reader clamps stored positions and gains to (spec section 9.3)
MIN_DISTANCE_M, MAX_DISTANCE_M = 0.1, 1000.0
MIN_GAIN_DB, MAX_GAIN_DB = -120.0, 24.0
#: a stored statistic (mean square, loudness, true peak) beyond this magnitude is read as not measured
MAX_STATISTIC_DB = 400.0


def _clamped(value: float, lo: float, hi: float, default: float) -> float:
    """A rendering hint read from a file: NaN is the default, anything else is clamped to [lo, hi]."""
    return default if math.isnan(value) else min(max(float(value), lo), hi)


def _gain_db(value: float) -> float:
    """-inf (muted) is kept; NaN and +inf are the default 0 dB; the rest clamped to the gain range."""
    if value == -math.inf:
        return value
    return 0.0 if not math.isfinite(value) else min(max(float(value), MIN_GAIN_DB), MAX_GAIN_DB)


def _statistic_db(value: float) -> float:
    """-inf (silence) and NaN (not measured) are kept; +inf and absurd magnitudes read as NaN."""
    if value == -math.inf or math.isnan(value):
        return float(value)
    return float(value) if abs(value) <= MAX_STATISTIC_DB else math.nan


@dataclass
class StreamInfo:
    """One stream of the file: a stem, or the residual."""

    name: str
    role: str
    channels: int
    codec_id: str
    codec_config: dict
    index: int = 0
    default_gain_db: float = 0.0
    position: Position = field(default_factory=Position)
    colour: str = "#808080"
    mean_square_db: float = -math.inf
    loudness_lufs: float = math.nan
    true_peak_dbtp: float = math.nan
    provenance: str = "unknown"
    provenance_detail: dict = field(default_factory=dict)
    #: total bytes of this stream's packets in the file (filled by the reader)
    bytes: int = 0

    @property
    def is_residual(self) -> bool:
        return self.role == RESIDUAL_ROLE

    @property
    def is_master(self) -> bool:
        return self.role == MASTER_ROLE

    @property
    def may_range_code(self) -> bool:
        """A ``lossless`` stream whose encoder may write method-3 packets (format 1.2)."""
        return self.codec_id == "lossless" and self.codec_config.get("residual_coding") == "adaptive"

    def to_body(self) -> bytes:
        colour = self.colour.lstrip("#")
        return _s.StreamBody.build(
            dict(
                index=self.index,
                name=self.name,
                role=self.role,
                channels=self.channels,
                codec_id=self.codec_id,
                codec_config=self.codec_config,
                default_gain_db=self.default_gain_db,
                azimuth_deg=self.position.azimuth_deg,
                elevation_deg=self.position.elevation_deg,
                distance_m=self.position.distance_m,
                width=self.position.width,
                colour=bytes.fromhex(colour),
                mean_square_db=self.mean_square_db,
                loudness_lufs=self.loudness_lufs,
                true_peak_dbtp=self.true_peak_dbtp,
                provenance=self.provenance,
                provenance_detail=self.provenance_detail,
            )
        )

    @classmethod
    def from_container(cls, c) -> StreamInfo:
        """From a parsed STRM body.  The float fields are hints and statistics, never a reason to refuse a
        file: out-of-range values are clamped or read as their default (spec sections 9.3, 9.4)."""
        return cls(
            name=c.name,
            role=c.role,
            channels=c.channels,
            codec_id=c.codec_id,
            codec_config=dict(c.codec_config),
            index=c.index,
            default_gain_db=_gain_db(c.default_gain_db),
            position=Position(_clamped(c.azimuth_deg, -180.0, 180.0, 0.0), _clamped(c.elevation_deg, -90.0, 90.0, 0.0),
                              _clamped(c.distance_m, MIN_DISTANCE_M, MAX_DISTANCE_M, 1.0),
                              _clamped(c.width, 0.0, 1.0, 1.0)),
            colour="#" + bytes(c.colour).hex(),
            mean_square_db=_statistic_db(c.mean_square_db),
            loudness_lufs=_statistic_db(c.loudness_lufs),
            true_peak_dbtp=_statistic_db(c.true_peak_dbtp),
            # values this version does not know are read as "unknown" (spec section "STRM chunk")
            provenance=str(c.provenance) if not str(c.provenance).isdigit() else "unknown",
            provenance_detail=dict(c.provenance_detail),
        )

    def describe(self) -> dict:
        """JSON-friendly summary (used by ``snc-info --json``)."""
        def num(x):
            return None if (x is None or not math.isfinite(x)) else round(float(x), 3)

        return {
            "name": self.name,
            "role": self.role,
            "codec": self.codec_id,
            "codec_config": self.codec_config,
            "channels": self.channels,
            "bytes": self.bytes,
            "default_gain_db": num(self.default_gain_db),
            "position": vars(self.position).copy(),
            "colour": self.colour,
            "mean_square_db": num(self.mean_square_db),
            "loudness_lufs": num(self.loudness_lufs),
            "true_peak_dbtp": num(self.true_peak_dbtp),
            "provenance": self.provenance,
            "provenance_detail": self.provenance_detail,
        }


@dataclass
class FileInfo:
    """Contents of the INFO chunk."""

    sample_rate: int
    frames: int
    channels: int
    sample_format: str  # "int" | "float32" | "float64"
    bits: int
    preset: str
    segment_frames: int
    stream_count: int

    def to_body(self) -> bytes:
        return _s.InfoBody.build(vars(self))

    @classmethod
    def from_container(cls, c) -> FileInfo:
        info = cls(
            sample_rate=c.sample_rate,
            frames=c.frames,
            channels=c.channels,
            sample_format=str(c.sample_format),
            bits=c.bits,
            preset=str(c.preset),
            segment_frames=c.segment_frames,
            stream_count=c.stream_count,
        )
        info.validate()
        return info

    def validate(self) -> None:
        """Check the limits of spec section "Limits"; raise FormatError naming the field otherwise."""
        checks = [
            (_s.MIN_SAMPLE_RATE <= self.sample_rate <= _s.MAX_SAMPLE_RATE, "sample_rate", self.sample_rate,
             f"{_s.MIN_SAMPLE_RATE}..{_s.MAX_SAMPLE_RATE}"),
            (1 <= self.channels <= _s.MAX_CHANNELS, "channels", self.channels, f"1..{_s.MAX_CHANNELS}"),
            (0 <= self.frames <= _s.MAX_FRAMES, "frames", self.frames, f"0..{_s.MAX_FRAMES}"),
            (_s.MIN_SEGMENT_FRAMES <= self.segment_frames <= _s.MAX_SEGMENT_FRAMES, "segment_frames",
             self.segment_frames, f"{_s.MIN_SEGMENT_FRAMES}..{_s.MAX_SEGMENT_FRAMES}"),
            (2 <= self.stream_count <= _s.MAX_STREAMS, "stream_count", self.stream_count, f"2..{_s.MAX_STREAMS}"),
            (self.sample_format in ("int", "float32", "float64"), "sample_format", self.sample_format,
             "int, float32, float64"),
            (self.preset in PRESETS, "preset", self.preset, ", ".join(PRESETS)),
        ]
        if self.sample_format == "int":
            checks.append((8 <= self.bits <= 32, "bits", self.bits, "8..32 for int"))
        else:
            want = 32 if self.sample_format == "float32" else 64
            checks.append((self.bits == want, "bits", self.bits, f"{want} for {self.sample_format}"))
        for ok, field_name, value, allowed in checks:
            if not ok:
                raise FormatError(f"INFO chunk: {field_name} {value} out of range ({allowed})")
        if self.segment_samples > _s.MAX_SEGMENT_SAMPLES:
            raise FormatError(f"INFO chunk: stream_count x channels x segment_frames = {self.stream_count} x "
                              f"{self.channels} x {self.segment_frames} exceeds {_s.MAX_SEGMENT_SAMPLES} samples")
        if self.channels * self.segment_frames > _s.MAX_PACKET_SAMPLES:
            raise FormatError(f"INFO chunk: channels x segment_frames = {self.channels} x {self.segment_frames} "
                              f"exceeds {_s.MAX_PACKET_SAMPLES} samples per packet")

    @property
    def segment_samples(self) -> int:
        """Samples of one segment over all streams: what a remix holds at once (spec section "Limits")."""
        return self.stream_count * self.channels * self.segment_frames

    @property
    def segment_count(self) -> int:
        return -(-self.frames // self.segment_frames)
