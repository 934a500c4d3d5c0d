"""The public pages in a real browser, at a desktop width and a phone width.

Screenshots land in ``var/screenshots/`` (or ``$SCREENSHOT_DIR``) for a person to look at; the
test checks what a machine can: the page loads, nothing is logged to the console (a blocked
style, a missing file, a CSP violation), and nothing is wider than the screen.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from tests.test_end_to_end import CHROMIUM, CHROMIUM_FLAGS, Server, chromium, server  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
WIDTHS = {"desktop": 1280, "phone": 390}
# axe-core, the accessibility checker, from npm: $AXE_CORE_JS, else a local or global install.
AXE_PLACES = ["node_modules/axe-core/axe.min.js", "/usr/lib/node_modules/axe-core/axe.min.js", "/usr/local/lib/node_modules/axe-core/axe.min.js"]


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE(" in line or "Content Security Policy" in line]


def test_public_pages_render_cleanly(server: Server, tmp_path: Path) -> None:  # noqa: F811
    if server.env["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the pages are the same on either database; one browser run is enough")
    declared = server.cli("declare", "-s", "1", "-t", "Checkout failing", "-c", "checkout", "-m", "Card payments fail.")
    assert declared.returncode == 0, declared.stderr
    incident_id = declared.stdout.strip().splitlines()[-1].rsplit("/", 1)[1]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"index": "/", "incident": f"/incidents/{incident_id}", "pricing": "/pricing", "sla": "/sla", "history": "/history"}
    pages["ack"] = ack_link(server.env["DATABASE_URL"], int(incident_id))
    for (name, path), (width_name, width) in itertools.product(pages.items(), WIDTHS.items()):
        url = server.url + path
        dumped = chromium(f"--window-size={width},1200", "--dump-dom", url, tmp_path=tmp_path)
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        assert console_lines(dumped.stderr) == [], f"{path}: {console_lines(dumped.stderr)}"
        dom = BeautifulSoup(dumped.stdout, "html.parser")
        assert dom.select_one("main h1") is not None, path
        assert [s.get("src") for s in dom.find_all("script")] == ["/static/live.js"], path

        shot = SCREENSHOTS / f"{name}-{width_name}.png"
        taken = chromium(f"--screenshot={shot}", f"--window-size={width},2000", "--hide-scrollbars", url, tmp_path=tmp_path)
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert shot.stat().st_size > 10_000, f"{shot} looks empty"
        assert png_width(shot) == width


def ack_link(database_url: str, incident_id: int) -> str:
    """The one-click acknowledgement page of the incident's first email page (what its link opens)."""
    from sqlmodel import Session, col, select

    from statuspage.db.engine import make_engine
    from statuspage.db.models import PageSent
    from statuspage.incidents import ack_links

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            page = session.exec(
                select(PageSent)
                .where(PageSent.incident_id == incident_id, PageSent.contact_kind == "email")
                .order_by(col(PageSent.id))
            ).first()
            assert page is not None and page.id is not None
            key = ack_links.signing_key(session, None, create=True)
            assert key is not None
            return f"/ack/{ack_links.token_for(key, page.id)}"
    finally:
        engine.dispose()


def png_width(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20], "big")


def test_subscribing_on_a_phone(server: Server, tmp_path: Path) -> None:  # noqa: F811
    """Follow the Subscribe link, fill the form, confirm with the emailed link's button, at phone
    size, with a real mouse; axe-core finds nothing on the form or the confirmation page."""
    if server.env["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the pages are the same on either database; one browser run is enough")
    axe = axe_source()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[Any]] = {}
    with devtools(tmp_path, width=390, height=844) as tab:
        tab.open(server.url + "/")
        tab.click('nav a[href="/subscribe"]')
        assert tab.text("main h1") == "Subscribe to updates"
        found["subscribe"] = tab.check(axe, SCREENSHOTS / "subscribe-phone.png")
        tab.type("#email", "dana@customer.example")
        tab.click("#component-api", navigates=False)
        assert tab.evaluate("document.querySelector('#component-api').checked") is True
        tab.click(".subscribe-form button[type=submit]")
        assert tab.text("main h1") == "Check your email"
        assert "a message with a confirmation link is on its way" in tab.text("main")

        tab.open(server.url + confirm_link(server.env["DATABASE_URL"], "dana@customer.example"))
        assert tab.text("main h1") == "Confirm your subscription"
        found["confirm"] = tab.check(axe, SCREENSHOTS / "subscribe-confirm-phone.png")
        tab.click("main form button")
        assert tab.text("main h1") == "Subscribed"
        assert "API" in tab.text("main")
        assert tab.problems == [], tab.problems
    if axe is None:
        pytest.skip("axe-core is not installed (npm install -g axe-core, or set AXE_CORE_JS); the rest passed")
    assert found == {"subscribe": [], "confirm": []}, json.dumps(found, indent=1)


def axe_source() -> str | None:
    for place in [os.environ.get("AXE_CORE_JS", ""), *AXE_PLACES]:
        path = ROOT / place if place and not place.startswith("/") else Path(place)
        if place and path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def confirm_link(database_url: str, email: str) -> str:
    """The link the confirmation email carries, made from what the outbox holds for it."""
    from datetime import datetime

    from sqlmodel import Session, col, select

    from statuspage.db.engine import make_engine
    from statuspage.db.models import OutboxMessage
    from statuspage.db.subscriber_models import Subscriber
    from statuspage.incidents import ack_links
    from statuspage.subscribers import service, tokens

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            subscriber = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
            message = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.target == str(subscriber.id), OutboxMessage.event == service.CONFIRM_EVENT)
                .order_by(col(OutboxMessage.id).desc())
            ).first()
            assert message is not None and subscriber.id is not None
            key = ack_links.signing_key(session, None, create=True)
            assert key is not None
            expires = datetime.fromisoformat(message.payload["expires"])
            return tokens.CONFIRM_PATH + tokens.confirm_token(key, subscriber.id, message.payload["nonce"], expires)
    finally:
        engine.dispose()


class Tab:
    """A Chromium tab driven over the DevTools protocol: open a page, type, click with the
    mouse, read the page, run axe-core. Nothing but the browser itself is needed."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []  # CSP violations and script errors, from any page opened

    def _receive(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.socket.recv(timeout=timeout))
        method, params = message.get("method"), message.get("params", {})
        if method == "Log.entryAdded" and "Content Security Policy" in params["entry"].get("text", ""):
            self.problems.append(params["entry"]["text"])
        elif method == "Runtime.exceptionThrown":
            self.problems.append(json.dumps(params["exceptionDetails"])[:500])
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._receive(60)
            if message.get("id") == self.next_id:
                assert "error" not in message, (method, message["error"])
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event} within {timeout} s"
            self.events.append(self._receive(remaining))
        self.events.clear()

    def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        done = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait)
        assert "exceptionDetails" not in done, done["exceptionDetails"]
        return done["result"].get("value")

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def text(self, selector: str) -> str:
        found = self.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText")
        assert isinstance(found, str), selector
        return " ".join(found.split())

    def click(self, selector: str, *, navigates: bool = True) -> None:
        """A mouse click where a person would click: the middle of the element, scrolled into view."""
        x, y = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        self.events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        if navigates:
            self.wait_for("Page.loadEventFired")

    def type(self, selector: str, text: str) -> None:
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def check(self, axe: str | None, shot: Path) -> list[Any]:
        """The page fits the screen; a screenshot for a person; axe-core's violations, if it is here."""
        assert self.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than the screen"
        shot.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        if axe is None:
            return []
        self.evaluate(axe)
        found: list[Any] = self.evaluate(
            "axe.run(document).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))})))",
            wait=True,
        )
        return found


@contextmanager
def devtools(tmp_path: Path, *, width: int, height: int) -> Iterator[Tab]:
    """Headless Chromium with its DevTools port open, and its first tab at a phone's size."""
    from websockets.sync.client import connect

    if CHROMIUM is None:
        chromium("--version", tmp_path=tmp_path)  # fails under CI, skips elsewhere
    profile = tmp_path / "chromium-devtools"
    log = (tmp_path / "chromium.log").open("w")
    process = subprocess.Popen(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "chromium.log").read_text()[-2000:]
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            tab = Tab(socket)
            for domain in ("Page", "Runtime", "Log"):
                tab.send(f"{domain}.enable")
            tab.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=True)
            yield tab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_pages_fit_a_phone_and_a_desktop(server: Server, tmp_path: Path) -> None:  # noqa: F811
    """The front page, /sla, /pricing and an incident at 390 and 1280 pixels: nothing wider than
    the screen (no table scrolled sideways), the navigation on one line, and axe-core finds nothing."""
    if server.env["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the pages are the same on either database; one browser run is enough")
    declared = server.cli("declare", "-s", "1", "-t", "Checkout failing", "-c", "checkout", "-m", "Card payments fail.")
    assert declared.returncode == 0, declared.stderr
    incident_id = declared.stdout.strip().splitlines()[-1].rsplit("/", 1)[1]
    pages = {"index": "/", "sla": "/sla", "pricing": "/pricing", "incident": f"/incidents/{incident_id}"}
    axe = axe_source()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[Any]] = {}
    for width_name, width in WIDTHS.items():
        (tmp_path / width_name).mkdir()
        with devtools(tmp_path / width_name, width=width, height=900) as tab:
            for name, path in pages.items():
                tab.open(server.url + path)
                where = f"{path} at {width} px"
                lines = tab.evaluate(
                    "new Set([...document.querySelectorAll('.site-header nav li')]"
                    ".map(li => Math.round(li.getBoundingClientRect().top))).size"
                )
                assert lines == 1, f"{where}: the navigation takes {lines} lines"
                assert tab.evaluate(
                    "[...document.querySelectorAll('.site-header nav ul, .table-scroll')].every(e => e.scrollWidth <= e.clientWidth)"
                ), f"{where}: something scrolls sideways"
                found[where] = tab.check(axe, SCREENSHOTS / f"fit-{name}-{width_name}.png")
            assert tab.problems == [], tab.problems
    if axe is None:
        pytest.skip("axe-core is not installed (npm install -g axe-core, or set AXE_CORE_JS); the rest passed")
    assert {where: v for where, v in found.items() if v} == {}, json.dumps(found, indent=1)
