"""How long after a write every worker of a multi-process deployment shows it.

Four single-worker ``statuspage serve`` processes on one PostgreSQL database stand for a
four-worker deployment. (``--workers 4`` shares one listening socket, so a client cannot choose
which worker answers and could never know that *each* worker saw the write; four processes on
four ports can be asked one by one, and run the same code.) Every worker is polled on
``/api/v2/summary.json`` every 10 ms for the whole run, as live traffic would keep its page
cache warm. Then an incident with a unique title is declared, either with the ``incident
declare`` CLI in a new process or with ``POST /api/admin/v1/incidents`` (a write token from
``incident token create``) sent to the first worker, and the time until the *last* worker
serves it is recorded.

The commit time is observed in the database itself: a thread reads ``site_state.data_version``
every 2 ms and notes when it changes. Freshness is measured from that moment (and, in the
notes, from the moment the CLI or the API call returned).
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence

from bench.common import (
    BIN,
    Row,
    Skip,
    free_port,
    parse_args,
    percentile,
    pg_database,
    prepare_site,
    start_process,
    stop_process,
    write_result,
)

NAME = "freshness"
WORKERS = 4
POLL_INTERVAL = 0.010
TARGET_S = 1.0


class Poller(threading.Thread):
    """Polls one worker every 10 ms on a kept-alive connection; notes when ``marker`` first shows."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = stop
        self.marker: bytes | None = None
        self.seen_at: float | None = None
        self.polls = 0
        self.errors = 0
        self.lock = threading.Lock()

    def expect(self, marker: bytes) -> None:
        with self.lock:
            self.marker, self.seen_at = marker, None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                conn.request("GET", "/api/v2/summary.json")
                response = conn.getresponse()
                body = response.read()
                now = time.monotonic()
                self.polls += 1
                with self.lock:
                    if self.marker is not None and self.seen_at is None and self.marker in body:
                        self.seen_at = now
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            next_at += POLL_INTERVAL
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        conn.close()


class CommitWatcher(threading.Thread):
    """Reads the data version every 2 ms; ``changed_at`` is when it last changed."""

    def __init__(self, pg_url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.stop_event = stop
        self.version: int | None = None
        self.changed_at: float | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop_event.is_set():
                version = conn.execute("SELECT data_version FROM site_state WHERE id = 1").fetchone()[0]
                if self.version is not None and version != self.version and self.changed_at is None:
                    self.changed_at = time.monotonic()  # the first commit after reset()
                self.version = version
                self.ready.set()
                time.sleep(0.002)

    def reset(self) -> None:
        self.changed_at = None


def declare_cli(env: dict[str, str], title: str) -> None:
    subprocess.run(
        [str(BIN / "incident"), "declare", "--severity", "1", "--title", title, "--component", "api"],
        env=env, check=True, capture_output=True,
    )


def declare_api(port: int, token: str, title: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"severity": 1, "title": title, "components": {"api": None}})
    conn.request("POST", "/api/admin/v1/incidents", body=body,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Incident-User": "bench"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 201:
        raise RuntimeError(f"admin API declare answered {response.status}: {data[:300]!r}")


def measure(kind: str, rounds: int, declare, pollers: list[Poller], commits: CommitWatcher) -> tuple[list[float], list[float], list[str]]:  # noqa: ANN001
    from_commit: list[float] = []
    from_return: list[float] = []
    problems: list[str] = []
    for i in range(rounds):
        title = f"Bench freshness {kind} {i} {uuid.uuid4().hex[:10]}"
        marker = title.encode()
        for p in pollers:
            p.expect(marker)
        commits.reset()
        declare(title)
        returned = time.monotonic()
        deadline = returned + 10
        while time.monotonic() < deadline and any(p.seen_at is None for p in pollers):
            time.sleep(0.005)
        if any(p.seen_at is None for p in pollers):
            problems.append(f"{kind} round {i}: not every worker showed the incident within 10 s")
            continue
        last = max(p.seen_at for p in pollers if p.seen_at is not None)
        committed = commits.changed_at if commits.changed_at is not None else returned
        from_commit.append(max(0.0, last - committed))
        from_return.append(last - returned)  # < 0: visible before the call returned
        # Let the workers settle on the new version before the next write.
        time.sleep(0.6)
    return from_commit, from_return, problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    rounds = 10 if args.quick else 20
    rows: list[Row] = []
    notes: list[str] = []
    try:
        with pg_database("freshness") as url, tempfile.TemporaryDirectory(prefix="bench_fresh_") as tmp:
            env = prepare_site(tmp, url)
            token = subprocess.run(
                [str(BIN / "incident"), "token", "create", "--name", "bench", "--scope", "write"],
                env=env, check=True, capture_output=True, text=True,
            ).stdout.strip()
            ports = [free_port() for _ in range(WORKERS)]
            servers = []
            stop = threading.Event()
            try:
                for port in ports:
                    servers.append(start_process(
                        [str(BIN / "statuspage"), "serve", "--workers", "1", "--port", str(port), "--log-level", "warning"],
                        env=env, ready_url=f"http://127.0.0.1:{port}/api/v2/summary.json",
                    ))
                pollers = [Poller(port, stop) for port in ports]
                commits = CommitWatcher(url, stop)
                for t in (*pollers, commits):
                    t.start()
                commits.ready.wait(10)
                time.sleep(1.0)
                results = {
                    "incident declare (CLI)": measure("cli", rounds, lambda t: declare_cli(env, t), pollers, commits),
                    "admin API POST /incidents": measure("api", rounds, lambda t: declare_api(ports[0], token, t), pollers, commits),
                }
                for label, (from_commit, from_return, problems) in results.items():
                    notes.extend(problems)
                    if not from_commit:
                        rows.append(Row(f"freshness, {label}", "last of 4 workers, max", float("nan"), "s", None, None, "≤ 1 s", False))
                        continue
                    p50, worst = percentile(from_commit, 50), max(from_commit)
                    rows.append(Row(f"freshness, {label}", f"last of {WORKERS} workers, p50 (n={len(from_commit)})",
                                    round(p50, 3), "s", None, None, "≤ 1 s", p50 <= TARGET_S))
                    rows.append(Row(f"freshness, {label}", f"last of {WORKERS} workers, max (n={len(from_commit)})",
                                    round(worst, 3), "s", None, None, "≤ 1 s", worst <= TARGET_S))
                    notes.append(
                        f"{label}: measured from the command/call returning instead of the observed commit: "
                        f"p50 {percentile(from_return, 50):+.3f} s, max {max(from_return):+.3f} s "
                        "(negative: every worker showed it before the call returned)."
                    )
                polls = sum(p.polls for p in pollers)
                errors = sum(p.errors for p in pollers)
                notes.append(
                    f"{WORKERS} single-worker `statuspage serve` processes on one PostgreSQL database, each polled every "
                    f"{POLL_INTERVAL * 1000:.0f} ms ({polls} polls, {errors} errors); commit observed by reading "
                    "site_state.data_version every 2 ms. The workers re-read the data version every 0.5 s."
                )
            finally:
                stop.set()
                for s in servers:
                    stop_process(s)
    except Skip as exc:
        notes.append(f"skipped: {exc}")
    write_result(args.json_path, NAME, rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
