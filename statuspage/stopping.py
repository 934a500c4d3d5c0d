"""How the long-running commands (``incident watch``, ``statuspage deliver``) stop: SIGTERM or
SIGINT sets an event; the loop finishes the timer or message in hand, gives back the rest of its
batch and returns, so the command exits 0 and nothing is left claimed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM or SIGINT sets while the block runs; the previous handlers come back after."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, request_stop)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
