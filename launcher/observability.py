"""`/metrics` and `/healthz` of a bot or worker process, and the worker's job counters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core import metrics
from core.settings import Settings

logger = logging.getLogger(__name__)

# A check slower than this counts as down; below `assistant healthcheck`'s 4 s wait.
CHECK_TIMEOUT_SECONDS = 3.0

# One indexed scan of the unfinished and failed jobs (finished ones are left out, so the
# cost does not grow with history): waiting, running and failed-for-good, per queue.
JOB_COUNTS_SQL = """
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'todo'),
           count(*) FILTER (WHERE status = 'doing'),
           count(*) FILTER (WHERE status = 'failed')
    FROM procrastinate_jobs
    WHERE status IN ('todo', 'doing', 'failed')
    GROUP BY queue_name
"""


class Observatory:
    """Answers `/healthz` and `/metrics` from the process's own Postgres pool and Redis."""

    def __init__(self, pool: AsyncConnectionPool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis
        # Queues reported before: one that empties reads 0 rather than vanishing.
        self._queues: set[str] = set()

    async def healthz(self, _request: web.Request) -> web.Response:
        """200 when Postgres and Redis both answer in time, else 503 naming what is down."""
        names = ("postgres", "redis")
        results = await asyncio.gather(
            self._check(self._select_one()), self._check(self._redis.ping())
        )
        checks = dict(zip(names, results, strict=True))
        down = [name for name, state in checks.items() if state != "ok"]
        body = {"status": "down" if down else "ok", "down": down, "checks": checks}
        return web.json_response(body, status=503 if down else 200)

    async def metrics(self, _request: web.Request) -> web.Response:
        """Every collector in Prometheus's text format, job counts read just now."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self.refresh_job_counts()
        except Exception as exc:  # the other metrics are still worth serving
            logger.warning("job counts unavailable for /metrics: %r", exc)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def refresh_job_counts(self) -> None:
        """Set the job gauges from the job engine's table."""
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(JOB_COUNTS_SQL)).fetchall()
        counts = {queue: (waiting, running, failed) for queue, waiting, running, failed in rows}
        self._queues |= counts.keys()
        for queue in self._queues:
            waiting, running, failed = counts.get(queue, (0, 0, 0))
            metrics.JOB_QUEUE_DEPTH.labels(queue).set(waiting)
            metrics.JOBS_RUNNING.labels(queue).set(running)
            metrics.JOBS_FAILED.labels(queue).set(failed)

    async def _select_one(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    @staticmethod
    async def _check(probe: Awaitable[object]) -> str:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await probe
        except Exception as exc:
            logger.warning("health check failed: %r", exc)
            return "down"
        return "ok"


@asynccontextmanager
async def serving(
    settings: Settings, pool: AsyncConnectionPool, redis: Redis
) -> AsyncIterator[None]:
    """Serve `/metrics` and `/healthz` on METRICS_HOST:METRICS_PORT for the block (0: none)."""
    if not settings.metrics_port:
        yield
        return
    observatory = Observatory(pool, redis)
    app = web.Application()
    app.router.add_get("/healthz", observatory.healthz)
    app.router.add_get("/metrics", observatory.metrics)
    # No access log: a scrape every few seconds would drown the real log lines.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        logger.info(
            "serving /metrics and /healthz on %s:%d", settings.metrics_host, settings.metrics_port
        )
        yield
    finally:
        await runner.cleanup()


async def count_job(
    call_next: Callable[[], Awaitable[Any]],
    context: procrastinate.JobContext,
    _worker: object,
) -> Any:
    """Count each job attempt by task and outcome (a procrastinate worker middleware)."""
    task = context.job.task_name
    metrics.JOBS_STARTED.labels(task).inc()
    try:
        result = await call_next()
    except Exception:
        metrics.JOBS_FINISHED.labels(task, "failed").inc()
        raise
    metrics.JOBS_FINISHED.labels(task, "succeeded").inc()
    return result
