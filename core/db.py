"""How this project connects to Postgres: URL forms and psycopg connection options.

psycopg takes `postgresql://`; SQLAlchemy users need the driver named.
"""

from __future__ import annotations

import select
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from core.settings import ConfigError


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


async def check_if_dropped(conn: AsyncConnection[Any]) -> None:
    """The pool's check on checkout, without a round trip for a healthy connection.

    A server that drops a session (restart, `pg_terminate_backend`, idle timeout) sends
    an error or closes the socket, so the idle connection turns readable; only then is
    the round-trip check run, which fails and makes the pool replace the connection.
    Checking every checkout with a query cost a round trip per checkout (BENCHMARKS.md).
    """
    # poll, not select: select cannot watch a descriptor numbered past 1023.
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0) or conn.broken:
        await AsyncConnectionPool.check_connection(conn)


async def require_schema(pool: AsyncConnectionPool) -> None:
    """Refuse to start on a database that was never migrated, saying what to run.

    Nothing else at start-up reads the tables, so the first message would fail instead.
    """
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT to_regclass('knowledge_chunks') IS NOT NULL")
        row = await cur.fetchone()
    if not (row and row[0]):
        raise ConfigError(
            "DATABASE_URL: the database has no schema yet; run `assistant migrate` "
            "(scripts/run and compose's migrate service do it)"
        )
