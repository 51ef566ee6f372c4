"""The long-running jobs: the terminal chat, the bots and the worker, over one opened core."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException
from psycopg_pool import AsyncConnectionPool

from core.deps import CoreDeps, open_core
from core.settings import Settings
from launcher.observability import count_job, serving
from workers.app import app, connected
from workers.queue import ProcrastinateJobs

# Waits between looks for a database that went away, growing up to the last one.
RECONNECT_DELAYS_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# What a worker dies of when Postgres restarts under it.
CONNECTION_ERRORS = (ConnectorException, psycopg.OperationalError)

logger = logging.getLogger(__name__)


@asynccontextmanager
async def core_and_jobs(settings: Settings) -> AsyncIterator[tuple[CoreDeps, procrastinate.App]]:
    """The core's resources and the job app, sharing the core's Postgres pool."""
    # The core opens first: it checks both servers and fails fast with a clear error.
    async with (
        open_core(settings, jobs=ProcrastinateJobs(app)) as deps,
        connected(deps.pool) as job_app,
    ):
        yield deps, job_app


async def run_frontend(settings: Settings, *, target: str, user: str, with_worker: bool) -> None:
    """Run the terminal chat or bots until they end or are cancelled.

    `with_worker` also runs the job worker in this process, as `assistant run` does so a
    single local process does everything; deployments run `assistant worker` instead.
    """
    async with (
        core_and_jobs(settings) as (deps, job_app),
        serving(settings, deps.pool, deps.redis),
    ):
        worker = (
            asyncio.create_task(supervise_worker(job_app, deps, queues=None))
            if with_worker
            else None
        )
        try:
            await asyncio.gather(*_frontends(deps, target, user))
        finally:
            if worker is not None:
                # Cancelling lets the running job finish; waiting ones stay queued.
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker


def _frontends(deps: CoreDeps, target: str, user: str) -> list[Coroutine[Any, Any, None]]:
    if target == "console":
        from bots.console import chat_loop

        return [chat_loop(deps, user=user)]
    servers = []
    if target in ("telegram", "bots"):
        from bots import telegram_bot

        servers.append(telegram_bot.serve(deps))
    if target in ("discord", "bots"):
        from bots import discord_bot

        servers.append(discord_bot.serve(deps))
    if target == "web":
        from bots.web import server

        servers.append(server.serve(deps))
    return servers


async def run_worker(settings: Settings, queues: list[str] | None) -> None:
    """Process background jobs until cancelled (by SIGTERM or Ctrl+C, see launcher.cli).

    Cancelling stops the worker gracefully: running jobs finish, waiting ones stay queued.
    """
    async with (
        core_and_jobs(settings) as (deps, job_app),
        serving(settings, deps.pool, deps.redis),
    ):
        await supervise_worker(job_app, deps, queues=queues)


async def supervise_worker(
    job_app: procrastinate.App, deps: CoreDeps, *, queues: list[str] | None
) -> None:
    """Run the job worker, starting it again when Postgres comes back from a restart.

    procrastinate's worker ends on a lost connection; alone (`assistant worker`) the
    process would exit, and inside `assistant run` the bots would go on with nobody
    indexing. One warning per outage; the waits grow while the database stays away.
    """
    while True:
        try:
            await work(job_app, deps, queues=queues)
            return
        except CONNECTION_ERRORS as exc:
            logger.warning("job worker lost the database (%r); restarting it once it is back", exc)
        await wait_for_database(deps.pool)
        logger.info("database back; job worker restarting")


async def wait_for_database(pool: AsyncConnectionPool) -> None:
    """Return once the pool can run a query again, looking less often as time goes on."""
    for attempt in itertools.count():
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:  # PoolTimeout included
            delay = RECONNECT_DELAYS_SECONDS[min(attempt, len(RECONNECT_DELAYS_SECONDS) - 1)]
            await asyncio.sleep(delay)


async def work(
    job_app: procrastinate.App,
    deps: CoreDeps,
    *,
    queues: list[str] | None = None,
    wait: bool = True,
) -> None:
    """Run jobs with the core's resources, counted in the job metrics.

    `wait=False` stops once no job is waiting (tests); otherwise it runs until cancelled.
    """
    await job_app.run_worker_async(
        # procrastinate documents None as "every queue"; its TypedDict leaves None out.
        queues=queues,  # type: ignore[arg-type]
        wait=wait,
        name=deps.settings.replica(),
        # Behind a transaction-mode pooler LISTEN hears nothing: poll instead (README,
        # "Scaling out"); with LISTEN the poll is only a fallback.
        listen_notify=deps.settings.worker_listen_notify,
        fetch_job_polling_interval=deps.settings.worker_poll_seconds,
        install_signal_handlers=False,
        additional_context={"deps": deps},
        worker_middleware=[count_job],
    )


async def reindex(settings: Settings) -> int:
    """Queue every document for re-embedding with the configured model."""
    async with core_and_jobs(settings) as (deps, _job_app):
        return await deps.knowledge.reindex()
