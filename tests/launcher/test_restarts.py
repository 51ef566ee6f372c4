"""Riding out Postgres and Redis restarts: pooled connections, the worker, and the user."""

from __future__ import annotations

from typing import Any, cast

import procrastinate
import psycopg
import pytest
from procrastinate.exceptions import ConnectorException

from core.deps import CoreDeps
from core.service import ChatService
from core.types import Notice
from launcher.frontends import supervise_worker
from launcher.services import RedisServer
from tests.factories import collect, private


async def test_pooled_connections_dropped_by_the_server_are_replaced(deps: CoreDeps) -> None:
    async with deps.pool.connection() as conn:
        await conn.execute("SELECT 1")
    # What a Postgres restart does to every open session, the pool's idle ones included.
    async with await psycopg.AsyncConnection.connect(
        deps.settings.database_url, autocommit=True
    ) as admin:
        cur = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert (await cur.fetchone())[0] > 0  # type: ignore[index]

    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT 1")
        assert await cur.fetchone() == (1,)


async def test_a_message_during_a_redis_outage_gets_a_clear_notice(
    service: ChatService, redis_server: RedisServer | None
) -> None:
    if redis_server is None:
        pytest.skip("TEST_REDIS_URL points at a Redis this suite cannot stop")
    redis_server.stop()
    try:
        events = await collect(service.handle(private("ana", "hello?")))
    finally:
        redis_server.start()
    assert events == [
        Notice("⏳ I'm temporarily unavailable; please try again in a moment.", is_error=True)
    ]
    # Back up: the same service answers again.
    assert (await collect(service.handle(private("ana", "hello?"))))[-1].text


class DroppedOnce:
    """A job app whose worker loses its database once, then runs to its end."""

    def __init__(self) -> None:
        self.runs = 0

    async def run_worker_async(self, **options: Any) -> None:
        self.runs += 1
        if self.runs == 1:
            raise ConnectorException("server closed the connection unexpectedly")


async def test_the_worker_starts_again_after_losing_the_database(deps: CoreDeps) -> None:
    job_app = DroppedOnce()
    await supervise_worker(cast("procrastinate.App", job_app), deps, queues=None)
    assert job_app.runs == 2
