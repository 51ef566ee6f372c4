"""Alembic environment: plain SQL migrations run over psycopg, one migrator at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from core.db import sqlalchemy_url

# Any other process migrating the same database waits on this lock instead of racing.
MIGRATION_LOCK_ID = 7_344_211


def run_migrations_online() -> None:
    url = sqlalchemy_url(context.config.attributes["database_url"])
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(connection=connection, transaction_per_migration=True)
            context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()


run_migrations_online()
