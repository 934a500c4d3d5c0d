"""The status on another site, and a status page that keeps itself current, in a real browser.

A customer's page on another origin (another port), with a strict CSP of its own, includes
``/embed.js`` and frames ``/embed``: the notice appears while an incident is open and not before,
the frame is not refused, and nothing is blocked or thrown. The status page opened before an
incident is declared shows it without a reload.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from statuspage.clock import Clock, SystemClock
from statuspage.context import WriteContext
from statuspage.incidents import service as incidents
from statuspage.settings import Settings
from tests.test_browser import Tab, devtools
from tests.test_cli_remote import serving

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TITLE = 'Checkout <b>failing</b> & "slow"'
NOTICE = "document.querySelector('#statuspage-embed')?.shadowRoot?.textContent ?? null"


@pytest.fixture
def clock() -> Clock:
    """Incidents declared in the test at the server's own time."""
    return SystemClock()


def host_page(status: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer site</title>
<script src="{status}/embed.js" async></script></head>
<body><h1>Customer site</h1>
<iframe title="Service status" src="{status}/embed" width="420" height="90"></iframe>
</body></html>""".encode()


@contextmanager
def customer_site(status: str) -> Iterator[str]:
    """Another origin serving a page with a strict CSP: scripts, fetches and frames from the status
    page only, no inline style at all."""
    body = host_page(status)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-security-policy", f"default-src 'none'; script-src {status}; connect-src {status}; frame-src {status}")
            self.send_header("cache-control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def wait_until(tab: Tab, expression: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = tab.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.1)


def frame_text(tab: Tab) -> str:
    """The text of the host page's iframe (same site, another origin: read in an isolated world)."""
    (child,) = tab.send("Page.getFrameTree")["frameTree"]["childFrames"]
    world = tab.send("Page.createIsolatedWorld", frameId=child["frame"]["id"], worldName="test")
    done = tab.send("Runtime.evaluate", expression="document.body.innerText", contextId=world["executionContextId"], returnByValue=True)
    return str(done["result"].get("value", ""))


def declare(make_ctx: Callable[..., WriteContext], status: str) -> int:
    incident = incidents.declare(ctx=make_ctx(), severity=1, title=TITLE, components=["api"], message="Card payments fail.")
    deadline = time.monotonic() + 10  # the server sees the write within its version check
    while not httpx.get(status + "/api/v2/summary.json").json()["incidents"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert incident.id is not None
    return incident.id


def test_status_on_another_site_and_on_its_own_page(settings: Settings, make_ctx: Callable[..., WriteContext], tmp_path: Path) -> None:
    if settings.database_url.startswith("postgresql"):
        pytest.skip("the scripts are the same on either database; one browser run is enough")
    with serving(settings) as status, customer_site(status) as site, devtools(tmp_path, width=1280, height=800) as tab:
        tab.send("Network.enable")
        tab.send("Network.setCacheDisabled", cacheDisabled=True)  # the frame is read again each time
        # All is well: the customer's page shows no notice, and the frame is not refused.
        tab.open(site)
        assert wait_until(tab, "document.querySelector('script[data-status]')?.dataset.status") == "none"
        assert tab.evaluate(NOTICE) is None
        assert "All Systems Operational" in frame_text(tab)

        # The status page, opened before the incident, shows it without a reload.
        tab.open(status + "/?poll=1")
        assert tab.text(".banner h1") == "All Systems Operational"
        # The first answer of the JSON twin is what the page shows; a change is looked for after it.
        wait_until(tab, "performance.getEntriesByName(location.origin + '/index.json').length > 0")
        tab.evaluate("window.stayed = document.querySelector('.banner')")
        incident_id = declare(make_ctx, status)
        wait_until(tab, "document.querySelector('#open-incidents h3')?.textContent.trim()")
        assert tab.text("#open-incidents h3") == TITLE
        assert tab.text(".banner h1") == "Major System Outage"
        # No reload, and the banner (an aria-live region) is the same element, changed in place.
        assert tab.evaluate("window.stayed === document.querySelector('.banner')") is True
        assert tab.evaluate("document.querySelector('.banner').classList.contains('indicator-critical')") is True

        # The customer's page now names the incident and links to it; so does the frame.
        tab.open(site)
        notice = wait_until(tab, NOTICE)
        assert TITLE in notice and "Investigating" in notice and "Major System Outage" in notice
        link = tab.evaluate("document.querySelector('#statuspage-embed').shadowRoot.querySelector('a').href")
        assert link == f"{status}/incidents/{incident_id}"
        assert tab.evaluate("document.querySelector('#statuspage-embed').getBoundingClientRect().bottom") <= 800
        assert TITLE in frame_text(tab)

        # Dismissed, it stays dismissed in this tab while nothing else changes.
        tab.evaluate("document.querySelector('#statuspage-embed').shadowRoot.querySelector('button').click()")
        assert tab.evaluate(NOTICE) is None
        tab.open(site)
        assert wait_until(tab, "document.querySelector('script[data-status]')?.dataset.status") == "critical"
        assert tab.evaluate(NOTICE) is None
        assert tab.problems == [], json.dumps(tab.problems, indent=1)
