"""The web page: one static HTML file (no build step) served at ``GET /``.

LitServe registers its own ``GET /`` ("litserve running"); :func:`add_page` replaces it. The page is
served with a Content-Security-Policy that allows its inline script by hash (:func:`page_policy`). The page
talks to the same ``POST /predict`` route as any client (task ``preview`` for the slice viewer).
"""

from __future__ import annotations

import base64
import hashlib
import re
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
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": page_policy(html)}
    app.router.routes = [route for route in app.router.routes if getattr(route, "path", None) != "/"]

    async def index() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    async def favicon() -> Response:
        return Response(status_code=204)

    app.add_api_route("/", index, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: its own inline scripts (by SHA-256), its inline styles,
    slice images as ``data:`` URLs, requests to this server only, and no framing by other sites."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    )
    return (
        f"default-src 'none'; script-src {hashes or chr(39) + 'none' + chr(39)}; style-src 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
