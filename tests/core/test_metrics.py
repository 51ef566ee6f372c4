"""The core counts what it handles, how fast it answers and what fails, on real services.

Collectors are process-wide, so each test compares a sample before and after.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from core import outbox as outbox_module
from core.outbox import MAX_DELIVERY_ATTEMPTS, Outbox
from core.service import ChatService
from core.types import ChatRef, OutboxMessage, Platform
from tests.core.test_outbox import stop, wait_for
from tests.factories import collect, in_group, private, reply_text
from tests.fakes import EchoChatModel


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_answer_is_counted_timed_and_its_tokens_added(service: ChatService) -> None:
    before = {
        "messages": sample("assistant_messages_total", platform="console", kind="text"),
        "first": sample("assistant_answer_first_token_seconds_count", platform="console"),
        "total": sample("assistant_answer_seconds_count", platform="console"),
        "in": sample("assistant_tokens_total", direction="in"),
        "out": sample("assistant_tokens_total", direction="out"),
    }
    assert reply_text(await collect(service.handle(private("ana", "hello there")))) != ""
    assert sample("assistant_messages_total", platform="console", kind="text") == (
        before["messages"] + 1
    )
    assert sample("assistant_answer_first_token_seconds_count", platform="console") == (
        before["first"] + 1
    )
    assert sample("assistant_answer_seconds_count", platform="console") == before["total"] + 1
    assert sample("assistant_tokens_total", direction="in") > before["in"]
    assert sample("assistant_tokens_total", direction="out") > before["out"]


async def test_commands_count_by_kind_and_unaddressed_group_messages_not_at_all(
    service: ChatService,
) -> None:
    commands = sample("assistant_messages_total", platform="telegram", kind="command")
    texts = sample("assistant_messages_total", platform="telegram", kind="text")
    await collect(service.handle(in_group("bia", "-100", command="help")))
    await collect(service.handle(in_group("bia", "-100", "talking to a friend", addressed=False)))
    assert sample("assistant_messages_total", platform="telegram", kind="command") == commands + 1
    assert sample("assistant_messages_total", platform="telegram", kind="text") == texts


async def test_a_model_failure_is_counted_by_kind(
    service: ChatService, chat_model: EchoChatModel
) -> None:
    before = sample("assistant_model_failures_total", kind="unreachable")
    answered = sample("assistant_answer_seconds_count", platform="console")
    chat_model.error = ConnectionError("model down")
    await collect(service.handle(private("ana", "hello?")))
    assert sample("assistant_model_failures_total", kind="unreachable") == before + 1
    assert sample("assistant_answer_seconds_count", platform="console") == answered


async def test_outbox_deliveries_and_give_ups_are_counted(
    raw_redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await raw_redis.flushdb()
    monkeypatch.setattr(outbox_module, "RETRY_DELAY_SECONDS", 0.01)
    outbox = Outbox(raw_redis)
    blocked = ChatRef(Platform.DISCORD, "blocked", is_private=False)
    healthy = ChatRef(Platform.DISCORD, "healthy", is_private=False)
    delivered = sample("assistant_outbox_deliveries_total", platform="discord", outcome="delivered")
    failed = sample("assistant_outbox_deliveries_total", platform="discord", outcome="failed")
    attempts: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        attempts.append(message.chat.id)
        if message.chat == blocked:
            raise RuntimeError("bot was blocked in this chat")

    await outbox.publish(OutboxMessage(chat=blocked, text="lost"))
    await outbox.publish(OutboxMessage(chat=healthy, text="arrives"))
    task = asyncio.create_task(outbox.deliver_forever(Platform.DISCORD, "bot-a", deliver))
    await wait_for(
        lambda: (
            sample("assistant_outbox_deliveries_total", platform="discord", outcome="failed")
            == failed + 1
            and sample("assistant_outbox_deliveries_total", platform="discord", outcome="delivered")
            == delivered + 1
        )
    )
    await stop(task)
    assert attempts.count("blocked") == MAX_DELIVERY_ATTEMPTS
    assert attempts.count("healthy") == 1
