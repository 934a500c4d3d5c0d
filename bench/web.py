"""Throughput and tail latency of the public pages against a bare Starlette baseline.

Both servers are real uvicorn processes on loopback with the same stack and options
(uvloop + httptools from ``uvicorn[standard]``, one worker, ``proxy_headers``, no server header,
log level ``info``): the status page through ``statuspage serve --workers 1`` on a seeded
SQLite database, the baseline through ``uvicorn bench.baseline_app:create_app --factory``
serving the very bytes the status page returned for that path. Load comes from
``wrk -t2 -c64 -d10s`` (``-d3s`` with ``--quick``), after a short warm-up. The two servers are
measured alternately, variant by variant, so drift on this noisy machine hits both alike.
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

NAME = "web"
UVICORN_OPTIONS = ["--proxy-headers", "--no-server-header", "--log-level", "info", "--workers", "1"]

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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    rows: list[Row] = []
    notes: list[str] = []
    if not shutil.which("wrk"):
        write_result(args.json_path, NAME, [], ["skipped: wrk is not installed (apt-get install wrk)"])
        return 0
    duration = "3s" if args.quick else "10s"
    rounds = 1 if args.quick else 2
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp:
        tmp_path = Path(tmp)
        env = prepare_site(tmp, sqlite_url(tmp))
        app_port, base_port = free_port(), free_port()
        app_url, base_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}"
        script = tmp_path / "report.lua"
        script.write_text(WRK_SCRIPT)
        app = start_process(
            [str(BIN / "statuspage"), "serve", "--workers", "1", "--port", str(app_port), "--log-level", "info"],
            env=env, ready_url=app_url + "/healthz", log_path=tmp_path / "app.log",
        )
        baseline = None
        try:
            # Fetch what the status page serves and hand the baseline exactly those bytes.
            manifest: dict[str, dict] = {}
            etags: dict[str, str] = {}
            sizes: dict[str, tuple[int, int | None]] = {}
            for path in ("/", "/api/v2/summary.json"):
                status, headers, body = http_get(app_url + path)
                assert status == 200, (path, status)
                gstatus, gheaders, gbody = http_get(app_url + path, {"Accept-Encoding": "gzip"})
                gzipped = gbody if gheaders.get("content-encoding") == "gzip" else None
                slug = path.strip("/").replace("/", "_").replace(".", "_") or "index"
                (tmp_path / f"{slug}.body").write_bytes(body)
                spec = {"body": str(tmp_path / f"{slug}.body"), "media_type": headers["content-type"], "etag": headers["etag"]}
                if gzipped is not None:
                    (tmp_path / f"{slug}.gz").write_bytes(gzipped)
                    spec["gzip"] = str(tmp_path / f"{slug}.gz")
                manifest[path] = spec
                etags[path] = headers["etag"]
                sizes[path] = (len(body), len(gzipped) if gzipped is not None else None)
            (tmp_path / "manifest.json").write_text(json.dumps(manifest))
            baseline = start_process(
                [str(BIN / "python"), "-m", "uvicorn", "bench.baseline_app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(base_port), *UVICORN_OPTIONS],
                env={**env, "BENCH_BASELINE_MANIFEST": str(tmp_path / "manifest.json")},
                ready_url=base_url + "/", log_path=tmp_path / "baseline.log",
            )
            for path in manifest:
                b_status, b_headers, b_body = http_get(base_url + path)
                assert b_status == 200 and len(b_body) == sizes[path][0], (path, b_status, len(b_body))
            assert http_get(app_url + "/", {"If-None-Match": etags["/"]})[0] == 304
            assert http_get(base_url + "/", {"If-None-Match": etags["/"]})[0] == 304

            variants = [
                ("GET /", "/", {}, "≥ 60 %", 0.60),
                ("GET /api/v2/summary.json", "/api/v2/summary.json", {}, "≥ 60 %", 0.60),
            ]
            if sizes["/"][1] is not None:
                variants.append(("GET / (Accept-Encoding: gzip)", "/", {"Accept-Encoding": "gzip"}, "≥ 60 %", 0.60))
            if sizes["/api/v2/summary.json"][1] is not None:
                variants.append(("GET /api/v2/summary.json (gzip)", "/api/v2/summary.json", {"Accept-Encoding": "gzip"}, "≥ 60 %", 0.60))
            variants.append(("GET / If-None-Match → 304", "/", {"If-None-Match": etags["/"]}, "≥ 80 %", 0.80))

            for label, path, headers, target, need in variants:
                wrk(app_url + path, "2s", headers, script)  # warm-up: fills the page cache
                wrk(base_url + path, "2s", headers, script)
                # A B B A ...: the best of the rounds for each server (noise on a shared machine only
                # ever slows a run down).
                app_runs, base_runs = [], []
                for i in range(rounds):
                    order = [(app_runs, app_url), (base_runs, base_url)]
                    for runs, url in order if i % 2 == 0 else order[::-1]:
                        runs.append(wrk(url + path, duration, headers, script))
                a = max(app_runs, key=lambda res: res["rps"])
                b = max(base_runs, key=lambda res: res["rps"])
                for who, res in (("status page", a), ("baseline", b)):
                    if res["errors"]:
                        notes.append(f"{label}: {who} had {res['errors']} errors/non-2xx-3xx responses: {res}")
                r = ratio(a["rps"], b["rps"])
                rows.append(Row(label, "req/s vs baseline", round(a["rps"], 1), "req/s", round(b["rps"], 1),
                                round(r, 3) if r else None, target, bool(r and r >= need and not a["errors"])))
                p99_ratio = ratio(a["p99_us"], b["p99_us"])
                rows.append(Row(label, "p99 latency", round(a["p99_us"] / 1000, 2), "ms", round(b["p99_us"] / 1000, 2),
                                round(p99_ratio, 3) if p99_ratio else None, "informative", True))
            notes.append(
                f"Body sizes: / = {sizes['/'][0]} B (gzip {sizes['/'][1]} B), /api/v2/summary.json = "
                f"{sizes['/api/v2/summary.json'][0]} B (gzip {sizes['/api/v2/summary.json'][1]} B); the baseline "
                "serves the same bytes."
            )
            notes.append(
                "304 path: compared with the baseline answering the same If-None-Match with a bodiless 304 "
                "(like for like: both do a header comparison and send headers only). Comparing with the "
                "baseline's 200 would credit the status page for bytes it does not send."
            )
            notes.append(
                f"wrk -t2 -c64 -d{duration} per run, best of {rounds} alternating run(s) per server, after a 2 s "
                "warm-up of each; wrk and the server share "
                "the 2 cores. Both servers log access lines at level info (output discarded), as `statuspage serve` does by default."
            )
        finally:
            if baseline is not None:
                stop_process(baseline)
            stop_process(app)
    write_result(args.json_path, NAME, rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
