"""``snc-serve``: a read-only web library and stem player over a folder of ``.snc`` files (:mod:`.app`).

Starlette and uvicorn come with the ``web`` extra (``pip install 'snc[web]'``); the pages are plain HTML and
JavaScript in ``static/`` with no build step and nothing fetched from elsewhere.
"""
