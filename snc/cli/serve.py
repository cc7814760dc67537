"""snc-serve: a web library and stem player over a folder of .snc files (``pip install 'snc[web]'``)."""

from __future__ import annotations

import argparse
import sys

from ..errors import NotAvailableError
from ..version import __version__
from .common import Parser, add_common_options, run

PROG = "snc-serve"


def get_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Serve a folder of .snc files: a library page and a stem player "
                                      "(mute, solo, gains, profiles, binaural) in the browser.",
               epilog="example: snc-serve ~/music/snc  (then open http://127.0.0.1:8000/)")
    p.add_argument("folder", help="the folder of .snc files (read only; sub-folders too)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, with no authentication)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_common_options(p, writes=False)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _body(args) -> int:
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError:
        raise NotAvailableError("snc-serve needs the web extra: pip install 'snc[web]'") from None
    app = create_app(args.folder)
    if not args.quiet:
        print(f"{PROG}: serving {args.folder} at http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                limit_concurrency=64, timeout_keep_alive=5)
    return 0


def main(argv=None) -> int:
    return run(PROG, _body, get_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
