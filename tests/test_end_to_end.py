"""Real processes, really started: the installed commands, uvicorn on a port, headless Chromium.

This is the tour from the README: serve the page, declare from a second terminal, see it at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from bs4 import BeautifulSoup

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, tool: str = "incident") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / tool), *args], env=self.env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def server(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    env = {**os.environ, **cli_env}
    port = free_port()
    for step in (["db", "upgrade"], ["db", "seed-demo"]):
        done = subprocess.run([str(BIN / "statuspage"), *step], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "statuspage"), "serve", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start: " + (tmp_path / "server.log").read_text())
        yield Server(url=url, env=env)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def test_declare_from_a_second_terminal_appears_at_once(server: Server) -> None:
    before = httpx.get(f"{server.url}/api/v2/summary.json").json()
    assert before["status"]["indicator"] == "none"
    assert len(before["scheduled_maintenances"]) == 1  # the demo data is there

    declared = server.cli("declare", "--severity", "1", "--title", "Checkout failing", "--component", "api")
    assert declared.returncode == 0, declared.stderr
    incident_url = declared.stdout.strip().splitlines()[-1]
    assert incident_url.startswith("http://127.0.0.1:8000/incidents/")
    incident_id = incident_url.rsplit("/", 1)[1]

    after = httpx.get(f"{server.url}/api/v2/summary.json").json()
    assert after["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert next(c for c in after["components"] if c["id"] == "api")["status"] == "major_outage"
    assert [i["name"] for i in after["incidents"]] == ["Checkout failing"]

    page = BeautifulSoup(httpx.get(f"{server.url}/").text, "html.parser")
    assert page.select_one(".banner h1").get_text(strip=True) == "Major System Outage"
    assert page.select_one("#open-incidents h3").get_text(strip=True) == "Checkout failing"
    assert httpx.get(f"{server.url}/incidents/{incident_id}").status_code == 200

    resolved = server.cli("resolve", incident_id, "-m", "Fixed.")
    assert resolved.returncode == 0, resolved.stderr
    assert httpx.get(f"{server.url}/api/v2/status.json").json()["status"]["indicator"] == "none"


def test_installed_cli_errors_are_one_line_without_traceback(server: Server) -> None:
    result = server.cli("declare", "--severity", "1", "--title", "x", "--component", "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "incident: unknown component 'nope' (known: api, web, checkout, auth, notifications, "
        "phone-support, chat-support, email-support, help-center)"
    )
    missing = server.cli("show", "12345")
    assert (missing.returncode, missing.stderr.strip()) == (2, "incident: no incident 12345")


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=90,
    )


@pytest.mark.browser
def test_page_renders_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    title = '<img src=x onerror=alert(1)> "Checkout" failing'
    assert server.cli("declare", "-s", "1", "-t", title, "-c", "api").returncode == 0
    dumped = chromium("--dump-dom", f"{server.url}/", tmp_path=tmp_path)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = BeautifulSoup(dumped.stdout, "html.parser")
    assert dom.select_one(".banner h1").get_text(strip=True) == "Major System Outage"
    assert dom.select_one("#open-incidents h3").get_text(strip=True) == title
    assert dom.find("img") is None  # the title stayed text in a real browser
    assert "Content Security Policy" not in dumped.stderr  # nothing on the page needs inline code
    shot = tmp_path / "page.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1000,1400", f"{server.url}/", tmp_path=tmp_path)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000
