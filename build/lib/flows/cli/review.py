"""``cinemagraph review DIR``: look through a folder of results in the browser and fix, approve or reject each
loop; ``cinemagraph review --export DIR OUT`` copies the approved loops with their settings (docs/review.md).

The app listens on 127.0.0.1 only; its address holds a random token that every request must carry.
"""

from __future__ import annotations

import argparse
import secrets
import socket
from pathlib import Path

from flows.params import read_params

SECTIONS = ("mask", "flow", "video")
"""The params sections an item is re-rendered with when its own meta does not say them."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``review`` sub-command."""
    parser = subparsers.add_parser("review", help="review and fix loops in the browser, approve or reject them",
                                   description="Open a generate output, a bulk run (RUN/) or the data/ folder in a "
                                               "local web page: brush the mask, drag arrows, change the speed or "
                                               "motion source, re-render, approve or reject.")
    parser.add_argument("folder", type=Path, help="the folder of results")
    parser.add_argument("out", type=Path, nargs="?", help="with --export: the folder the approved loops go to")
    parser.add_argument("--export", action="store_true", help="copy the approved loops into OUT instead of serving")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="print the address without opening a browser")
    parser.add_argument("--params", type=Path,
                        help="parameters of items whose meta holds none (default: params.yaml here if present)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Export, or serve the page until interrupted."""
    from stages.errors import InputError
    from tasks.review.folders import open_folder

    if args.export:
        from tasks.review.export import export_approved

        if args.out is None:
            raise InputError("--export needs the folder to copy into: cinemagraph review --export DIR OUT")
        records = export_approved(args.folder, args.out)
        print(f"copied {len(records)} approved loop(s) into {args.out} (list: {args.out / 'approved.json'})")
        return 0
    if args.out is not None:
        raise InputError(f"unexpected {args.out}: give OUT only with --export")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: give 0 … 65535")
    folder = open_folder(args.folder)
    serve(folder, read_params(args.params, SECTIONS), args.port, not args.no_browser)
    return 0


def serve(folder, params: dict, port: int, browser: bool) -> None:
    """Serve the review of ``folder`` on 127.0.0.1:``port`` (0: a free port), print its address (and open it)."""
    import uvicorn

    from tasks.review.app import create_app

    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as busy:
        sock.close()
        raise OSError(f"cannot listen on 127.0.0.1:{port} ({busy.strerror}): pick another --port") from None
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    print(f"reviewing {len(folder.items)} item(s) of {folder.root} (versions in {folder.state_dir})")
    print(f"open {url}", flush=True)
    if browser:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(uvicorn.Config(create_app(folder, params, token), log_level="warning"))
    server.run(sockets=[sock])
