"""The running summary: memory overflow defers a real job that a real worker runs."""

from __future__ import annotations

import pytest

from core.deps import CoreDeps
from core.jobs import SUMMARISE_CONVERSATION
from core.service import ChatService
from core.types import Platform
from tests.factories import collect, in_group, private, reply_text, run_jobs
from tests.fakes import EchoChatModel


async def jobs_by_status(deps: CoreDeps, task: str = SUMMARISE_CONVERSATION) -> dict[str, int]:
    async with deps.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = %s "
                "GROUP BY 1",
                (task,),
            )
        ).fetchall()
    return dict(rows)


async def overflow(service: ChatService, user: str = "ana", count: int = 8) -> None:
    for i in range(count):
        await collect(service.handle(private(user, f"fact number {i}: " + "blah " * 15)))


async def test_trimmed_turns_become_a_summary_in_the_background(
    service: ChatService, deps: CoreDeps, chat_model: EchoChatModel
) -> None:
    await overflow(service)
    before = await deps.memory.load("cli:ana|cli:ana")
    assert before.pending_count > 0 and before.summary == ""
    # One waiting job per conversation, however many turns overflowed.
    assert await jobs_by_status(deps) == {"todo": 1}

    chat_model.reply = "Ana shared facts 0 to 3."
    await run_jobs(deps)

    after = await deps.memory.load("cli:ana|cli:ana")
    assert after.summary == "Ana shared facts 0 to 3."
    assert after.pending_count == 0
    assert await jobs_by_status(deps) == {"succeeded": 1}
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert "Summary of earlier messages:\nAna shared facts 0 to 3." in history

    # The next answer is prompted with the summary.
    chat_model.reply = None
    await collect(service.handle(private("ana", "what did I say?")))
    assert "Ana shared facts 0 to 3." in chat_model.calls[-1][0].content


async def test_the_user_is_told_once_through_the_outbox(
    service: ChatService, deps: CoreDeps, chat_model: EchoChatModel
) -> None:
    chat_model.reply = "summary"
    for group_turn in range(8):
        await collect(service.handle(in_group("bia", "-100", f"turn {group_turn} " + "blah " * 15)))
    await run_jobs(deps)
    entries = await deps.outbox.read(Platform.TELEGRAM, "test", pending=False, block_ms=10)
    assert len(entries) == 1
    _entry_id, message = entries[0]
    assert message.chat.id == "-100" and not message.chat.is_private
    assert message.user_key == "tg:bia"
    assert "summarised older messages" in message.text


async def test_a_failing_summary_is_retried_and_loses_nothing(
    service: ChatService, deps: CoreDeps, chat_model: EchoChatModel
) -> None:
    await overflow(service)
    pending_before = (await deps.memory.load("cli:ana|cli:ana")).pending_count
    chat_model.error = ConnectionError("model down")
    await run_jobs(deps)
    assert (await deps.memory.load("cli:ana|cli:ana")).pending_count == pending_before
    statuses = await jobs_by_status(deps)
    assert statuses in ({"todo": 1}, {"failed": 1})  # retry scheduled in the future


@pytest.mark.parametrize("strategy", ["trim"])
async def test_trim_strategy_defers_nothing(
    service: ChatService, deps: CoreDeps, strategy: str
) -> None:
    deps.memory._strategy = strategy  # type: ignore[attr-defined]
    await overflow(service)
    assert await jobs_by_status(deps) == {}
