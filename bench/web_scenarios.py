"""Two scenarios of the web benchmark that only the status page runs (one worker, as shipped).

- **Cache-busting**: every request carries a random query string (``/?cb=<random>``), as a
  client that defeats caches would send; measured against the plain URL, alternating, with the
  same wrk Lua request function (so wrk's own per-request cost is the same on both sides).
- **Slow sockets**: thousands of TCP connections that send nothing or half a request line;
  meanwhile the latency of ``/healthz`` and ``/`` (sequential requests, a new connection each)
  and the throughput of ``summary.json``, against the same without them; then how many of those
  sockets the server closed after its header timeout.

Used by ``bench/web.py``; the wrk runner is passed in.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import BIN, Row, free_port, http_get, ratio, start_process, stop_process

Wrk = Callable[..., dict]

CACHE_BUST_TARGET = 0.80  # random query strings may cost at most 20 % of throughput
HEALTHZ_MAX_S = 1.0
FD_RESERVE = 256  # descriptors the bench process keeps for itself (wrk pipes, httpx, logs)

# A request function per wrk thread: the plain path, or the path with a random query string.
# Each thread seeds its own generator (threads do not share a Lua state).
REQUEST_LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function init(args)
  math.randomseed(os.time() + 7919 * thread_id)
end
request = function()
  return wrk.format(nil, {path})
end
"""
PLAIN_PATH = "wrk.path"
RANDOM_PATH = 'wrk.path .. "?cb=" .. math.random(1, 1000000000)'


def cache_busting(app_url: str, tmp_path: Path, report_lua: str, wrk: Wrk, duration: str, rounds: int,
                  notes: list[str]) -> list[Row]:
    plain = tmp_path / "plain.lua"
    plain.write_text(REQUEST_LUA.replace("{path}", PLAIN_PATH) + report_lua)
    busted = tmp_path / "cache_bust.lua"
    busted.write_text(REQUEST_LUA.replace("{path}", RANDOM_PATH) + report_lua)
    rows: list[Row] = []
    for path in ("/", "/api/v2/summary.json"):
        status, _, body = http_get(app_url + path)
        qstatus, _, qbody = http_get(f"{app_url}{path}?cb=123456789")
        if qstatus != 200 or len(qbody) != len(body):
            notes.append(f"cache-busting {path}: a random query string got {qstatus}, {len(qbody)} B "
                         f"(plain: {status}, {len(body)} B)")
        scripts = {"plain": plain, "random query": busted}
        for script in scripts.values():
            wrk(app_url + path, "1s", {}, script)  # warm-up
        runs: dict[str, list[dict]] = {who: [] for who in scripts}
        order = list(scripts)
        for i in range(rounds):
            for who in order if i % 2 == 0 else order[::-1]:
                runs[who].append(wrk(app_url + path, duration, {}, scripts[who]))
        best = {who: max(results, key=lambda res: res["rps"]) for who, results in runs.items()}
        a, b = best["random query"], best["plain"]
        r = ratio(a["rps"], b["rps"])
        label = f"GET {path}?cb=<random> (cache-busting), 1 worker"
        rows.append(Row(label, "req/s random query vs plain", round(a["rps"], 1), "req/s", round(b["rps"], 1),
                        round(r, 3) if r else None, f"≥ {CACHE_BUST_TARGET:.0%}".replace("%", " %"),
                        bool(r and r >= CACHE_BUST_TARGET and not a["errors"])))
        p99 = ratio(a["p99_us"], b["p99_us"])
        rows.append(Row(label, "p99 latency vs plain", round(a["p99_us"] / 1000, 2), "ms", round(b["p99_us"] / 1000, 2),
                        round(p99, 3) if p99 else None, "informative", True))
        for who, res in best.items():
            if res["errors"]:
                notes.append(f"{label}: {who} had {res['errors']} errors/non-2xx-3xx responses: {res}")
        spread = {who: round(min(x["rps"] for x in results) / max(x["rps"] for x in results), 3)
                  for who, results in runs.items()}
        notes.append(f"{label}: worst/best run (1.0 = steady): {spread}")
    notes.append(
        f"Cache-busting: wrk -t2 -c64 -d{duration}, best of {rounds} alternating run(s), each side after a 1 s "
        "warm-up; both sides use a Lua request function (the plain one returns the fixed path), one random "
        "integer in 1..10^9 per request, so almost every request carries a query string not seen before."
    )
    return rows


def raise_nofile() -> tuple[int, int]:
    """Raise this process's soft limit on open files to the hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def open_slow_sockets(port: int, count: int, deadline_s: float = 60.0) -> tuple[list[socket.socket], int]:
    """``count`` connections: even ones send nothing, odd ones half a request line. Returns the
    open sockets and the number of failed connects."""
    sockets: list[socket.socket] = []
    failed = 0
    stop = time.monotonic() + deadline_s
    for i in range(count):
        if time.monotonic() > stop:
            failed += count - i
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if i % 2:
                s.sendall(b"GET /api/v2/summ")
        except OSError:
            s.close()
            failed += 1
            continue
        s.setblocking(False)
        sockets.append(s)
    return sockets, failed


def socket_closed(s: socket.socket) -> bool:
    """Whether the peer has closed the connection (FIN or RST); reads whatever it sent first."""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset by the peer, or otherwise unusable
        return True


def sequential_latency(url: str, n: int) -> tuple[list[float], int]:
    """``n`` sequential GETs, a new connection each; returns the seconds of the answered ones
    (status 200) and the number that failed or answered otherwise."""
    import httpx

    times: list[float] = []
    failed = 0
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0),
                      headers={"Connection": "close"}) as client:
        for _ in range(n):
            started = time.perf_counter()
            try:
                response = client.get(url)
                _ = response.content
            except httpx.HTTPError:
                failed += 1
                continue
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                times.append(elapsed)
            else:
                failed += 1
    return times, failed


def slow_sockets(env: dict[str, str], tmp_path: Path, report_script: Path, wrk: Wrk, count: int, duration: str,
                 header_timeout: float, notes: list[str], samples: int = 20) -> list[Row]:
    soft, hard = raise_nofile()
    if soft < count + FD_RESERVE:
        notes.append(f"slow sockets: the file limit of the bench process is {soft} (hard {hard}): "
                     f"opening {max(0, soft - FD_RESERVE)} instead of {count}.")
        count = max(0, soft - FD_RESERVE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_process(
        [str(BIN / "statuspage"), "serve", "--workers", "1", "--port", str(port),
         "--header-timeout", f"{header_timeout:g}"],
        env=env, ready_url=url + "/healthz", log_path=tmp_path / "app_slow_sockets.log",
    )
    rows: list[Row] = []
    sockets: list[socket.socket] = []
    try:
        summary = url + "/api/v2/summary.json"
        wrk(summary, "1s", {}, report_script)  # warm-up
        for path in ("/healthz", "/"):
            http_get(url + path)  # the first render of each page is not what is measured
        quiet = {path: sequential_latency(url + path, samples) for path in ("/healthz", "/")}
        before = wrk(summary, duration, {}, report_script)

        opened_at = time.monotonic()
        sockets, failed = open_slow_sockets(port, count)
        last_opened = time.monotonic()
        busy = {path: sequential_latency(url + path, samples) for path in ("/healthz", "/")}
        during = wrk(summary, duration, {}, report_script)
        measured_at = time.monotonic()
        open_at_end = sum(not socket_closed(s) for s in sockets)

        # Wait for the header timeout (counted from the last connect) and a margin, then count.
        check_at = last_opened + header_timeout + 3
        time.sleep(max(0.0, check_at - time.monotonic()))
        closed = sum(socket_closed(s) for s in sockets)
        all_closed_after: float | None = None
        if closed < len(sockets):
            give_up = time.monotonic() + 15
            while time.monotonic() < give_up:
                time.sleep(0.5)
                if all(socket_closed(s) for s in sockets):
                    all_closed_after = time.monotonic() - last_opened
                    break
        healthz_after = http_get(url + "/healthz", timeout=5)[0]
        after = wrk(summary, duration, {}, report_script)
    finally:
        for s in sockets:
            s.close()
        stop_process(server)

    n = len(sockets)
    label = f"{n:,} slow sockets (half silent, half a partial request line), 1 worker"
    for path in ("/healthz", "/"):
        times, errors = busy[path]
        base_times, _ = quiet[path]
        base_med = statistics.median(base_times) * 1000 if base_times else None
        base_max = max(base_times) * 1000 if base_times else None
        med = statistics.median(times) * 1000 if times else float("nan")
        worst = max(times) * 1000 if times else float("nan")
        answered = f"{len(times)}/{samples} answered"
        rows.append(Row(f"GET {path} with {label}", f"median latency, new connection each ({answered})",
                        round(med, 1), "ms", round(base_med, 1) if base_med else None,
                        _r(ratio(med, base_med)), "informative", True))
        if path == "/healthz":
            rows.append(Row(f"GET {path} with {label}", f"max latency, new connection each ({answered})",
                            round(worst, 1), "ms", round(base_max, 1) if base_max else None,
                            _r(ratio(worst, base_max)), "answers, < 1 s",
                            bool(times and not errors and worst < HEALTHZ_MAX_S * 1000)))
        else:
            rows.append(Row(f"GET {path} with {label}", f"max latency, new connection each ({answered})",
                            round(worst, 1), "ms", round(base_max, 1) if base_max else None,
                            _r(ratio(worst, base_max)), "informative", True))
    without = (before["rps"] + after["rps"]) / 2
    rows.append(Row(f"GET /api/v2/summary.json with {label}", "req/s with vs without", round(during["rps"], 1),
                    "req/s", round(without, 1), _r(ratio(during["rps"], without)), "informative", True))
    rows.append(Row(f"{label}, --header-timeout {header_timeout:g} s", "closed by the server after the timeout",
                    float(closed), "sockets", float(n), _r(ratio(closed, n)), "all", bool(n and closed == n)))

    notes.append(
        f"Slow sockets: {n:,} connections opened in {last_opened - opened_at:.1f} s ({failed} connects failed); "
        f"bench process file limit {soft} (hard {hard}). Server: statuspage serve --workers 1 "
        f"--header-timeout {header_timeout:g}. /healthz and / : {samples} sequential GETs each, a new "
        "connection each (httpx, which asks for gzip: / arrives in its gzip form), before the sockets were opened (baseline) and while they were open; "
        f"summary.json: wrk -t2 -c64 -d{duration} before, while open and after they were closed (baseline: "
        f"the mean of before {before['rps']:,.0f} and after {after['rps']:,.0f} req/s)."
    )
    notes.append(
        f"Slow sockets: the measurements ended {measured_at - last_opened:.1f} s after the last connect, "
        f"with {open_at_end:,} of {n:,} still open (the header timeout is {header_timeout:g} s); "
        f"{closed:,} closed {header_timeout + 3:g} s after the last connect"
        + (f", all of them after {all_closed_after:.1f} s" if all_closed_after is not None else "")
        + f"; /healthz answered {healthz_after} afterwards."
    )
    for what, res in (("before", before), ("during", during), ("after", after)):
        if res["errors"]:
            notes.append(f"Slow sockets: wrk {what} had {res['errors']} errors/non-2xx-3xx responses: {res}")
    for path in ("/healthz", "/"):
        if busy[path][1]:
            notes.append(f"Slow sockets: {busy[path][1]} of {samples} GET {path} failed or were not 200 "
                         "while the sockets were open.")
    return rows


def _r(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
