"""The review web app (FastAPI): the list of items, one item's loop, mask, flow and tools, re-render, undo,
approve / reject, and opening a new picture.

Every request carries the session's token (``?token=`` or the ``X-Review-Token`` header), else 403. Files are
served only by item id, version and a known file name, never by a path; a picture opened by path must lie
under the folder (:func:`tasks.review.edits.confined_picture`). A user's mistake answers 4xx with
``{"error": message}`` and changes nothing on disk. The page builds its text with ``textContent`` (escaped)
and the Content-Security-Policy allows only the app's own scripts.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from stages.errors import InputError
from stages.images import image_size
from stages.motion.sources import MOTION_SOURCES
from tasks.review.edits import confined_picture, max_picture_bytes, parse_edit, revision_of, text_field
from tasks.review.folders import ITEM_FILES, ReviewFolder, ReviewItem
from tasks.review.rerender import g_flow_present, item_params, open_picture, rerender, version_settings
from tasks.review.versions import SETTINGS, ItemVersions, StaleEdit, Verdicts

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}
PAGE_SIZE = 48
FILTERS = ("all", "failed", "approved", "rejected", "unseen")
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; "
                                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class NotFound(InputError):
    """An item, version or file the folder does not have."""


def error(status: int, message: str) -> JSONResponse:
    """A 4xx answer the page shows: ``{"error": message}``."""
    return JSONResponse({"error": message}, status, headers=SECURITY_HEADERS)


def create_app(folder: ReviewFolder, params: dict, token: str) -> FastAPI:
    """The app over ``folder``; ``params``: the sections mask, flow, video of items whose meta has none."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    verdicts = Verdicts(folder)
    body_limit = math.ceil(max_picture_bytes() * 4 / 3) + 65536  # a picture as a base64 data URL

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Response:
        given = request.query_params.get("token") or request.headers.get("x-review-token") or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            return error(403, "missing or wrong token: open the address `cinemagraph review` printed")
        if request.method == "POST" and int(request.headers.get("content-length") or body_limit + 1) > body_limit:
            return error(413, f"the request is over {body_limit} bytes (or says no length): send a smaller picture")
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(InputError)
    async def mistake(request: Request, raised: InputError) -> JSONResponse:
        return error(409 if isinstance(raised, StaleEdit) else 404 if isinstance(raised, NotFound) else 400,
                     str(raised))

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, raised: StarletteHTTPException) -> JSONResponse:
        return error(raised.status_code, f"{raised.detail}: {request.url.path} is no address of this page")

    def item_of(item_id: str) -> ReviewItem:
        if item_id not in folder.items:
            raise NotFound(f"no item {item_id!r} in this folder: go back to the list")
        return folder.items[item_id]

    def summary(item: ReviewItem, records: dict) -> dict:
        record = records.get(item.id, {})
        head = ItemVersions(folder, item).head()
        return {"id": item.id, "prompt": item.prompt, "status": item.status, "error": item.error,
                "verdict": record.get("verdict"), "seen": bool(record.get("seen")), "version": head["version"],
                "thumbnail": f"/api/items/{item.id}/files/0/artistic.png" if item.editable else None}

    def detail(item: ReviewItem) -> dict:
        versions = ItemVersions(folder, item)
        head = versions.head()
        files = versions.files(head["version"])
        size = image_size(files["artistic.png"]) if item.editable else None
        shown = {name: f"/api/items/{item.id}/files/{head['version']}/{name}" for name in files}
        g_flow = g_flow_present(item_params(item, params).get("flow") or {})
        return {**summary(item, verdicts.all()), "editable": item.editable, "size": size, "head": head,
                "versions": versions.versions(), "files": shown,
                "settings": version_settings(versions, head["version"], params) if item.editable else {},
                "sources": [{"name": name, "available": name != "g_flow" or g_flow}
                            for name in sorted(MOTION_SOURCES)]}

    async def json_body(request: Request) -> dict:
        try:
            body = await request.json()
        except ValueError:
            raise InputError("the request is not JSON: reload the page") from None
        if not isinstance(body, dict):
            raise InputError("the request must be a JSON object")
        return body

    page = (STATIC / "index.html").read_text().replace("__TOKEN__", token)  # a token is URL-safe: no escaping

    @app.get("/")
    async def index() -> Response:
        return HTMLResponse(page)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise NotFound(f"no file {name!r}")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    @app.get("/api/items")
    def items(show: str = "all", page: int = 1) -> dict:
        if show not in FILTERS:
            raise InputError(f"unknown filter {show!r}: one of {', '.join(FILTERS)}")
        records = verdicts.all()
        rows = [summary(item, records) for item in folder.items.values()]
        keep = {"all": lambda row: True, "failed": lambda row: row["status"] == "failed",
                "approved": lambda row: row["verdict"] == "approved",
                "rejected": lambda row: row["verdict"] == "rejected", "unseen": lambda row: not row["seen"]}[show]
        rows = [row for row in rows if keep(row)]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page = min(max(page, 1), pages)
        return {"items": rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], "page": page, "pages": pages,
                "total": len(rows), "layout": folder.layout, "folder": folder.root.name}

    @app.get("/api/items/{item_id}")
    def item(item_id: str) -> dict:
        found = item_of(item_id)
        verdicts.update(found.id, seen=True)
        return detail(found)

    @app.get("/api/items/{item_id}/files/{version}/{name}")
    def item_file(item_id: str, version: int, name: str) -> Response:
        versions = ItemVersions(folder, item_of(item_id))
        try:
            path = versions.files(version)[name] if name in (*ITEM_FILES, SETTINGS) else None
        except KeyError:
            path = None
        if path is None or path.is_symlink():
            raise NotFound(f"item {item_id!r} has no file {name!r} in version {version}")
        return FileResponse(path)

    @app.post("/api/items/{item_id}/render")
    async def render(item_id: str, request: Request) -> dict:
        found = item_of(item_id)
        if not found.editable:
            raise InputError("this item has no artistic image to re-render (its run failed before the twins)")
        edit = parse_edit(await json_body(request), image_size(found.files["artistic.png"]))
        await run_in_threadpool(rerender, ItemVersions(folder, found), edit, params)
        return detail(found)

    @app.post("/api/items/{item_id}/undo")
    async def undo(item_id: str, request: Request) -> dict:
        found = item_of(item_id)
        ItemVersions(folder, found).undo(revision_of(await json_body(request)))
        return detail(found)

    @app.post("/api/items/{item_id}/verdict")
    async def verdict(item_id: str, request: Request) -> dict:
        found = item_of(item_id)
        verdicts.update(found.id, verdict=(await json_body(request)).get("verdict"))
        return detail(found)

    @app.post("/api/open")
    async def open_new(request: Request) -> dict:
        body = await json_body(request)
        path = confined_picture(folder.root, body.get("path"))
        found = await run_in_threadpool(open_picture, folder, path, text_field(body.get("prompt"), "prompt"))
        return detail(found)

    return app
