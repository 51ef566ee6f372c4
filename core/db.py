"""How this project connects to Postgres: URL forms and psycopg connection options.

psycopg takes `postgresql://`; SQLAlchemy users need the driver named.
"""

from __future__ import annotations

from typing import Any


def sqlalchemy_url(database_url: str) -> str:
    """Use the psycopg 3 driver whatever scheme DATABASE_URL was written with."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


def connect_options(*, prepared_statements: bool) -> dict[str, Any]:
    """psycopg connection keywords for both pools (psycopg's own and SQLAlchemy's).

    A transaction-mode pooler may run each transaction on another server connection,
    where a statement psycopg prepared earlier does not exist ("prepared statement
    \"_pg3_0\" does not exist"); `prepare_threshold=None` never prepares.
    """
    return {} if prepared_statements else {"prepare_threshold": None}
