"""A TCP proxy between the product and its database, for cutting the database off in tests.

The shared PostgreSQL server must never be restarted by a test, so a "restart" is staged here:
the app and the worker connect to the proxy, which forwards bytes to the real server, and a test
can

- :meth:`TcpProxy.cut`: close every live connection at once (both directions, with a reset), as a
  server restart or a failover does to the connections in the middle of their transactions;
- :meth:`TcpProxy.refuse`: answer every new connection by closing it at once, as a server that is
  down (or starting) does; :meth:`TcpProxy.accept` goes back to forwarding;
- :meth:`TcpProxy.pause`: hold new connections without forwarding anything (a partition), until
  :meth:`TcpProxy.accept`.

Threads, not asyncio, so it runs beside anything in the test process (a TestClient has its own
event loop): one thread accepts, two per connection pump bytes. ``restart()`` is ``cut`` plus
``refuse`` for a while. Usable as a context manager; ``port`` is where to connect.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Literal

Mode = Literal["forward", "refuse", "pause"]


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.1)
        self.host, self.port = self._listener.getsockname()[:2]
        self._mode: Mode = "forward"
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self.accepted = 0  # connections accepted and forwarded, for tests that want to see reconnects
        self.refused = 0
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    # Controls ---------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    def accept(self) -> None:
        """Forward connections again (held ones are forwarded now)."""
        with self._lock:
            self._mode = "forward"
            held, self._held = self._held, []
        for client in held:
            self._forward(client)

    def refuse(self) -> None:
        """New connections are closed at once: the server is down."""
        with self._lock:
            self._mode = "refuse"
            held, self._held = self._held, []
        for client in held:
            _reset(client)

    def pause(self) -> None:
        """New connections are accepted and held without an answer."""
        with self._lock:
            self._mode = "pause"

    def cut(self) -> int:
        """Reset every live connection; returns how many were cut."""
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _reset(sock)
        return len(live) // 2

    def restart(self, down_for: float = 1.0) -> None:
        """What a database restart looks like from outside: live connections die, new ones are
        refused for ``down_for`` seconds, then everything works again."""
        self.refuse()
        self.cut()
        time.sleep(down_for)
        self.accept()

    def live_connections(self) -> int:
        with self._lock:
            return len(self._live) // 2

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._listener.close()
        self.cut()
        with self._lock:
            held, self._held = self._held, []
        for client in held:
            _reset(client)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        from sqlalchemy.engine import make_url

        return make_url(database_url).set(host=self.host, port=self.port).render_as_string(hide_password=False)

    # Serving ----------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self._mode
                if mode == "pause":
                    self._held.append(client)
                    continue
            if mode == "refuse":
                self.refused += 1
                _reset(client)
                continue
            self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        client.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._live.update((client, upstream))
            self.accepted += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._live.discard(source)
                self._live.discard(sink)
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    sock.close()
                except OSError:
                    pass


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer sees the connection die, not end politely."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
