"""The player (snc.render.player): ramped changes, crossfades, seeks, its decoding thread."""

from __future__ import annotations

import io

import numpy as np
import pytest

import snc

RATE = 44100


def test_player_ramps_changes_without_steps():
    t = np.arange(4 * RATE) / RATE
    stems = {"vocals": np.round(12000 * np.sin(2 * np.pi * 330 * t))[:, None] * [1, 1],
             "bass": np.round(12000 * np.sin(2 * np.pi * 55 * t))[:, None] * [1, 1]}
    stems = {k: v.astype(np.int16) for k, v in stems.items()}
    buf = io.BytesIO()
    snc.encode(sum(v.astype(np.int32) for v in stems.values()).astype(np.int16), buf, stems=stems, samplerate=RATE,
               bits=16, preset="archival", segment_frames=8192)
    buf.seek(0)
    with snc.open(buf) as f:
        mix = f.read()
        player = f.player(blocksize=1000)
        y = _play_muting_vocals_after(player, 100)
        assert y.shape == mix.shape
        np.testing.assert_array_equal(y[:101_000], mix[:101_000])  # before the change: the exact mix
        step = np.abs(np.diff(y, axis=0)).max()
        assert step <= np.abs(np.diff(mix, axis=0)).max() + 1e-9  # no jump beyond the music's own slope
        # an unramped switch at the same place jumps by the vocal's value there
        hard = np.concatenate([mix[:101_000], f.read(start=101_000, mute=["vocals"])])
        assert np.abs(np.diff(hard, axis=0)).max() > 3 * step
        player.seek(RATE)  # sample-exact, with the current settings
        first = np.concatenate([b for b, _ in zip(player, range(3))])
        np.testing.assert_allclose(first, f.read(start=RATE, frames=len(first), mute=["vocals"]), atol=1e-12)


def _play_muting_vocals_after(player, block: int) -> np.ndarray:
    """Everything ``player`` plays, the vocals muted once block ``block`` is out."""
    blocks = []
    for i, out in enumerate(player):
        blocks.append(out)
        if i == block:
            player.set(mute=["vocals"])
    return np.concatenate(blocks)


def _two_stem_file(segment_frames=8192, seconds=2, preset="archival"):
    t = np.arange(seconds * RATE) / RATE
    stems = {"vocals": np.round(12000 * np.sin(2 * np.pi * 330 * t))[:, None] * [1, 1],
             "bass": np.round(12000 * np.sin(2 * np.pi * 55 * t))[:, None] * [1, -1]}
    stems = {k: v.astype(np.int16) for k, v in stems.items()}
    mix = (sum(v.astype(np.int32) for v in stems.values()) + np.random.default_rng(9).integers(-40, 40, (len(t), 2)))
    buf = io.BytesIO()
    snc.encode(mix.clip(-32768, 32767).astype(np.int16), buf, stems=stems, samplerate=RATE, bits=16, preset=preset,
               segment_frames=segment_frames)
    return buf.getvalue()


def _decode_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "snc-player-decode" and t.is_alive()]


def test_player_crossfade_is_the_linear_ramp_between_the_two_renders():
    from snc.render.player import RAMP_MS

    with snc.open(io.BytesIO(_two_stem_file())) as f:
        old, new = f.read(), f.read(mute=["vocals"])
        ramp = int(round(RAMP_MS * RATE / 1000))
        with f.player(blocksize=100) as player:  # the ramp spans several blocks
            y = _play_muting_vocals_after(player, 99)
        r = np.clip((np.arange(len(y)) - 10_000 + 1) / ramp, 0.0, 1.0)[:, None]
        np.testing.assert_allclose(y, (1 - r) * old + r * new, rtol=0, atol=1e-12)
        assert 0 < r[10_000 + ramp // 2, 0] < 1


@pytest.mark.parametrize("segment_frames", [1024, 4096])
def test_player_remix_equals_the_files_remix_across_segments(segment_frames):
    """Blocks straddling segments shorter than the tile rule's context give the file's own remix."""
    with snc.open(io.BytesIO(_two_stem_file(segment_frames, seconds=1))) as f:
        for render, want in (({"gains": {"bass": -6.0}}, f.read(gains={"bass": -6.0})),
                             ({"solo": ["vocals"], "attribution": "share"},
                              f.read(solo=["vocals"], attribution="share")),
                             ({}, f.read())):
            with f.player(blocksize=3001, **render) as player:
                y = np.concatenate(list(player))
            np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)


def test_player_thread_stops_at_the_end_on_close_and_on_errors():
    data = _two_stem_file()
    with snc.open(io.BytesIO(data)) as f:
        player = f.player(blocksize=4096)
        player.read()
        assert _decode_threads()
        list(player)
        assert not _decode_threads()  # played to the end
        player.seek(0)
        player.read()
        assert _decode_threads()  # a seek starts it again
        player.close()
        assert not _decode_threads()
        with pytest.raises(snc.InputError, match="attribution"):
            f.player(attribution="nearest")
    # a packet damaged past the first segments: the block that needs it raises, the thread is gone
    with snc.open(io.BytesIO(data)) as f:
        seg = f.segments[-1]
        f.container.read_packet(seg, 0)
        where = seg.packet_offsets[0] + seg.packet_sizes[0] // 2
    broken = bytearray(data)
    broken[where] ^= 0xFF
    with snc.open(io.BytesIO(bytes(broken)), strict=True) as f:  # strict: a damaged packet raises, not concealed
        player = f.player(blocksize=4096)
        assert player.read() is not None
        with pytest.raises(snc.ChecksumError, match=f"segment {seg.index}"):
            list(player)
        assert not _decode_threads()
