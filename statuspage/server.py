"""Run the web app on an HTTP server, with limits that junk connections cannot get around.

Two servers are supported:

- ``granian`` (the default): a Rust HTTP server, about twice uvicorn's throughput for the same
  app. Every limit below is enforced natively: headers larger than ``MAX_HEADER_BYTES`` are
  refused with ``431``; a connection that has not sent a complete request head within the header
  timeout is closed, whether it sent nothing, a partial request line, or sits idle between
  keep-alive requests; and each worker holds at most ``max_connections`` connections (more wait
  in the kernel's listen backlog, costing the process no file descriptor).
- ``uvicorn`` (uvloop + httptools): the fallback. It closes idle keep-alive connections after the
  timeout and answers ``503`` beyond ``max_connections`` concurrent connections, but httptools
  has no limit on header size and a connection that never sends anything is not timed out.

Workers are separate processes started with ``spawn``: each builds the app from
the app factory it is given (the command line's: the status page, behind proxy-header handling on granian) and finds the configuration through ``$STATUSPAGE_CONFIG``.
"""

from __future__ import annotations

import multiprocessing
import resource
from dataclasses import dataclass

SERVERS = ("granian", "uvicorn")
MAX_HEADER_BYTES = 16 * 1024
DEFAULT_HEADER_TIMEOUT = 15.0
MAX_HEADER_TIMEOUT = 60.0  # granian's ceiling
# File descriptors kept free for what a worker opens besides client sockets: database
# connections, templates, static files, log files.
RESERVED_FILES = 256


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    server: str = "granian"
    log_level: str = "info"
    access_log: bool = False
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int | None = None  # per worker; None: as many as the file limit allows
    # Another ASGI app factory ("module:function") to serve with the same server and settings.
    # The app to serve, as ``module:factory`` (the command line names the status page's).
    app_factory: str = ""


def raise_file_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit (workers inherit it);
    return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return int(soft)


def connection_cap(requested: int | None, file_limit: int) -> int:
    """Connections one worker may hold: below its file limit, leaving ``RESERVED_FILES`` free."""
    ceiling = max(16, file_limit - RESERVED_FILES)
    return ceiling if requested is None else max(1, min(requested, ceiling))


def run(options: ServeOptions) -> None:
    cap = connection_cap(options.max_connections, raise_file_limit())
    # A fresh interpreter per worker: nothing of the parent (threads, open connections) is inherited.
    multiprocessing.set_start_method("spawn", force=True)
    if options.server == "uvicorn":
        _run_uvicorn(options, cap)
    else:
        _run_granian(options, cap)


def _run_granian(options: ServeOptions, cap: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    Server(
        options.app_factory,
        factory=True,
        address=options.host,
        port=options.port,
        interface=Interfaces.ASGI,
        workers=options.workers,
        loop=Loops.auto,  # uvloop when installed
        http=HTTPModes.http1,
        websockets=False,
        # Requests are counted per connection: this bounds the connections each worker holds.
        backpressure=cap,
        backlog=min(4096, max(1024, cap)),
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(options.header_timeout * 1000)),
            # hyper refuses a request head that does not fit in its buffer with 431.
            max_buffer_size=MAX_HEADER_BYTES,
        ),
        log_level=options.log_level,  # type: ignore[arg-type]
        log_access=options.access_log,
    ).serve()


def _run_uvicorn(options: ServeOptions, cap: int) -> None:
    import uvicorn

    uvicorn.run(
        options.app_factory,
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        loop="uvloop",
        http="httptools",
        log_level=options.log_level,
        access_log=options.access_log,
        proxy_headers=True,
        server_header=False,
        timeout_keep_alive=max(1, round(options.header_timeout)),
        limit_concurrency=cap,
        backlog=min(4096, max(2048, cap)),
    )
