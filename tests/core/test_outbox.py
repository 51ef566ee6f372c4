"""The outbox on a real Redis: delivery, acks, redelivery after a crash, clean stops."""

from __future__ import annotations

import asyncio
import contextlib

from core.outbox import Outbox
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
