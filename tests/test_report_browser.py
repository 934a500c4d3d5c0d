"""The HTML SLA report in headless Chromium at a phone's width (390 px) and a desktop's (1280 px):
it fits the screen (a wide table scrolls inside its own labelled, focusable box, or stacks as
cards), its content sits in a ``main`` landmark, and axe-core finds nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from statuspage.reports import render
from statuspage.runtime import Runtime
from tests.test_browser import SCREENSHOTS, WIDTHS, axe_source, devtools
from tests.test_reports import _report, history  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_html_report_fits_a_phone_and_passes_axe(runtime: Runtime, history: dict[str, int], tmp_path: Path) -> None:  # noqa: F811
    if runtime.settings.database_url.startswith("postgresql"):
        pytest.skip("the report's HTML is the same on either database; one browser run is enough")
    page = tmp_path / "report.html"
    page.write_text(render.render_html(_report(runtime)), encoding="utf-8")
    axe = axe_source()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[Any]] = {}
    for width_name, width in WIDTHS.items():
        (tmp_path / width_name).mkdir()
        with devtools(tmp_path / width_name, width=width, height=900) as tab:
            tab.open(page.as_uri())
            where = f"report at {width} px"
            assert tab.text("main h1") == "Sendero: SLA report for October 2026", where
            assert tab.evaluate("document.querySelectorAll('body > :not(main)').length") == 0, where
            # Nothing reaches past the screen's edge, but inside a labelled scroll box (and the
            # column headings a stacked table hides visually at phone width).
            assert tab.evaluate(
                "[...document.querySelectorAll('main *')].filter(e => !e.closest('.table-scroll, table.stack thead')"
                " && e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + e.className)"
            ) == [], where
            assert tab.evaluate(
                "[...document.querySelectorAll('.table-scroll')].every(e => e.tabIndex === 0 && e.getAttribute('role') === 'region'"
                " && !!e.getAttribute('aria-label'))"
            ), where
            found[where] = tab.check(axe, SCREENSHOTS / f"report-{width_name}.png")
            assert tab.problems == [], tab.problems
    if axe is None:
        pytest.skip("axe-core is not installed (npm install -g axe-core, or set AXE_CORE_JS); the rest passed")
    assert {where: v for where, v in found.items() if v} == {}, json.dumps(found, indent=1)
