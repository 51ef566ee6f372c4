"""Behind a transaction-mode pooler, psycopg must prepare nothing on the server."""

from __future__ import annotations

import pytest

from core.deps import open_core
from core.knowledge.embeddings import LocalMiniLMEmbeddings
from core.settings import Settings
from workers.app import app as job_app
from workers.queue import ProcrastinateJobs

# psycopg prepares a statement on its sixth run on a connection by default.
RUNS = 8


@pytest.mark.parametrize(("prepared_statements", "expected"), [(True, 1), (False, 0)])
async def test_database_prepared_statements_decides_whether_psycopg_prepares(
    settings: Settings,
    embeddings: LocalMiniLMEmbeddings,
    prepared_statements: bool,
    expected: int,
) -> None:
    settings = settings.model_copy(update={"database_prepared_statements": prepared_statements})
    jobs = ProcrastinateJobs(job_app)
    async with (
        open_core(settings, jobs=jobs, embeddings=embeddings) as deps,
        deps.pool.connection() as conn,
    ):
        for n in range(RUNS):
            await conn.execute("SELECT %s::int + 1", (n,))
        cur = await conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1%'"
        )
        assert await cur.fetchone() == (expected,)
