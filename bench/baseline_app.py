"""The web benchmark's baseline: a bare Starlette app that serves fixed bytes.

It reads a manifest (``$BENCH_BASELINE_MANIFEST``, JSON) mapping each path to the exact bytes
the real page returned (body file, media type, ETag and optionally its gzip form), so the
baseline sends responses of the same size on the same server with the same settings as
``statuspage serve`` (``statuspage.server.run``: granian by default, limits included). It does no
more than a static responder must: pick the gzip form when asked for it and answer
``If-None-Match`` with a bodiless 304.

Run: ``BENCH_BASELINE_MANIFEST=m.json python -m bench.baseline_app --port N [--workers N] [--server uvicorn]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app() -> Starlette:
    manifest = json.loads(Path(os.environ["BENCH_BASELINE_MANIFEST"]).read_text())
    routes = []
    for path, spec in manifest.items():
        body = Path(spec["body"]).read_bytes()
        gzipped = Path(spec["gzip"]).read_bytes() if spec.get("gzip") else None
        routes.append(Route(path, _endpoint(body, gzipped, spec["media_type"], spec["etag"])))
    return Starlette(routes=routes)


def _endpoint(body: bytes, gzipped: bytes | None, media_type: str, etag: str):  # noqa: ANN202
    async def endpoint(request: Request) -> Response:
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        if gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            return Response(gzipped, media_type=media_type, headers={"etag": etag, "content-encoding": "gzip"})
        return Response(body, media_type=media_type, headers={"etag": etag})

    return endpoint


def main(argv: list[str] | None = None) -> int:
    from statuspage import server

    parser = argparse.ArgumentParser(description="Serve the baseline app like `statuspage serve` serves the page.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=server.SERVERS, default="granian")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    server.run(server.ServeOptions(host=args.host, port=args.port, workers=args.workers, server=args.server,
                                   log_level=args.log_level, app_factory="bench.baseline_app:create_app"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
