"""Components follow the configuration file: added, renamed and removed ones are picked up."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from statuspage.clock import FixedClock
from statuspage.db.engine import make_engine, new_session
from statuspage.db.models import AuditEvent, Component
from statuspage.read.v2 import V2Builder
from statuspage.runtime import Runtime, ensure_ready
from statuspage.settings import load_settings


def reload(config_file: Path, db_url: str, clock: FixedClock) -> Runtime:
    settings = load_settings(config_file, env={"DATABASE_URL": db_url})
    runtime = Runtime(settings=settings, engine=make_engine(db_url), clock=clock)
    ensure_ready(runtime)
    return runtime


def shown_ids(runtime: Runtime) -> list[str]:
    with new_session(runtime.engine) as session:
        return [c["id"] for c in V2Builder(session, runtime.settings.config, now=runtime.clock.now()).components_json() if not c["group"]]


def test_config_changes_reach_the_page(config_file: Path, db_url: str, clock: FixedClock) -> None:
    first = reload(config_file, db_url, clock)
    assert "help-center" in shown_ids(first)
    first.engine.dispose()

    text = config_file.read_text()
    text = text.replace("    name: Sign-in\n", "    name: Sign-in and SSO\n")
    text = text.replace("  - id: help-center\n    name: Help center\n    description: Knowledge base and guides.\n",
                        "  - id: status-api\n    name: Status API\n")
    config_file.write_text(text)
    second = reload(config_file, db_url, clock)
    ids = shown_ids(second)
    assert "help-center" not in ids and ids[-1] == "status-api"
    with new_session(second.engine) as session:
        assert session.get(Component, "auth").name == "Sign-in and SSO"  # type: ignore[union-attr]
        assert session.get(Component, "help-center").archived  # type: ignore[union-attr]  # kept for history
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.actor == "config")).all()
    assert {"component.update", "component.archive", "component.create"} <= set(actions)
    second.engine.dispose()


def test_unchanged_config_writes_nothing(config_file: Path, db_url: str, clock: FixedClock) -> None:
    first = reload(config_file, db_url, clock)
    with new_session(first.engine) as session:
        before = len(session.exec(select(AuditEvent)).all())
    first.engine.dispose()
    second = reload(config_file, db_url, clock)
    with new_session(second.engine) as session:
        assert len(session.exec(select(AuditEvent)).all()) == before
    second.engine.dispose()
