"""Database adapter: engine and sessions, column types, migrations."""
