"""Alembic environment: plain SQL migrations run over psycopg, one migrator at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

# Any other process migrating the same database waits on this lock instead of racing.
MIGRATION_LOCK_ID = 7_344_211


def sqlalchemy_url(database_url: str) -> str:
    """Use the psycopg 3 driver whatever scheme DATABASE_URL was written with."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


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
