"""Numbers an operator asks for with /stats: people, usage, knowledge and jobs."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

_STATS_SQL = """
SELECT
    (SELECT count(*) FROM users) AS users,
    (SELECT count(*) FROM users WHERE last_seen_at > now() - interval '1 day') AS active_today,
    (SELECT count(*) FROM users WHERE last_seen_at > now() - interval '7 days') AS active_week,
    coalesce(sum(u.messages) FILTER (WHERE u.day = today), 0) AS messages_today,
    coalesce(sum(u.input_tokens + u.output_tokens) FILTER (WHERE u.day = today), 0)
        AS tokens_today,
    coalesce(sum(u.messages), 0) AS messages_week,
    coalesce(sum(u.input_tokens + u.output_tokens), 0) AS tokens_week,
    (SELECT count(*) FROM documents) AS documents,
    (SELECT count(*) FROM documents WHERE status = 'failed') AS failed_documents,
    (SELECT count(*) FROM knowledge_chunks) AS chunks,
    (SELECT coalesce(sum(size_bytes), 0) FROM documents) AS stored_bytes,
    (SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo') AS jobs_waiting,
    (SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing') AS jobs_running,
    (SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed') AS jobs_failed
FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS today) AS clock
LEFT JOIN usage_counters u ON u.day > clock.today - 7
"""


@dataclass(frozen=True)
class Stats:
    """One snapshot of the deployment (usage over UTC days; "week" is the last 7)."""

    users: int
    active_today: int
    active_week: int
    messages_today: int
    tokens_today: int
    messages_week: int
    tokens_week: int
    documents: int
    failed_documents: int
    chunks: int
    stored_bytes: int
    jobs_waiting: int
    jobs_running: int
    jobs_failed: int


async def collect_stats(pool: AsyncConnectionPool) -> Stats:
    """Read the numbers in one query, cheap enough to ask often."""
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(Stats)) as cur:
        await cur.execute(_STATS_SQL)
        stats = await cur.fetchone()
    assert stats is not None  # an aggregate always returns one row
    return stats
