"""``statuspage serve`` as a real process: limits that junk connections cannot get around, and
several workers that each see a write at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from statuspage.context import WriteContext
from statuspage.incidents import service as incidents

BIN = Path(sys.executable).parent
HEADER_TIMEOUT = 1.0  # seconds, through $STATUSPAGE_HEADER_TIMEOUT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], log_path: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "statuspage"), "serve", "--port", str(port), "--log-level", "warning", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start: " + log_path.read_text()
                time.sleep(0.05)
            yield url, process
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_junk_connections_are_refused_or_closed_and_pages_still_answer(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **cli_env, "STATUSPAGE_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}
    with serving(env, tmp_path / "serve.log") as (url, _), ExitStack() as stack:
        port = int(url.rsplit(":", 1)[1])

        # Headers of 64 KB: 431, and the server goes on answering everyone else.
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 65536 + b"\r\n\r\n")
            answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        # Ordinary headers of a few kilobytes (cookies, a long referrer) are fine.
        assert httpx.get(f"{url}/healthz", headers={"X-Fine": "a" * 4000}, timeout=2).status_code == 200

        # A connection that sends nothing, half a request line, or nothing more after a request
        # is closed once the header timeout has passed.
        opened = time.monotonic()
        probes = {}
        for name, sent in (("silent", b""), ("partial", b"GET /healthz HT"),
                           ("idle keep-alive", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")):
            probes[name] = sock = stack.enter_context(connect(port))
            sock.sendall(sent)
            sock.settimeout(HEADER_TIMEOUT + 3)

        # 500 connections that never finish a request: pages still answer at once.
        slow = []
        for i in range(500):
            slow.append(sock := stack.enter_context(connect(port)))
            sock.settimeout(HEADER_TIMEOUT + 3)
            if i % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nHo")
        for path in ("/healthz", "/", "/api/v2/summary.json"):
            started = time.monotonic()
            assert httpx.get(f"{url}{path}", timeout=3).status_code == 200
            assert time.monotonic() - started < 1.0, (path, time.monotonic() - started)

        for name, sock in probes.items():
            answer = read_all(sock)
            closed_after = time.monotonic() - opened
            if name == "idle keep-alive":
                assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]  # answered, then closed when idle
            else:
                assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), (name, answer[:200])
            assert closed_after < HEADER_TIMEOUT + 1.5, (name, closed_after)
        for sock in slow[::25]:  # and so were the 500
            answer = read_all(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200


def worker_pids(parent: int) -> list[int]:
    """The worker processes (started with ``spawn``) under the ``statuspage serve`` process."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def test_two_workers_serve_and_each_sees_a_write_within_a_second(
    cli_env: dict[str, str], ctx: WriteContext, tmp_path: Path
) -> None:
    """Each worker listens on its own socket and the kernel spreads new connections over them by
    their addresses, so 25 requests on new connections reach both workers but for a chance of
    2 in 2**25: the last one still showing the old page bounds when the slower worker saw the write."""
    env = {**os.environ, **cli_env}
    with serving(env, tmp_path / "serve.log", "--workers", "2") as (url, process):
        deadline = time.monotonic() + 20
        while len(pids := worker_pids(process.pid)) < 2:
            assert time.monotonic() < deadline, f"two workers expected, found {pids}"
            time.sleep(0.05)

        def titles() -> list[str]:
            response = httpx.get(f"{url}/api/v2/summary.json", headers={"connection": "close"}, timeout=5)
            assert response.status_code == 200
            return [i["name"] for i in response.json()["incidents"]]

        for _ in range(25):  # both workers cache the page before the write
            assert titles() == []
        incidents.declare(ctx=ctx, severity=1, title="Checkout failing", components=["checkout"])
        committed = time.monotonic()
        last_stale, fresh_since = 0.0, 0
        while fresh_since < 25:
            sent = time.monotonic() - committed
            answer = titles()
            if answer == []:
                last_stale, fresh_since = sent, 0  # a worker answered stale to a request sent then
            else:
                assert answer == ["Checkout failing"]
                fresh_since += 1
            assert sent < 30, "the write is not served everywhere"
        assert last_stale <= 1.0, last_stale
        assert worker_pids(process.pid) == pids  # both still running
