"""snc-serve's pages in a real browser (headless Chromium through Playwright): the library's search, the stem
player's lanes, play, mute without a refetch, seek by clicking a waveform, a server-rendered profile, and the
layout at 1440 and 360 px (screenshots in tests/web/artifacts/).

Skipped when Playwright, a system ``chromium`` or the web app is missing; Playwright never downloads a browser.
"""

from __future__ import annotations

import math
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

import snc

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("uvicorn", reason="uvicorn (the web extra) is not installed")
try:
    from snc.web.app import create_app
except ImportError as exc:  # the web extra (starlette) or the app itself is missing
    pytest.skip(f"snc.web cannot be imported: {exc}", allow_module_level=True)
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH", allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

pytestmark = pytest.mark.slow

RATE = 44100
SECONDS = 8.0
WAIT_MS = 15000  # the bound of every wait in the browser
ARTIFACTS = Path(__file__).parent / "artifacts"


def _write_song(path: Path, title: str, artist: str, seed: int) -> None:
    """Three synthetic stems (a tone, gated noise, a low tone) that sum to the mix."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * SECONDS)) / RATE
    parts = {"vocals": 0.2 * np.sin(2 * np.pi * (330 + 110 * seed) * t),
             "drums": 0.15 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 2 * t) > 0.5),
             "bass": 0.2 * np.sin(2 * np.pi * 55 * t)}
    stems = {k: np.round(np.stack([v, 0.8 * v], axis=1) * 32767).astype(np.int16) for k, v in parts.items()}
    mix = sum(s.astype(np.int32) for s in stems.values()).clip(-32768, 32767).astype(np.int16)
    snc.encode(mix, path, stems=stems, samplerate=RATE, bits=16, preset="transparent",
               tags={"title": title, "artist": artist})


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    _write_song(folder / "one.snc", "Song One", "Tester", 0)
    _write_song(folder / "two.snc", "Other Tune", "Somebody", 1)
    sock = socket.socket()  # bound here and handed to uvicorn: a free port with no race
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(str(folder)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _query(url: str) -> dict:
    return parse_qs(urlparse(url).query)


def _audio_requests(page) -> list[str]:
    return [u for u in page.evaluate("window.sncPlayer.requests") if "/audio?" in u]


def test_library_lists_and_filters(page, base_url):
    page.goto(base_url + "/")
    page.wait_for_function("document.querySelectorAll('.song').length === 2", timeout=WAIT_MS)
    assert "Song One" in page.inner_text("#songs") and "0:08" in page.inner_text("#songs")
    assert page.locator(".song .chip").count() == 6  # three stems per song, in their colours
    page.fill("#search", "tester")
    page.wait_for_function("document.querySelectorAll('.song').length === 1", timeout=WAIT_MS)
    assert page.inner_text(".song .title") == "Song One"
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360 + 1
    page.click(".song")
    page.wait_for_url("**/player?id=*", timeout=WAIT_MS)
    page.wait_for_selector(".lane", timeout=WAIT_MS)


def test_player(page, base_url):
    songs = page.request.get(base_url + "/api/songs").json()
    song = next(s for s in songs if s["title"] == "Song One")
    page.goto(f"{base_url}/player?id={song['id']}")
    page.wait_for_selector("#play:not([disabled])", timeout=WAIT_MS)
    lanes = page.locator(".lane")
    assert lanes.count() == 3
    assert sorted(lanes.nth(i).get_attribute("data-stem") for i in range(3)) == ["bass", "drums", "vocals"]
    page.wait_for_function("window.sncPlayer.requests.filter(u => u.includes('/peaks?')).length === 3",
                           timeout=WAIT_MS)

    # play: every stem and the residual, fetched per chunk
    page.click("#play")
    page.wait_for_function("window.sncPlayer.state === 'playing' && window.sncPlayer.position > 0.1",
                           timeout=WAIT_MS)
    assert page.evaluate("window.sncPlayer.mode") == "stems"
    first = {_query(u)["stem"][0] for u in _audio_requests(page) if _query(u).get("start") == ["0"]}
    assert first == {"vocals", "drums", "bass", "residual"}

    # mute is a GainNode change: no render, no refetch from the current position
    before = len(_audio_requests(page))
    page.click('.lane[data-stem="vocals"] .mute')
    assert page.evaluate("window.sncPlayer.muted.vocals") is True
    page.wait_for_timeout(400)
    for url in _audio_requests(page)[before:]:
        q = _query(url)
        assert "profile" not in q and "stem" in q, url
        start = float(q["start"][0])  # only chunk prefetches: 2 s, then 10 s chunks from 0
        assert start == 0 or (start - 2) % 10 == 0, url
    assert page.get_attribute('.lane[data-stem="vocals"] .mute', "aria-pressed") == "true"

    # keyboard: digit 2 toggles the second stem's mute
    second = lanes.nth(1).get_attribute("data-stem")
    page.keyboard.press("2")
    assert page.evaluate(f"window.sncPlayer.muted[{second!r}]") is True
    page.keyboard.press("2")
    assert page.evaluate(f"window.sncPlayer.muted[{second!r}]") is False

    # seek: click the middle of a waveform
    wave = page.locator('.lane[data-stem="drums"] .wave')
    box = wave.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    half = song["duration"] / 2
    # the position is the target at once; it moves on only when the new chunk plays
    page.wait_for_function(f"window.sncPlayer.position > {half} + 0.05 && window.sncPlayer.position < {half} + 1.5",
                           timeout=WAIT_MS)
    starts = [float(_query(u)["start"][0]) for u in _audio_requests(page)]
    assert any(abs(s - half) < 0.2 for s in starts), starts
    assert page.evaluate("window.sncPlayer.state") == "playing"

    # a profile: one server-rendered stream
    page.select_option("#profile", "karaoke")
    assert page.evaluate("window.sncPlayer.mode") == "render"
    if page.evaluate("window.sncPlayer.state") != "playing":  # the song may have ended on a slow machine
        page.click("#play")
    chosen_at = page.evaluate("window.sncPlayer.position")
    page.wait_for_function("window.sncPlayer.requests.some(u => u.includes('profile=karaoke'))", timeout=WAIT_MS)
    page.wait_for_function(f"window.sncPlayer.position > {chosen_at} + 0.05", timeout=WAIT_MS)  # the render plays
    rendered = [u for u in _audio_requests(page) if "profile=karaoke" in u]
    assert all("stem" not in _query(u) for u in rendered)
    assert _query(rendered[0]).get("mute") == ["vocals"]  # the player's own mix goes with the render

    # layout and screenshots
    ARTIFACTS.mkdir(exist_ok=True)
    if page.evaluate("window.sncPlayer.state") == "playing":
        page.click("#play")
    assert page.evaluate("window.sncPlayer.state") == "paused"
    page.screenshot(path=str(ARTIFACTS / "player-1440.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.wait_for_timeout(200)  # the ResizeObserver redraws the waveforms
    page.screenshot(path=str(ARTIFACTS / "player-360.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360 + 1, f"horizontal scroll at 360 px: {width}"
    for i in range(3):  # the lanes stack: every waveform is on screen, full width
        b = lanes.nth(i).locator(".wave").bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= 361 and not math.isclose(b["width"], 0)
