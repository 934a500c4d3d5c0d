"""The public pages in a real browser, at a desktop width and a phone width.

Screenshots land in ``var/screenshots/`` (or ``$SCREENSHOT_DIR``) for a person to look at; the
test checks what a machine can: the page loads, nothing is logged to the console (a blocked
style, a missing file, a CSP violation), and nothing is wider than the screen.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.test_end_to_end import Server, chromium, server  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
WIDTHS = {"desktop": 1280, "phone": 390}


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
        assert dom.find("script") is None, path

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
