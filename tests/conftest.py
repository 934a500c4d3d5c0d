"""Shared fixtures: a migrated database per test on every backend, a runtime, a service context.

Every test that takes ``db_url`` runs on SQLite and, when ``TEST_DATABASE_URL`` is set, on
PostgreSQL too. Each test gets a fresh database cloned from one migrated template, so tests are
isolated and the migrations themselves are what built the schema.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from incident_cli.main import main as incident_main
from statuspage.clock import FixedClock
from statuspage.context import Actor, WriteContext
from statuspage.db import migrate
from statuspage.db.engine import make_engine, new_session, normalise_url
from statuspage.domain.enums import Source
from statuspage.runtime import Runtime, ensure_ready
from statuspage.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = ROOT / "statuspage.yaml"
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


_counter = itertools.count()


@pytest.fixture(scope="session")
def _pg_admin() -> Iterator[tuple[object, str] | None]:
    if not PG_URL:
        yield None
        return
    url = make_url(normalise_url(PG_URL))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    template = f"sp_template_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    engine = make_engine(url.set(database=template).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    engine.dispose()
    yield admin, template
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "var" / "statuspage.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    admin, template = request.getfixturevalue("_pg_admin")
    name = f"sp_test_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(normalise_url(PG_URL or "")).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A copy of the shipped demo configuration in a scratch directory."""
    target = tmp_path / "statuspage.yaml"
    shutil.copy(SHIPPED_CONFIG, target)
    return target


@pytest.fixture
def settings(config_file: Path, db_url: str) -> Settings:
    return load_settings(config_file, env={"DATABASE_URL": db_url})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    engine = make_engine(settings.database_url)
    rt = Runtime(settings=settings, engine=engine, clock=clock)
    ensure_ready(rt)
    yield rt
    engine.dispose()


@pytest.fixture
def make_ctx(runtime: Runtime) -> Iterator[Callable[..., WriteContext]]:
    """``make_ctx("alice")`` gives a service context on its own session, acting as alice."""
    sessions = []

    def factory(actor: str = "alice", source: Source = Source.CLI) -> WriteContext:
        session = new_session(runtime.engine)
        sessions.append(session)
        return runtime.context(session, Actor(actor, source))

    yield factory
    for session in sessions:
        session.close()


@pytest.fixture
def ctx(make_ctx: Callable[..., WriteContext]) -> WriteContext:
    return make_ctx()


@pytest.fixture
def cli_env(config_file: Path, db_url: str) -> dict[str, str]:
    """Environment for running the command lines against the test database."""
    return {
        "STATUSPAGE_CONFIG": str(config_file),
        "DATABASE_URL": db_url,
        "INCIDENT_USER": "alice",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }


@pytest.fixture
def run(cli_env: dict[str, str]) -> Callable[..., Result]:
    """``run("declare", "-s", "1", ...)``: the ``incident`` command line, in process, on the test
    database; exceptions are not caught, so a traceback fails the test."""
    runner = CliRunner(env=cli_env)

    def invoke(*args: str) -> Result:
        return runner.invoke(incident_main, list(args), prog_name="incident", catch_exceptions=False)

    return invoke


@pytest.fixture
def make_token(make_ctx: Callable[..., WriteContext]) -> Callable[..., str]:
    """Makes an admin API token and returns its secret."""
    from statuspage.tokens import service as tokens

    def factory(name: str = "ci", scope: str = "write") -> str:
        _, secret = tokens.create_token(ctx=make_ctx("root"), name=name, scope=scope)
        return secret

    return factory
