"""Reading a request body: JSON, UTF-8, at most :data:`MAX_BODY_BYTES`, each key once per object."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from statuspage.web.admin.calls import JSON
from statuspage.web.admin.problems import ApiProblem

MAX_BODY_BYTES = 256 * 1024


async def read_json(request: Request, *, limit: int = MAX_BODY_BYTES) -> Any:
    """The body as parsed JSON, of at most ``limit`` bytes; an empty body is ``{}``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "Content too large", f"the body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, "Content too large", f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        shown = media_type or "no content type"
        raise ApiProblem(415, "Unsupported media type", f"send the body as application/json (got {shown})")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.IGNORECASE)
    if charset and charset.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiProblem(415, "Unsupported media type", f"send the body as UTF-8 (got charset {charset.group(1)})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiProblem(400, "Malformed JSON", "the body is not valid UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
        # Lone surrogates decode from \\ud800 escapes but can be stored nowhere.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        raise ApiProblem(400, "Malformed JSON", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeEncodeError:
        raise ApiProblem(400, "Malformed JSON", "malformed JSON: a string holds an unpaired surrogate escape") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiProblem(400, "Malformed JSON", f"malformed JSON: {reason}") from None
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> JSON:
    """An object whose keys are all different: json.loads would keep the last of two, so
    ``{"severity": 3, "severity": 1}`` would be a sev1 to us and a sev3 to whoever reviewed it."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = json.dumps(key if len(key) <= 64 else key[:64] + "…")
                raise ValueError(f"the key {shown} appears more than once in an object")
            seen.add(key)
    return data
