"""The ingestion job under stress: workers dying on a document, failing attempts, two jobs
on one document, and the same file sent again while it is indexed.

Real Postgres, Redis, procrastinate worker and embedding model; a failing embedding
server is the only fake, at the model boundary.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from langchain_core.embeddings import Embeddings

from core.deps import CoreDeps
from core.knowledge.index import ChunkIndex
from core.knowledge.ingestion import MAX_ATTEMPTS
from core.knowledge.progress import JobTarget
from core.service import ChatService
from core.types import Command, Incoming, Notice
from tests import knowledge_fixtures as files
from tests.core.rebuild import rebuild_knowledge
from tests.factories import attachment, collect, in_group, private, reply_text, run_jobs, with_files
from workers.tasks import requeue_stalled_jobs

GAVE_UP = "indexing it kept failing; an admin can /retry it."


class DownEmbeddings(Embeddings):
    """An embedding server that is down, counting the attempts to reach it."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        raise ConnectionError("embedding server down")

    def embed_query(self, text: str) -> list[float]:
        raise ConnectionError("embedding server down")


async def upload(service: ChatService, incoming: Incoming, data: bytes) -> Notice:
    [notice] = await collect(service.handle(with_files(incoming, attachment("notes.md", data))))
    assert isinstance(notice, Notice)
    return notice


async def document_state(deps: CoreDeps) -> tuple[str, str | None, int, int]:
    """(status, error, chunk_count, chunk rows) of the only document."""
    async with deps.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, error, chunk_count, "
            "(SELECT count(*) FROM knowledge_chunks c WHERE c.document_id = d.id) FROM documents d"
        )
        [row] = await cur.fetchall()
    return row


async def ingest_jobs(deps: CoreDeps) -> dict[str, int]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'ingest_document' GROUP BY 1"
        )
        return dict(await cur.fetchall())


async def final_texts(deps: CoreDeps, incoming: Incoming) -> list[str]:
    chat = incoming.chat
    entries = await deps.outbox.read(
        chat.platform, "test", pending=False, chat_id=chat.id, block_ms=10
    )
    return [message.text for _, message in entries if message.is_final]


async def die_mid_attempt(deps: CoreDeps, document_id: str) -> None:
    """A worker takes the job, starts an attempt at the document and is killed (OOM)."""
    async with deps.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - interval '10 minutes') RETURNING id"
        )
        [worker_id] = await cur.fetchone()  # type: ignore[misc]
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s "
            "WHERE task_name = 'ingest_document' AND status = 'todo'",
            (worker_id,),
        )
    # Its lock connection goes with the process; the counted attempt stays.
    async with deps.knowledge.documents.claim(document_id) as document:
        assert document is not None


async def test_a_document_that_kills_its_worker_fails_after_the_limit(
    service: ChatService, deps: CoreDeps
) -> None:
    admin = in_group("1", "-100")  # tg:1 is an admin in the test settings
    data = files.markdown_bytes()
    notice = await upload(service, admin, data)
    for _death in range(MAX_ATTEMPTS):
        await die_mid_attempt(deps, notice.status_key)
        assert await requeue_stalled_jobs() == 1

    await run_jobs(deps)  # the job's next run finds no attempt left

    status, error, _count, rows = await document_state(deps)
    assert (status, error, rows) == ("failed", "kept_failing", 0)
    assert await final_texts(deps, admin) == [f"❌ notes.md: {GAVE_UP}"]
    assert await ingest_jobs(deps) == {"succeeded": 1}  # nothing left to loop
    # Sending it again does not loop it again.
    again = await upload(service, admin, data)
    assert again == Notice(f"❌ notes.md: {GAVE_UP}", is_error=True)
    assert await ingest_jobs(deps) == {"succeeded": 1}

    # An admin's /retry starts the count over.
    retry = replace(admin, command=Command("retry", notice.status_key[:8]))
    assert reply_text(await collect(service.handle(retry))).startswith("📄 notes.md failed before")
    await run_jobs(deps)
    status, _error, count, rows = await document_state(deps)
    assert status == "ready" and rows == count > 0


async def test_failed_exactly_when_no_attempt_remains(service: ChatService, deps: CoreDeps) -> None:
    ana = private("ana")
    await upload(service, ana, files.markdown_bytes())
    down = DownEmbeddings()
    original = deps.knowledge.index
    rebuild_knowledge(
        deps,
        index=ChunkIndex(
            deps.pool, deps.settings.database_url, down, original.model_name, pool_size=1
        ),
    )
    statuses = []
    for _run in range(MAX_ATTEMPTS + 1):
        await run_jobs(deps)
        statuses.append((await document_state(deps))[0])
        async with deps.pool.connection() as conn:  # the back-off, skipped
            await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now()")
    rebuild_knowledge(deps, index=original)

    assert down.calls == MAX_ATTEMPTS
    # Failed on the last attempt, not before it, and never run again.
    assert statuses == ["processing"] * (MAX_ATTEMPTS - 1) + ["failed", "failed"]
    assert await ingest_jobs(deps) == {"failed": 1}  # no run after the document gave up
    assert (await document_state(deps))[:2] == ("failed", "kept_failing")
    assert await final_texts(deps, ana) == [f"❌ notes.md: {GAVE_UP}"]


async def test_two_jobs_on_one_document_index_it_once(service: ChatService, deps: CoreDeps) -> None:
    ana = private("ana")
    notice = await upload(service, ana, files.markdown_bytes())
    target = JobTarget(ana.chat, ana.user.key, "en")
    ingestion, model = deps.knowledge.ingestion, deps.models.get()

    await asyncio.gather(*(ingestion.ingest(notice.status_key, target, model) for _ in range(2)))

    status, _error, count, rows = await document_state(deps)
    assert status == "ready" and rows == count > 0

    # Indexing it again (an admin's /retry) replaces the chunks, never adds to them.
    await deps.knowledge.intake.retry(
        (await deps.knowledge.documents.get(notice.status_key)),  # type: ignore[arg-type]
        "en",
    )
    await asyncio.gather(*(ingestion.ingest(notice.status_key, target, model) for _ in range(2)))
    status, _error, count, rows = await document_state(deps)
    assert status == "ready" and rows == count > 0


async def test_the_same_file_from_a_second_chat_is_answered_at_once(
    service: ChatService, deps: CoreDeps
) -> None:
    data = files.markdown_bytes()
    first = await upload(service, private("ana"), data)
    assert first.status_key

    # The same person in a second terminal, while the first one's job is waiting.
    waiting = await upload(service, private("ana"), data)
    assert waiting == Notice(
        "📄 notes.md is already being indexed; you'll see it in /docs when it's ready."
    )
    await run_jobs(deps)
    ready = await upload(service, private("ana"), data)
    assert not ready.status_key
    summary = (await deps.knowledge.documents.get(first.status_key)).summary  # type: ignore[union-attr]
    assert summary and ready.text.startswith(
        f"I already have Guide, indexed and ready.\n\n{summary}"
    )
    assert await ingest_jobs(deps) == {"succeeded": 1}
