"""The web page: one static HTML file (no build step) served at ``GET /``.

LitServe registers its own ``GET /`` ("litserve running"); :func:`add_page` replaces it. The page
talks to the same ``POST /predict`` route as any client (task ``preview`` for the slice viewer).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

#: The page's folder inside the installed package.
STATIC: Traversable = files("slicevlm.serve") / "static"


def add_page(app: FastAPI, page: Traversable = STATIC / "index.html") -> None:
    """Serve ``page`` at ``GET /`` instead of LitServe's placeholder (and an empty favicon).

    Args:
        app: LitServe's FastAPI app, before the server starts.
        page: the HTML file.
    """
    html = page.read_text(encoding="utf-8")
    app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) != "/"]

    async def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def favicon() -> Response:
        return Response(status_code=204)

    app.add_api_route("/", index, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
