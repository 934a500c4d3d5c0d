"""Throughput and tail latency of the public pages against nginx and a bare Starlette app.

Three servers, real processes on loopback, measured alternately in one run, with one worker
process and then two:

- the status page: ``statuspage serve --workers N`` on a seeded SQLite database (granian, the
  default server, access log off as shipped);
- the baseline: ``python -m bench.baseline_app --workers N``, a bare Starlette app serving the very
  bytes the status page returned for that path, on the same server through the same code
  (``statuspage.server.run``), so the ratio is what the application adds;
- nginx (when installed) serving the same bytes as static files (``gzip_static`` for the gzip
  form), ``worker_processes N``, access log off: what this machine can do at all.

Load comes from ``wrk -t2 -c64 -d5s`` (``-d2s`` with ``--quick``), after a short warm-up.

Then, on the status page alone with one worker (``bench/web_scenarios.py``): every request with a
random query string against the plain URL (cache-busting), and 5,000 connections that send
nothing or half a request line (1,000 with ``--quick``): the latency of ``/healthz`` and ``/``,
the throughput of ``summary.json`` with and without them, and how many of them the server closed
after its header timeout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    BIN,
    Row,
    free_port,
    http_get,
    parse_args,
    prepare_site,
    ratio,
    sqlite_url,
    start_process,
    stop_process,
    write_result,
)
from bench.web_scenarios import cache_busting, slow_sockets

NAME = "web"
SLOW_SOCKETS, SLOW_SOCKETS_QUICK = 5000, 1000
# Longer than opening the slow sockets and measuring with them open (about 10 s; 5 s with
# --quick), so that the measurements run while every one of them is still held.
SLOW_HEADER_TIMEOUT, SLOW_HEADER_TIMEOUT_QUICK = 20.0, 10.0
BARE_TARGET = 0.85  # of the bare app on the same server
NGINX_TARGET = 0.40  # of nginx serving the bytes as static files
NGINX_CONF = """
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx_error.log warn;
daemon off;
user root;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    types {{ text/html html; application/json json; }}
    gzip_static on;
    client_body_temp_path {tmp}/nginx_body;
    proxy_temp_path {tmp}/nginx_proxy;
    fastcgi_temp_path {tmp}/nginx_fastcgi;
    uwsgi_temp_path {tmp}/nginx_uwsgi;
    scgi_temp_path {tmp}/nginx_scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        index index.html;
    }}
}}
"""

# wrk prints one JSON line at the end: requests/s, p50/p99 (µs), errors, non-2xx/3xx statuses.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk(url: str, duration: str, headers: dict[str, str], script: Path, threads: int = 2, connections: int = 64) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "-s", str(script)]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def start_nginx(tmp_path: Path, workers: int, manifest: dict[str, dict]) -> tuple[subprocess.Popen[bytes], str]:
    """nginx serving the manifest's bytes as static files (``<file>.gz`` beside each for gzip_static)."""
    www = tmp_path / "www"
    for path, spec in manifest.items():
        target = www / (path.lstrip("/") or "index.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(spec["body"]).read_bytes())
        if spec.get("gzip"):
            target.with_name(target.name + ".gz").write_bytes(Path(spec["gzip"]).read_bytes())
    port = free_port()
    conf = tmp_path / f"nginx_{workers}.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp_path, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    url = f"http://127.0.0.1:{port}"
    process = start_process([nginx, "-p", str(tmp_path), "-c", str(conf)], ready_url=url + "/",
                            log_path=tmp_path / "nginx.log")
    return process, url


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    rows: list[Row] = []
    notes: list[str] = []
    if not shutil.which("wrk"):
        write_result(args.json_path, NAME, [], ["skipped: wrk is not installed (apt-get install wrk)"])
        return 0
    have_nginx = bool(shutil.which("nginx") or Path("/usr/sbin/nginx").exists())
    if not have_nginx:
        notes.append("nginx is not installed (apt-get install nginx): no comparison with it.")
    duration = "2s" if args.quick else "5s"
    rounds = 1 if args.quick else 2
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        tmp_path = Path(tmp)
        env = prepare_site(tmp, sqlite_url(tmp))
        script = tmp_path / "report.lua"
        script.write_text(WRK_SCRIPT)
        manifest: dict[str, dict] = {}
        etags: dict[str, str] = {}
        sizes: dict[str, tuple[int, int | None]] = {}
        for workers in (1, 2):
            processes: list[subprocess.Popen[bytes]] = []
            try:
                app_port, base_port = free_port(), free_port()
                app_url, base_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}"
                processes.append(start_process(
                    [str(BIN / "statuspage"), "serve", "--workers", str(workers), "--port", str(app_port)],
                    env=env, ready_url=app_url + "/healthz", log_path=tmp_path / f"app_{workers}.log",
                ))
                if not manifest:
                    # Fetch what the status page serves and hand the others exactly those bytes.
                    for path in ("/", "/api/v2/summary.json"):
                        status, headers, body = http_get(app_url + path)
                        assert status == 200, (path, status)
                        gstatus, gheaders, gbody = http_get(app_url + path, {"Accept-Encoding": "gzip"})
                        gzipped = gbody if gheaders.get("content-encoding") == "gzip" else None
                        slug = path.strip("/").replace("/", "_").replace(".", "_") or "index"
                        (tmp_path / f"{slug}.body").write_bytes(body)
                        spec = {"body": str(tmp_path / f"{slug}.body"), "media_type": headers["content-type"],
                                "etag": headers["etag"]}
                        if gzipped is not None:
                            (tmp_path / f"{slug}.gz").write_bytes(gzipped)
                            spec["gzip"] = str(tmp_path / f"{slug}.gz")
                        manifest[path] = spec
                        etags[path] = headers["etag"]
                        sizes[path] = (len(body), len(gzipped) if gzipped is not None else None)
                    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
                processes.append(start_process(
                    [str(BIN / "python"), "-m", "bench.baseline_app", "--port", str(base_port), "--workers", str(workers)],
                    env={**env, "BENCH_BASELINE_MANIFEST": str(tmp_path / "manifest.json")},
                    ready_url=base_url + "/", log_path=tmp_path / f"baseline_{workers}.log",
                ))
                servers = {"status page": app_url, "bare": base_url}
                if have_nginx:
                    nginx, servers["nginx"] = start_nginx(tmp_path, workers, manifest)
                    processes.append(nginx)
                for who, url in servers.items():
                    for path in manifest:
                        status, _, body = http_get(url + path)
                        assert status == 200 and len(body) == sizes[path][0], (who, path, status, len(body))
                assert http_get(app_url + "/", {"If-None-Match": etags["/"]})[0] == 304
                assert http_get(base_url + "/", {"If-None-Match": etags["/"]})[0] == 304

                variants: list[tuple[str, str, dict[str, str], bool]] = [
                    ("GET /", "/", {}, True),
                    ("GET /api/v2/summary.json", "/api/v2/summary.json", {}, True),
                ]
                if sizes["/"][1] is not None:
                    variants.append(("GET / (gzip)", "/", {"Accept-Encoding": "gzip"}, True))
                if sizes["/api/v2/summary.json"][1] is not None:
                    variants.append(("GET /api/v2/summary.json (gzip)", "/api/v2/summary.json",
                                     {"Accept-Encoding": "gzip"}, True))
                # nginx computes its own ETag: the 304 is compared with the bare app only.
                variants.append(("GET / If-None-Match → 304", "/", {"If-None-Match": etags["/"]}, False))

                for label, path, headers, with_nginx in variants:
                    label = f"{label}, {workers} worker{'s' if workers > 1 else ''}"
                    order = [who for who in servers if with_nginx or who != "nginx"]
                    for who in order:
                        wrk(servers[who] + path, "1s", headers, script)  # warm-up: fills the page cache
                    # A B C, C B A, ...: the best of the rounds for each (noise on a shared machine
                    # only ever slows a run down).
                    runs: dict[str, list[dict]] = {who: [] for who in order}
                    for i in range(rounds):
                        for who in order if i % 2 == 0 else order[::-1]:
                            runs[who].append(wrk(servers[who] + path, duration, headers, script))
                    best = {who: max(results, key=lambda res: res["rps"]) for who, results in runs.items()}
                    spread = {who: round(min(r["rps"] for r in results) / max(r["rps"] for r in results), 3)
                              for who, results in runs.items()}
                    for who, res in best.items():
                        if res["errors"]:
                            notes.append(f"{label}: {who} had {res['errors']} errors/non-2xx-3xx responses: {res}")
                    a = best["status page"]
                    for who, need in (("bare", BARE_TARGET), ("nginx", NGINX_TARGET)):
                        if who not in best:
                            continue
                        b = best[who]
                        r = ratio(a["rps"], b["rps"])
                        rows.append(Row(label, f"req/s vs {who}", round(a["rps"], 1), "req/s", round(b["rps"], 1),
                                        round(r, 3) if r else None, f"≥ {need:.0%}".replace("%", " %"),
                                        bool(r and r >= need and not a["errors"])))
                    p99_ratio = ratio(a["p99_us"], best["bare"]["p99_us"])
                    rows.append(Row(label, "p99 latency vs bare", round(a["p99_us"] / 1000, 2), "ms",
                                    round(best["bare"]["p99_us"] / 1000, 2),
                                    round(p99_ratio, 3) if p99_ratio else None, "informative", True))
                    notes.append(f"{label}: worst/best run per server (1.0 = steady): {spread}")
                if workers == 1:
                    rows += cache_busting(app_url, tmp_path, WRK_SCRIPT, wrk, "3s" if args.quick else "5s",
                                          rounds, notes)
            finally:
                for process in reversed(processes):
                    stop_process(process)
        rows += slow_sockets(env, tmp_path, script, wrk, SLOW_SOCKETS_QUICK if args.quick else SLOW_SOCKETS,
                             "3s" if args.quick else "5s",
                             SLOW_HEADER_TIMEOUT_QUICK if args.quick else SLOW_HEADER_TIMEOUT, notes)
        notes.append(
            f"Body sizes: / = {sizes['/'][0]} B (gzip {sizes['/'][1]} B), /api/v2/summary.json = "
            f"{sizes['/api/v2/summary.json'][0]} B (gzip {sizes['/api/v2/summary.json'][1]} B); the bare app and "
            "nginx serve the same bytes."
        )
        notes.append(
            "304 path: compared with the bare app answering the same If-None-Match with a bodiless 304 "
            "(both do a header comparison and send headers only)."
        )
        notes.append(
            f"wrk -t2 -c64 -d{duration} per run, best of {rounds} alternating run(s) per server, after a 1 s "
            "warm-up of each; wrk and the servers share the 2 cores. Status page and bare app: granian "
            "through statuspage.server.run, access log off (the shipped default)."
        )
    write_result(args.json_path, NAME, rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
