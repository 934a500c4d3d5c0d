"""A quiet SMTP server for the benchmarks: accepts every message with ``250``, keeps nothing but
who it was for and when, and says how many it took.

``python -m bench.smtp_sink --port N --status FILE`` serves on ``127.0.0.1:N`` (aiosmtpd on
asyncio) until SIGTERM. Every 0.2 s it rewrites ``FILE`` with ``{"messages", "first", "last"}``
(wall-clock seconds of the first and last accepted message); on SIGTERM it writes the final
account: also, in order of arrival, every recipient, each message's arrival time, its
``Message-ID`` and whether its ``To`` header names the recipient of the envelope, and the CPU
seconds the sink used itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

STATUS_EVERY = 0.2
HEADER = re.compile(rb"^(To|Message-ID):[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


class Sink:
    def __init__(self) -> None:
        self.recipients: list[str] = []
        self.times: list[float] = []
        self.message_ids: list[str] = []
        self.to_matches: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.time()
        content = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        headers = {name.lower(): value.decode(errors="replace") for name, value in HEADER.findall(head)}
        for recipient in envelope.rcpt_tos:
            self.recipients.append(recipient)
            self.times.append(now)
            self.message_ids.append(headers.get(b"message-id", ""))
            self.to_matches.append(recipient.lower() in headers.get(b"to", "").lower())
        return f"250 2.0.0 Ok: queued as Q{len(self.times):06d}"

    def status(self, *, final: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "messages": len(self.times),
            "first": self.times[0] if self.times else None,
            "last": self.times[-1] if self.times else None,
            "pid": os.getpid(),
        }
        if final:
            data.update(
                recipients=self.recipients, times=self.times, message_ids=self.message_ids, to_matches=self.to_matches,
                cpu_seconds=time.process_time(), final=True,
            )
        return data


def _write(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    partial.replace(path)


async def serve(port: int, status_path: Path) -> None:
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="sink.bench", ident="bench sink", loop=loop), "127.0.0.1", port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _write(status_path, sink.status())
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), STATUS_EVERY)
        except TimeoutError:
            _write(status_path, sink.status())
    server.close()
    _write(status_path, sink.status(final=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--status", required=True, help="file rewritten with the count, and the full account on exit")
    args = parser.parse_args(argv)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.port, Path(args.status)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
