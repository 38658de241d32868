"""The LitServe server and its web page: ``slicevlm serve --checkpoint CKPT``.

Modules, each imported only by what needs it:

- ``server``: the command line, the LitServer with its middleware and page (``main``).
- ``request_gate``: the ASGI middleware in front of LitServe (API key, admission, uploads, paths).
- ``uploads``: Starlette's multipart parser with our rules (file straight to disk), upload suffixes, zip extraction.
- ``volume_api``: the ``LitAPI`` that reads volumes and answers in batches (in the worker process).
- ``server_limits``: every limit as one dataclass field, command-line option and docs/serving.md row.
- ``connection``: the uvicorn protocol that cuts off slow request headers.
- ``web_page`` and ``static/index.html``: the page served at ``GET /``.
- ``server_process`` and ``load_test``: start a server in its own process group; a bounded load test.

The server calls only ``slicevlm.inference`` (and ``slicevlm.io.recipe`` for the preprocessing
fields). It needs the ``serve`` extra: ``pip install 'slicevlm[serve]'``.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``slicevlm serve``: check the serve extra is installed, then run the server's command line."""
    from slicevlm.errors import require

    require("litserve", "The server (`slicevlm serve`)")
    require("python_multipart", "The server's upload parsing")
    from slicevlm.serve.server import main as serve_main

    return serve_main(argv)
