"""The outbox on a real Redis: delivery, acks, redelivery after a crash, clean stops."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable

import pytest

from core import outbox as outbox_module
from core.outbox import MAX_DELIVERY_ATTEMPTS, Outbox, stream_key
from core.types import ChatRef, OutboxMessage, Platform

GROUP_CHAT = ChatRef(Platform.TELEGRAM, "-100", is_private=False)


async def test_messages_are_delivered_once_and_acked(raw_redis) -> None:
    await raw_redis.flushdb()
    outbox = Outbox(raw_redis)
    delivered: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        delivered.append(message.text)

    for text in ("one", "two"):
        await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text=text, user_key="tg:1"))
    task = asyncio.create_task(outbox.deliver_forever(Platform.TELEGRAM, "bot-a", deliver))
    for _ in range(100):
        if len(delivered) == 2:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert delivered == ["one", "two"]
    assert await outbox.read(Platform.TELEGRAM, "bot-a", pending=True) == []


async def test_unacked_messages_are_redelivered_after_a_crash(raw_redis) -> None:
    await raw_redis.flushdb()
    outbox = Outbox(raw_redis)
    await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text="important"))
    # A bot read it and died before delivering: it stays pending for that consumer.
    assert len(await outbox.read(Platform.TELEGRAM, "bot-a", pending=False, block_ms=10)) == 1
    delivered: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        delivered.append(message.text)

    task = asyncio.create_task(outbox.deliver_forever(Platform.TELEGRAM, "bot-a", deliver))
    for _ in range(100):
        if delivered:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert delivered == ["important"]


async def test_terminal_chats_have_their_own_streams(raw_redis) -> None:
    await raw_redis.flushdb()
    outbox = Outbox(raw_redis)
    for user in ("ana", "bia"):
        chat = ChatRef(Platform.CONSOLE, user, is_private=True)
        await outbox.publish(OutboxMessage(chat=chat, text=f"for {user}"))
    entries = await outbox.read(Platform.CONSOLE, "c", pending=False, chat_id="ana", block_ms=10)
    assert [message.text for _, message in entries] == ["for ana"]


async def test_a_cancel_at_any_moment_stops_the_consumer(raw_redis) -> None:
    outbox = Outbox(raw_redis)

    async def deliver(message: OutboxMessage) -> None:
        pass

    for delay in [0, 0.001, 0.003, 0.005, 0.01, 0.02, 0.05] * 3:
        task = asyncio.create_task(outbox.deliver_forever(Platform.DISCORD, "bot", deliver))
        await asyncio.sleep(delay)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3)
        assert done, f"consumer ignored a cancel after {delay}s"


async def wait_for(condition: Callable[[], bool | Awaitable[bool]]) -> None:
    """Let the consumer work until `condition` holds (a hang fails by the suite's timeout)."""
    while True:
        held = condition()
        if await held if inspect.isawaitable(held) else held:
            return
        await asyncio.sleep(0.01)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


OTHER_CHAT = ChatRef(Platform.TELEGRAM, "-200", is_private=False)


async def test_a_failing_chat_does_not_hold_up_the_others(
    raw_redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await raw_redis.flushdb()
    monkeypatch.setattr(outbox_module, "RETRY_DELAY_SECONDS", 0.05)
    outbox = Outbox(raw_redis)
    failed_attempts: list[str] = []
    attempts_when_healthy_delivered: list[int] = []

    async def deliver(message: OutboxMessage) -> None:
        if message.chat == GROUP_CHAT:
            failed_attempts.append(message.text)
            raise RuntimeError("bot was blocked in this chat")
        attempts_when_healthy_delivered.append(len(failed_attempts))

    await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text="to a blocked chat"))
    await outbox.publish(OutboxMessage(chat=OTHER_CHAT, text="to a healthy chat"))
    task = asyncio.create_task(outbox.deliver_forever(Platform.TELEGRAM, "bot-a", deliver))
    # The blocked chat's message is given up on and acked, not retried forever.
    await wait_for(lambda: len(failed_attempts) == MAX_DELIVERY_ATTEMPTS)
    await wait_for(lambda: _nothing_pending(outbox))
    await stop(task)
    # The healthy chat got its message before the blocked chat's retries ran out.
    assert attempts_when_healthy_delivered == [1]
    assert failed_attempts == ["to a blocked chat"] * MAX_DELIVERY_ATTEMPTS


async def _nothing_pending(outbox: Outbox) -> bool:
    return await outbox.read(Platform.TELEGRAM, "bot-a", pending=True) == []


async def test_each_chat_keeps_its_order_through_retries(
    raw_redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await raw_redis.flushdb()
    monkeypatch.setattr(outbox_module, "RETRY_DELAY_SECONDS", 0.05)
    outbox = Outbox(raw_redis)
    delivered: list[str] = []
    hiccups = ["edit 1"]  # the first delivery of "edit 1" fails once

    async def deliver(message: OutboxMessage) -> None:
        if message.text in hiccups:
            hiccups.remove(message.text)
            raise RuntimeError("network hiccup")
        delivered.append(message.text)

    for text in ("edit 1", "edit 2", "edit 3"):
        await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text=text, status_key="doc"))
    await outbox.publish(OutboxMessage(chat=OTHER_CHAT, text="elsewhere"))
    task = asyncio.create_task(outbox.deliver_forever(Platform.TELEGRAM, "bot-a", deliver))
    await wait_for(lambda: len(delivered) == 4)
    await stop(task)
    assert [text for text in delivered if text.startswith("edit")] == ["edit 1", "edit 2", "edit 3"]
    # The other chat did not wait for the retry of "edit 1".
    assert delivered[0] == "elsewhere"


async def test_streams_stay_bounded(raw_redis, monkeypatch: pytest.MonkeyPatch) -> None:
    await raw_redis.flushdb()
    outbox = Outbox(raw_redis)
    stream = stream_key(Platform.TELEGRAM)
    delivered: list[str] = []

    async def deliver(message: OutboxMessage) -> None:
        delivered.append(message.text)

    for number in range(30):
        await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text=f"m{number}"))
    task = asyncio.create_task(outbox.deliver_forever(Platform.TELEGRAM, "bot-a", deliver))
    await wait_for(lambda: len(delivered) == 30)
    await wait_for(lambda: _is_empty(raw_redis, stream))  # delivered entries leave the stream
    await stop(task)

    # With no bot running, the stream keeps only about the newest STREAM_MAX_ENTRIES.
    monkeypatch.setattr(outbox_module, "STREAM_MAX_ENTRIES", 100)
    for number in range(2000):
        await outbox.publish(OutboxMessage(chat=GROUP_CHAT, text=f"n{number}"))
    assert await raw_redis.xlen(stream) < 300  # approximate: whole nodes of 100 go


async def _is_empty(redis, stream: str) -> bool:  # noqa: ANN001
    return await redis.xlen(stream) == 0
