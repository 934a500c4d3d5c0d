"""Shared plumbing for the benchmarks: result rows, processes, databases and a seeded site.

Every benchmark module ``bench/<name>.py`` runs as ``python -m bench.<name> --json OUT.json
[--quick]`` and writes ``{"name": ..., "rows": [...], "notes": [...]}`` (see :class:`Row`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONFIG = ROOT / "statuspage.yaml"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Skip(Exception):
    """A benchmark cannot run here (e.g. PostgreSQL is unreachable); reported as a note."""


@dataclass
class Row:
    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_result(path: str | os.PathLike[str], name: str, rows: Sequence[Row | dict[str, Any]], notes: Sequence[str]) -> None:
    data = {
        "name": name,
        "rows": [r.to_dict() if isinstance(r, Row) else dict(r) for r in rows],
        "notes": list(notes),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One GET; returns (status, lower-cased headers, body) and never raises on 3xx-5xx."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def start_process(
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    ready_url: str | None = None,
    timeout: float = 30,
    log_path: str | os.PathLike[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a process in its own session; wait until ``ready_url`` answers 200 (kills it on failure)."""
    out: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(
        list(argv), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
        start_new_session=True,
    )
    if ready_url is None:
        return p
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{argv[0]} exited with {p.returncode} before {ready_url} answered")
        try:
            status, _, _ = http_get(ready_url, timeout=1)
            if status == 200:
                return p
        except OSError:
            pass
        time.sleep(0.05)
    stop_process(p)
    raise RuntimeError(f"{ready_url} did not answer 200 within {timeout} s")


def stop_process(p: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM the process group (uvicorn workers included), wait, then SIGKILL."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


@contextlib.contextmanager
def pg_database(prefix: str = "bench") -> Iterator[str]:
    """A fresh PostgreSQL database ``bench_<prefix>_<random>``, dropped afterwards.

    Raises :class:`Skip` when PostgreSQL is unreachable (the caller turns it into a note)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover
        raise Skip(f"psycopg is not installed: {exc}") from None
    clean = "".join(c for c in prefix.lower() if c.isalnum() or c == "_").removeprefix("bench_")
    name = f"bench_{clean}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        raise Skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc).strip().splitlines()[0]}") from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def site_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("STATUSPAGE_URL", "STATUSPAGE_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(key, None)  # local mode, no real Slack
    env.update(
        DATABASE_URL=database_url,
        STATUSPAGE_CONFIG=str(CONFIG),
        INCIDENT_USER="bench",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def prepare_site(tmp_dir: str | os.PathLike[str], database_url: str) -> dict[str, str]:
    """Migrate and seed the demo data into ``database_url``; return the environment for the CLIs
    and the server (DATABASE_URL, STATUSPAGE_CONFIG, INCIDENT_USER). ``tmp_dir`` is the working
    directory of the commands; nothing is written there by this function."""
    env = site_env(database_url)
    for args in (["db", "upgrade"], ["db", "seed-demo"]):
        result = subprocess.run(
            [str(BIN / "statuspage"), *args], env=env, cwd=tmp_dir, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"statuspage {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return env


def sqlite_url(tmp_dir: str | os.PathLike[str], name: str = "bench.db") -> str:
    return f"sqlite:///{Path(tmp_dir).resolve() / name}"


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile, ``p`` in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(ordered[int(k)])
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo))


def ratio(value: float, baseline: float | None) -> float | None:
    if not baseline:
        return None
    return value / baseline


def parse_args(argv: Sequence[str] | None, description: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", dest="json_path", required=True, help="where to write the result")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    return parser.parse_args(argv)
