"""The schema is built only by Alembic migrations, and they must match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import statuspage.db.models  # noqa: F401
from statuspage.db import migrate
from statuspage.db.engine import make_engine


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, SQLModel.metadata)
        assert diff == [], f"models and migrations differ; generate a migration: {diff}"
    finally:
        engine.dispose()


def test_database_is_at_head_after_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert migrate.is_up_to_date(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"incident", "incident_update", "component", "component_status_change", "audit_event", "maintenance"} <= tables
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
    finally:
        engine.dispose()


def test_the_head_read_from_the_files_is_alembics_head(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert migrate.current_revision(engine) is None
        expected = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head()
        assert migrate.head_revision() == expected
        assert not migrate.is_up_to_date(engine)
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
    finally:
        engine.dispose()
