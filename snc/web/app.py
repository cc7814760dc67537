"""``snc-serve``'s web app (Starlette): a read-only library of ``.snc`` files and a stem player.

Routes: ``/`` the library page, ``/player?id=ID`` the player, ``/static/*`` their files; ``/api/songs``,
``/api/songs/{id}`` (the ``snc-info --json`` object as ``info``), ``/api/songs/{id}/audio`` (a span of a stem,
the mix, the residual or a render; :mod:`.audio`) and ``/api/songs/{id}/peaks`` (a waveform overview, computed
once per song, stream and width, kept in a bounded cache).

Safety: songs are named by ids, never paths (:mod:`.library`); only GET; query values are checked and spans
bounded; at most :data:`MAX_DECODES` decodes run at once (a request over that waits up to
:data:`QUEUE_SECONDS`, then gets 503); errors are one JSON line, never a traceback.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import SncError
from . import audio
from .library import Library, describe

STATIC = Path(__file__).parent / "static"
MAX_DECODES = 8
QUEUE_SECONDS = 10.0
PEAK_CACHE = 256
#: at most this many query parameters (a gain, mute or solo per stem is plenty)
MAX_PARAMS = 64


def create_app(folder) -> Starlette:
    """The app serving the ``.snc`` files under ``folder``."""
    library = Library(folder)
    decodes = threading.BoundedSemaphore(MAX_DECODES)
    peak_cache: OrderedDict = OrderedDict()
    cache_lock = threading.Lock()

    def lookup(request: Request):
        entry = library.entry(request.path_params["song"])
        if entry is None:
            raise HTTPException(404, "no such song")
        return entry

    def acquire(request: Request) -> None:
        if len(request.query_params.multi_items()) > MAX_PARAMS:
            raise HTTPException(400, "too many query parameters")
        if not decodes.acquire(timeout=QUEUE_SECONDS):
            raise HTTPException(503, "busy: too many decodes at once, retry")

    def songs(request: Request):
        return JSONResponse(library.songs())

    def song(request: Request):
        return JSONResponse(describe(lookup(request), full=True))

    def audio_span(request: Request):
        from ..render.file import open as open_snc

        req = audio.parse_request(request.query_params)
        entry = lookup(request)
        acquire(request)
        f, streaming = None, False
        try:
            f = open_snc(entry.path)
            if req.fmt != "wav":
                return Response(audio.encoded(f, req), media_type=audio.FORMATS[req.fmt])
            length, chunks = audio.wav_stream(f, req)

            def body():  # the file and the decode slot are given back when the last byte is out
                try:
                    yield from chunks
                finally:
                    f.close()
                    decodes.release()

            streaming = True
            return StreamingResponse(body(), media_type="audio/wav",
                                     headers={"Content-Length": str(length), "Cache-Control": "no-store"})
        finally:
            if not streaming:
                if f is not None:
                    f.close()
                decodes.release()

    def song_peaks(request: Request):
        from ..render.file import open as open_snc

        try:
            width = int(request.query_params.get("width", "800"))
        except ValueError:
            raise HTTPException(400, "width: an integer") from None
        stem = request.query_params.get("stem") or "mix"
        entry = lookup(request)
        key = (entry.id, entry.path, stem, width)
        with cache_lock:
            if key in peak_cache:
                peak_cache.move_to_end(key)
                return JSONResponse(peak_cache[key])
        acquire(request)
        try:
            with open_snc(entry.path) as f:
                result = audio.peaks(f, stem, width)
        finally:
            decodes.release()
        with cache_lock:
            peak_cache[key] = result
            while len(peak_cache) > PEAK_CACHE:
                peak_cache.popitem(last=False)
        return JSONResponse(result)

    def page(name: str):
        def endpoint(request: Request):
            return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})
        return endpoint

    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    async def snc_error(request: Request, exc: SncError):
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    async def any_error(request: Request, exc: Exception):
        return JSONResponse({"error": "internal error"}, status_code=500)

    routes = [
        Route("/", page("index.html")),
        Route("/player", page("player.html")),
        Route("/api/songs", songs),
        Route("/api/songs/{song}", song),
        Route("/api/songs/{song}/audio", audio_span),
        Route("/api/songs/{song}/peaks", song_peaks),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    def warm() -> None:
        """Load what a first render uses (kernels, filters, HRTFs) before a listener asks: a cold profile or
        binaural render takes several times a warm one."""
        from ..render.file import open as open_snc

        songs = library.songs()
        if not songs:
            return
        with contextlib.suppress(SncError, OSError), open_snc(library.entry(songs[0]["id"]).path) as f:
            frames = min(f.frames, f.samplerate // 10)
            for options in ({"profile": "karaoke"}, {"layout": "binaural"}):
                for _ in f.render_blocks(4096, frames=frames, **options):
                    pass

    @contextlib.asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=warm, name="snc-serve-warm-up", daemon=True).start()
        yield

    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, SncError: snc_error, Exception: any_error})
