"""Access and limits: blocked people, allow-list mode, rate limits, daily quotas, files
waiting, model calls at once, and each platform delivery handled once. Admins (ADMIN_IDS
is tg:1 in the test settings) are exempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from core.deps import CoreDeps
from core.i18n import t
from core.jobs import INGEST_DOCUMENT
from core.limits import Limits
from core.service import ChatService
from core.types import Command, Incoming, Notice
from tests.factories import attachment, collect, in_group, private, reply_text, with_files
from tests.fakes import EchoChatModel


def limited(deps: CoreDeps, **settings: Any) -> ChatService:
    """The service with other access and limit settings."""
    changed = deps.settings.model_copy(update=settings)
    limits = Limits(changed, deps.redis, deps.pool, deps.users)
    return ChatService(replace(deps, settings=changed, limits=limits))


def command(incoming: Incoming, name: str, args: str = "") -> Incoming:
    return replace(incoming, command=Command(name, args), text="")


async def say(service: ChatService, incoming: Incoming) -> str:
    return reply_text(await collect(service.handle(incoming)))


ADMIN = in_group("1", "admins")  # tg:1


async def test_a_fast_sender_is_told_when_to_try_again(deps: CoreDeps) -> None:
    service = limited(deps, rate_limit_per_minute=3)

    answers = [await say(service, private("ana", f"question {i}")) for i in range(4)]

    assert answers[:3] == [f"echo: question {i}" for i in range(3)]
    assert answers[3] == t("limit_rate", "en", seconds=20)


async def test_admins_are_not_rate_limited(deps: CoreDeps) -> None:
    service = limited(deps, rate_limit_per_minute=1)

    answers = [await say(service, replace(ADMIN, text=f"hi {i}")) for i in range(3)]

    assert answers == [f"echo: hi {i}" for i in range(3)]


async def test_the_daily_quota_stops_answers_but_not_commands(deps: CoreDeps) -> None:
    service = limited(deps, daily_message_quota=2)

    answers = [await say(service, private("ana", f"question {i}")) for i in range(3)]
    usage = await say(service, command(private("ana"), "quota"))

    assert answers[:2] == ["echo: question 0", "echo: question 1"]
    assert answers[2].startswith("You've used today's 2 answers. They start again in ")
    assert usage.startswith("Today you got 2 of your 2 answers")


async def test_an_admin_gives_one_person_more_answers(deps: CoreDeps) -> None:
    service = limited(deps, daily_message_quota=1)
    await say(service, private("ana", "first"))

    done = await say(service, command(ADMIN, "quota", "cli:ana 3"))
    second = await say(service, private("ana", "second"))
    refused = await say(service, command(private("ana"), "quota", "cli:ana 100"))

    assert done == t("quota_set", "en", identity="cli:ana", quota="3")
    assert second == "echo: second"
    assert refused == t("admins_only", "en")


async def test_files_waiting_to_be_indexed_are_capped_per_person(deps: CoreDeps) -> None:
    service = limited(deps, max_pending_documents=1)
    first = with_files(private("ana"), attachment("a.txt", b"Recife is in Pernambuco."))
    second = with_files(private("ana"), attachment("b.txt", b"Olinda is next to Recife."))

    await collect(service.handle(first))  # queued: no worker runs in this test
    refused = await say(service, second)

    assert refused == t("limit_pending", "en", count=1)


async def test_a_blocked_person_hears_it_once_then_nothing(deps: CoreDeps) -> None:
    service = ChatService(deps)

    blocked = await say(service, command(ADMIN, "block", "cli:ana"))
    first = await collect(service.handle(private("ana", "hello?")))
    again = await collect(service.handle(private("ana", "hello??")))

    assert blocked == t("block_done", "en", identity="cli:ana")
    assert first == [Notice(t("access_blocked", "en"), is_error=True)]
    assert again == []
    assert await say(service, command(ADMIN, "allow", "cli:ana")) == t(
        "allow_done", "en", identity="cli:ana"
    )
    assert await say(service, private("ana", "back")) == "echo: back"


async def test_admins_cannot_be_blocked(deps: CoreDeps) -> None:
    service = ChatService(deps)

    await say(service, command(ADMIN, "block", "tg:1"))

    assert await say(service, replace(ADMIN, text="still here")) == "echo: still here"


async def test_allow_list_mode_lets_in_only_those_allowed(deps: CoreDeps) -> None:
    service = limited(deps, access_mode="allowlist")

    stranger = await say(service, private("bia", "let me in"))
    await say(service, command(ADMIN, "allow", "cli:bia"))
    allowed = await say(service, private("bia", "thanks"))

    assert stranger == t("access_not_allowed", "en", identity="cli:bia")
    assert allowed == "echo: thanks"


async def test_a_redelivered_message_is_handled_once(deps: CoreDeps) -> None:
    service = ChatService(deps)
    message = replace(private("ana", "only once"), delivery_id="tg:message:1:42")

    first = await collect(service.handle(message))
    again = await collect(service.handle(message))

    assert reply_text(first) == "echo: only once" and again == []
    conversation = await deps.memory.load(message.conversation_key)
    assert len(conversation.turns) == 2


class CountingModel(EchoChatModel):
    """Streams slowly and records how many answers it was writing at once."""

    running: int = 0
    most_at_once: int = 0

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            for word in self._answer(messages).split():
                await asyncio.sleep(0.05)
                yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
        finally:
            self.running -= 1


async def test_a_burst_of_questions_waits_for_model_slots(deps: CoreDeps) -> None:
    model = CountingModel()
    slots = asyncio.Semaphore(2)
    service = ChatService(
        replace(
            deps,
            models=replace(deps.models, factory=lambda _s, _n: model, _cache={}),
            answer_slots=slots,
        )
    )

    answers = await asyncio.gather(
        *(say(service, private(f"user{i}", f"question {i}")) for i in range(6))
    )

    assert answers == [f"echo: question {i}" for i in range(6)]
    assert model.most_at_once == 2


async def test_waiting_for_a_slot_is_not_counted_against_the_answer_time(deps: CoreDeps) -> None:
    settings = deps.settings.model_copy(update={"llm_timeout_seconds": 0.3})
    slots = asyncio.Semaphore(1)
    service = ChatService(replace(deps, settings=settings, answer_slots=slots))

    async with slots:  # another answer holds the only slot for longer than the time limit
        waiting = asyncio.create_task(say(service, private("ana", "patience")))
        await asyncio.sleep(0.5)
    assert await waiting == "echo: patience"


async def test_stats_are_for_admins(deps: CoreDeps) -> None:
    service = ChatService(deps)
    await say(service, private("ana", "hello"))

    shown = await say(service, command(ADMIN, "stats"))
    refused = await say(service, command(private("ana"), "stats"))

    assert shown.startswith("People: 2 (2 today, 2 in 7 days)\nAnswers: 1 today, 1 in 7 days")
    assert refused == t("admins_only", "en")


async def documents_by_status(deps: CoreDeps) -> dict[str, str]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT title, status FROM documents")
        return dict(await cur.fetchall())


async def test_reindex_here_everything_or_one_document(deps: CoreDeps) -> None:
    service = ChatService(deps)
    await collect(service.handle(with_files(in_group("ana", "g1"), attachment("a.txt", b"A."))))
    await collect(service.handle(with_files(private("bia"), attachment("b.txt", b"B."))))
    async with deps.pool.connection() as conn:
        await conn.execute("UPDATE documents SET status = 'ready'")

    member = replace(in_group("bruno", "g1"), chat_admin_check=None)
    refused = await say(service, command(member, "reindex", "here"))
    here = await say(service, command(in_group("1", "g1"), "reindex", "here"))
    assert refused == t("admins_only", "en")
    assert here == t("reindex_queued", "en", count=1)
    assert await documents_by_status(deps) == {"a.txt": "queued", "b.txt": "ready"}

    own = await say(service, command(private("bia"), "reindex", "b.txt"))
    assert own == t("doc_retrying", "en", name="b.txt")

    assert await say(service, command(private("bia"), "reindex", "all")) == t("admins_only", "en")
    everything = await say(service, command(ADMIN, "reindex", "all"))
    assert everything == t("reindex_queued", "en", count=2)


async def test_admins_see_retry_and_cancel_jobs(deps: CoreDeps) -> None:
    service = ChatService(deps)
    await deps.jobs.defer(INGEST_DOCUMENT, lock="ingest:doc-1", document_id="doc-1")
    async with deps.pool.connection() as conn:
        await conn.execute("UPDATE procrastinate_jobs SET status = 'failed', attempts = 3")
        cur = await conn.execute("SELECT id FROM procrastinate_jobs")
        (failed_id,) = await cur.fetchone()  # type: ignore[misc]

    listed = await say(service, command(ADMIN, "jobs"))
    retried = await say(service, command(ADMIN, "jobs", f"retry {failed_id}"))
    again = await say(service, command(ADMIN, "jobs", f"retry {failed_id + 1}"))
    cancelled = await say(service, command(ADMIN, "jobs", f"cancel {failed_id + 1}"))
    refused = await say(service, command(private("ana"), "jobs"))

    assert f"#{failed_id} ingest_document doc-1: failed (3)" in listed
    assert retried == t("jobs_retry_done", "en", id=failed_id)
    assert again == t("jobs_retry_refused", "en", id=failed_id + 1)
    assert cancelled == t("jobs_cancel_done", "en", id=failed_id + 1)
    assert refused == t("admins_only", "en")
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT status, args FROM procrastinate_jobs ORDER BY id")
        rows = await cur.fetchall()
    assert [(status, args["document_id"]) for status, args in rows] == [
        ("failed", "doc-1"),
        ("cancelled", "doc-1"),
    ]
