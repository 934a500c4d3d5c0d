"""A local HTTP server that speaks enough of the Slack Web API for the real ``slack_sdk.WebClient``.

Why a server rather than a mock: the product's sender is exercised through slack_sdk exactly as it
runs against Slack (URLs, form and JSON bodies, the bearer token, ``SlackApiError`` on non-200 or
``ok: false``, ``Retry-After`` headers, read time-outs), so what the tests check is what Slack
would have seen.

It keeps a small workspace: channels with messages (each with ``ts``, ``thread_ts``, ``text``,
``blocks`` and ``metadata``), users, DM channels. Methods: ``chat.postMessage``, ``chat.update``,
``conversations.open``, ``conversations.history``, ``conversations.replies``, ``conversations.list``,
``users.lookupByEmail``, ``auth.test``. Every request is recorded. Faults are queued per method
(or for any method) and consumed in turn:

- ``Fault(429, retry_after=3)``: rate limited, nothing done;
- ``Fault(500)``: an internal error, nothing done;
- ``Fault(hang=2.0)``: the call *is carried out*, then the answer is held back for 2 seconds, so a
  client with a shorter time-out gives up without knowing that it worked: the hardest case for
  exactly-once delivery;
- ``Fault(hang=2.0, apply=False)``: held back, then dropped without being carried out;
- ``Fault(error="user_not_found")``: HTTP 200 with ``ok: false`` and that error, nothing done.

A *storm* (``server.storm(40, Fault(429, retry_after=1))``) answers every request with the same
fault until it ends, as Slack does during an incident of its own; queued faults wait behind it.

Point a client at it with ``WebClient(token, base_url=server.base_url)``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "xoxb-test-token"
BOT_USER = "UBOT000001"


@dataclass
class Fault:
    """One injected failure, consumed by the next matching request."""

    status: int = 200
    retry_after: int | None = None
    hang: float = 0.0
    apply: bool = True
    error: str | None = None


@dataclass
class Request:
    """A request as the server saw it (the body decoded, JSON or form alike)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    answered: int = 200

    @property
    def delivery_id(self) -> str | None:
        metadata = self.params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if isinstance(metadata, dict):
            return (metadata.get("event_payload") or {}).get("delivery_id")
        return None


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # every chat.update, in order

    def as_json(self, with_metadata: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "user": BOT_USER}
        if self.blocks is not None:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            data["metadata"] = self.metadata
        return data


class SlackServer:
    """The fake workspace and its HTTP server, on 127.0.0.1 in a thread of its own."""

    def __init__(self, *, token: str = TOKEN, port: int = 0) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.faults: dict[str, deque[Fault]] = {}
        # channel name -> id; ids -> messages
        self.channel_ids: dict[str, str] = {"#incidents": "C0INCIDENT", "#oncall": "C0ONCALL01", "#exec": "C0EXEC0001"}
        self.messages: dict[str, list[Message]] = {}
        self.users: dict[str, str] = {}  # email -> user id
        self.dms: dict[str, str] = {}  # user id -> DM channel id
        self._ts = itertools.count(1)
        self._closing = threading.Event()
        self._storm: tuple[float, Fault] | None = None  # (monotonic end, fault)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a held answer: expected

        self.server = Server(("127.0.0.1", port), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # Test controls ----------------------------------------------------------------------------

    def fail(self, method: str, *faults: Fault) -> None:
        """Queue faults for ``method`` ("*" for whichever method comes next)."""
        with self.lock:
            self.faults.setdefault(method, deque()).extend(faults)

    def storm(self, seconds: float, fault: Fault) -> None:
        """Answer every request with ``fault`` for the next ``seconds``."""
        with self.lock:
            self._storm = (time.monotonic() + seconds, fault)

    def storm_over(self) -> bool:
        with self.lock:
            return self._storm is None or time.monotonic() >= self._storm[0]

    def add_channel(self, name: str, channel_id: str) -> None:
        with self.lock:
            self.channel_ids[name] = channel_id

    def add_user(self, user_id: str, email: str) -> None:
        with self.lock:
            self.users[email] = user_id

    def calls(self, method: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method]

    def channel(self, name_or_id: str) -> list[Message]:
        """Every message of a channel (top level and replies), oldest first."""
        with self.lock:
            channel_id = self.channel_ids.get(name_or_id, name_or_id)
            return list(self.messages.get(channel_id, []))

    def top_level(self, name_or_id: str) -> list[Message]:
        return [m for m in self.channel(name_or_id) if m.thread_ts is None]

    def replies(self, name_or_id: str, thread_ts: str) -> list[Message]:
        return [m for m in self.channel(name_or_id) if m.thread_ts == thread_ts]

    def dm(self, user_id: str) -> list[Message]:
        with self.lock:
            channel_id = self.dms.get(user_id)
        return self.channel(channel_id) if channel_id else []

    def all_text(self) -> str:
        """Everything clients sent, as one string: for checks that something never went out."""
        with self.lock:
            return "\n".join(json.dumps(r.params, ensure_ascii=False) for r in self.requests)

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> SlackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Serving ----------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.path.split("?", 1)[0].removeprefix("/api/")
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if headers.get("content-type", "").startswith("application/json"):
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
        request = Request(method, params, headers)
        with self.lock:
            self.requests.append(request)
            fault = self._next_fault(method)
        if fault is not None and fault.error is not None:
            request.answered = 200
            self._reply(handler, 200, {"ok": False, "error": fault.error}, {})
            return
        if fault is not None and fault.status != 200:
            request.answered = fault.status
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            body = {"ok": False, "error": "ratelimited"} if fault.status == 429 else None
            self._reply(handler, fault.status, body, extra, raw_text="Internal Server Error" if body is None else None)
            return
        status, answer = 200, {"ok": False, "error": "not_authed"}
        if fault is None or fault.apply:
            answer = self._call(method, params, headers)
        if fault is not None and fault.hang:
            self._closing.wait(fault.hang)
            if not fault.apply:
                return  # held, then dropped: the connection closes with no answer
        self._reply(handler, status, answer, {})

    def _next_fault(self, method: str) -> Fault | None:
        if self._storm is not None:
            if time.monotonic() < self._storm[0]:
                return self._storm[1]
            self._storm = None
        for key in (method, "*"):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any] | None,
        headers: dict[str, str],
        raw_text: str | None = None,
    ) -> None:
        data = raw_text.encode() if raw_text is not None else json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain" if raw_text is not None else "application/json")
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up already

    def _call(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        with self.lock:
            return handler(params)

    def _resolve(self, channel: str) -> str | None:
        if channel in self.channel_ids:
            return self.channel_ids[channel]
        if channel in self.channel_ids.values() or channel in self.dms.values():
            return channel
        return None

    def _next_ts(self) -> str:
        return f"1764057600.{next(self._ts):06d}"

    @staticmethod
    def _json_param(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://sendero.slack.example/", "team": "Sendero", "user_id": BOT_USER}

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Slack's name
        channel_id = self._resolve(str(params.get("channel", "")))
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        text = params.get("text")
        if not text:
            return {"ok": False, "error": "no_text"}
        thread_ts = params.get("thread_ts")
        if thread_ts and not any(m.ts == thread_ts for m in self.messages.get(channel_id, [])):
            return {"ok": False, "error": "thread_not_found"}
        message = Message(
            ts=self._next_ts(),
            channel=channel_id,
            text=text,
            blocks=self._json_param(params.get("blocks")),
            thread_ts=thread_ts,
            metadata=self._json_param(params.get("metadata")),
        )
        self.messages.setdefault(channel_id, []).append(message)
        return {"ok": True, "channel": channel_id, "ts": message.ts, "message": message.as_json(False)}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        if channel_id not in self.messages and channel_id not in self.channel_ids.values():
            # Like Slack: chat.update wants the channel's id, not its name.
            return {"ok": False, "error": "channel_not_found"}
        for message in self.messages.get(channel_id, []):
            if message.ts == params.get("ts"):
                message.text = params.get("text") or message.text
                message.blocks = self._json_param(params.get("blocks"))
                message.edits.append({"text": message.text, "blocks": message.blocks})
                return {"ok": True, "channel": channel_id, "ts": message.ts, "text": message.text}
        return {"ok": False, "error": "message_not_found"}

    def _api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("users", ""))
        if not user.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        channel_id = self.dms.setdefault(user, "D" + user[1:])
        return {"ok": True, "channel": {"id": channel_id}}

    def _api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._resolve(str(params.get("channel", "")))
        if channel_id is None or channel_id.startswith("#"):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in {"1", "true"}
        found = [
            m.as_json(with_metadata)
            for m in reversed(self.messages.get(channel_id, []))
            if m.thread_ts is None and float(m.ts) > oldest
        ]
        return {"ok": True, "messages": found, "has_more": False}

    def _api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._resolve(str(params.get("channel", "")))
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = params.get("ts")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in {"1", "true"}
        thread = [m for m in self.messages.get(channel_id, []) if m.ts == ts or m.thread_ts == ts]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [m.as_json(with_metadata) for m in thread], "has_more": False}

    def _api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": cid, "name": name[1:]} for name, cid in self.channel_ids.items() if name.startswith("#")]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Slack's name
        user_id = self.users.get(str(params.get("email", "")))
        if user_id is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user_id, "profile": {"email": params.get("email")}}}


def serve() -> Iterator[SlackServer]:
    """For a pytest fixture: ``yield from serve()``."""
    server = SlackServer()
    try:
        yield server
    finally:
        server.close()


def main() -> None:
    """Run the fake workspace by itself and print what arrives, to watch the toolkit talk to
    "Slack" by hand: ``python -m tests.slack_server --port 8030``, then run the worker with
    ``SLACK_BOT_TOKEN=xoxb-test-token`` and ``slack.base_url: http://127.0.0.1:8030/api/``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8030)
    port = parser.parse_args().port
    server = SlackServer(port=port)
    print(f"Fake Slack on {server.base_url} (token {TOKEN}); Ctrl-C to stop", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            with server.lock:
                fresh = server.requests[seen:]
                seen = len(server.requests)
            for request in fresh:
                text = request.params.get("text") if isinstance(request.params, dict) else None
                channel = request.params.get("channel") if isinstance(request.params, dict) else None
                print(f"{request.method} {channel or ''} {text or ''}".rstrip(), flush=True)
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
