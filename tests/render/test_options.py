"""One render-options object (snc.render.options.RenderOptions): checked once, used by render and the player."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from conftest import archival_bytes

import snc
from snc.render.options import RenderOptions
from snc.render.player import Player
from snc.render.renderer import render


@pytest.fixture(scope="module")
def data():
    return archival_bytes(4, frames=8000)


@pytest.mark.parametrize("settings, match", [
    ({"profile": "night", "context": {"night": True}}, "profile or a context"),
    ({"target_lufs": 5.0}, "target loudness"),
    ({"gains": {"s0": float("nan")}}, "gain of 's0'"),
    ({"gains": {"s0": -500.0}}, "gain of 's0'"),
    ({"attribution": "nearest"}, "attribution"),
    ({"head_yaw_deg": 30.0}, "need layout"),
    ({"layout": "binaural", "head_yaw_deg": float("inf")}, "head yaw"),
])
def test_bad_options_are_refused_when_made(settings, match):
    with pytest.raises(snc.InputError, match=match):
        RenderOptions(**settings)


def test_options_are_frozen_and_replace_checks_again():
    opts = RenderOptions(profile="night", gains={"s0": -3.0})
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.profile = "karaoke"
    assert opts.replace(profile="karaoke").profile == "karaoke" and opts.profile == "night"
    with pytest.raises(snc.InputError, match="unknown render settings \\['volume'\\]"):
        opts.replace(volume=3)
    with pytest.raises(snc.InputError, match="target loudness"):
        opts.replace(target_lufs=float("nan"))


def test_an_options_object_renders_as_its_keywords(data):
    with snc.open(io.BytesIO(data)) as f:
        opts = RenderOptions(mute=("s1",), target_lufs=-20.0)
        by_object = render(f, opts, start=1000, frames=5000)
        assert np.array_equal(by_object, f.render(mute=["s1"], target_lufs=-20.0, start=1000, frames=5000))
        assert np.array_equal(render(f, opts, mute=()), f.render(target_lufs=-20.0))


def test_player_set_resets_what_it_does_not_name(data):
    with snc.open(io.BytesIO(data)) as f, Player(f, blocksize=1024, gains={"s0": -6.0}, attribution="global") as p:
        assert p.options == RenderOptions(gains={"s0": -6.0}, attribution="global")
        p.set(mute=["s2"])
        assert p.options == RenderOptions(mute=("s2",), attribution="global")  # the gain is reset
        with pytest.raises(snc.InputError, match="unknown render settings \\['attribution'\\]"):
            p.set(attribution="tiles")  # the player's own, for its whole life
        assert p.read() is not None
