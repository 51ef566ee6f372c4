"""Database URL forms: psycopg takes `postgresql://`, SQLAlchemy users need the driver named."""

from __future__ import annotations


def sqlalchemy_url(database_url: str) -> str:
    """Use the psycopg 3 driver whatever scheme DATABASE_URL was written with."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")
