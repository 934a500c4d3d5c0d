"""The web benchmark's baseline: a bare Starlette app that serves fixed bytes.

It reads a manifest (``$BENCH_BASELINE_MANIFEST``, JSON) mapping each path to the exact bytes
the real page returned (body file, media type, ETag and optionally its gzip form), so the
baseline sends responses of the same size on the same stack (uvicorn with uvloop + httptools,
same options). It does no more than a static responder must: pick the gzip form when asked
for it and answer ``If-None-Match`` with a bodiless 304.

Run: ``BENCH_BASELINE_MANIFEST=m.json uvicorn bench.baseline_app:create_app --factory``.
"""

from __future__ import annotations

import json
import os
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
