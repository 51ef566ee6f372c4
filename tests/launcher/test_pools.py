"""Postgres connections per process: bounded by DATABASE_POOL_SIZE, and none left behind
when start-up fails half-way."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
import redis.exceptions
from psycopg.conninfo import conninfo_to_dict

from core.settings import ConfigError, Provider, Settings
from launcher.frontends import core_and_jobs
from tests.conftest import scratch_database

POOL_SIZE = 2
# A worker holds one connection of its own for LISTEN/NOTIFY, outside the pools.
MAX_CONNECTIONS = 2 * POOL_SIZE + 1
CONCURRENT_SEARCHES = 12
CLOSE_TIMEOUT_SECONDS = 30


def settings_for(database_url: str, redis_url: str, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=redis_url,
        database_pool_size=POOL_SIZE,
        llm_provider=Provider.OPENAI_COMPATIBLE,
        llm_base_url="http://127.0.0.1:9/v1",
        data_dir=data_dir,
    )


def connections_to(database_url: str, *, via: str) -> int:
    """Sessions open on the database of `database_url`, counted from a connection to `via`."""
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(via, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    return row[0] if row else 0


def wait_until_registered(database_url: str) -> None:
    """Return once a job worker has registered itself in `database_url`."""
    deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
    with psycopg.connect(database_url, autocommit=True) as conn:
        while not conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.05)


def wait_until_closed(database_url: str, *, via: str) -> int:
    """Open sessions left once the server has seen the clients go (it takes a moment)."""
    deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
    while (count := connections_to(database_url, via=via)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


async def test_a_busy_process_stays_within_its_pools(
    own_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = settings_for(own_database_url, redis_url, tmp_path)
    async with core_and_jobs(settings) as (deps, job_app):
        assert job_app.connector.pool is deps.pool  # type: ignore[attr-defined]
        worker = asyncio.create_task(
            job_app.run_worker_async(queues=["pool-test"], install_signal_handlers=False)
        )
        # Cancelled while queued for a connection, the worker may never see it: Python
        # 3.11's asyncio.wait_for (under psycopg_pool's getconn) can swallow a cancellation
        # that lands as the connection is handed over. So the load starts once it runs.
        await asyncio.to_thread(wait_until_registered, own_database_url)

        async def observed() -> int:
            async with deps.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                )
                row = await cur.fetchone()
            return row[0] if row else 0

        # Both pools busy at once: vector search (SQLAlchemy) and keyword search (psycopg).
        searches = asyncio.gather(
            *(
                deps.knowledge.index.search("tg:1", f"q {n}", k=3)
                for n in range(CONCURRENT_SEARCHES)
            )
        )
        counts = await asyncio.gather(*(observed() for _ in range(CONCURRENT_SEARCHES)))
        await searches
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    assert max(counts) <= MAX_CONNECTIONS


async def test_start_up_failing_on_redis_leaves_no_connection(
    own_database_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = settings_for(own_database_url, "redis://127.0.0.1:9/0", tmp_path)
    with pytest.raises(redis.exceptions.ConnectionError):
        async with core_and_jobs(settings):
            pass
    assert wait_until_closed(own_database_url, via=database_url) == 0


async def test_start_up_failing_after_the_pool_opened_leaves_no_connection(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # Without the schema the core refuses to start, after the pool and Redis opened.
    with scratch_database(database_url, is_migrated=False) as empty_url:
        settings = settings_for(empty_url, redis_url, tmp_path)
        with pytest.raises(ConfigError, match="assistant migrate"):
            async with core_and_jobs(settings):
                pass
        assert wait_until_closed(empty_url, via=database_url) == 0
