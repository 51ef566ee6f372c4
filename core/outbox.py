"""Durable delivery from workers to bots: one Redis stream per platform, acked on delivery.

Workers never hold a bot connection; they publish here and whichever bot process of that
platform is running delivers. Unacked entries are re-read when a bot restarts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from core.types import ChatRef, OutboxMessage, Platform

logger = logging.getLogger(__name__)

CONSUMER_GROUP = "bots"
# Must stay below redis-py's socket timeout (5 s), or an idle blocking read times out.
READ_BLOCK_MS = 2_000
MAX_DELIVERY_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 2.0
REDIS_RETRY_SECONDS = 5.0
# Status messages are edited while their job runs; a day covers any job.
STATUS_TTL_SECONDS = 24 * 3600


def stream_key(platform: Platform, chat_id: str | None = None) -> str:
    """One stream per bot platform; each terminal chat is its own 'bot', so gets its own."""
    if platform is Platform.CONSOLE:
        return f"outbox:{platform.value}:{chat_id}"
    return f"outbox:{platform.value}"


class Outbox:
    """Publish and consume outbox messages."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, message: OutboxMessage) -> str:
        """Append a message to its platform's stream."""
        payload = {
            "chat_id": message.chat.id,
            "is_private": int(message.chat.is_private),
            "text": message.text,
            "user_key": message.user_key,
            "status_key": message.status_key,
            "is_final": message.is_final,
        }
        stream = stream_key(message.chat.platform, message.chat.id)
        entry_id = await self._redis.xadd(stream, {"payload": json.dumps(payload)})
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self._redis.xgroup_create(stream, CONSUMER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(
        self,
        platform: Platform,
        consumer: str,
        *,
        pending: bool,
        chat_id: str | None = None,
        block_ms: int = READ_BLOCK_MS,
    ) -> list[tuple[str, OutboxMessage]]:
        """Read this consumer's unacked entries (`pending`) or new ones, waiting up to block_ms."""
        stream = stream_key(platform, chat_id)
        await self._ensure_group(stream)
        response = await self._redis.xreadgroup(
            CONSUMER_GROUP,
            consumer,
            {stream: "0" if pending else ">"},
            count=20,
            block=None if pending else block_ms,
        )
        entries = []
        for _stream, items in response or []:
            for entry_id, fields in items:
                if not fields:  # deleted entry still pending
                    continue
                raw = fields.get(b"payload") or fields.get("payload")
                data = json.loads(raw)
                chat = ChatRef(platform, data["chat_id"], bool(data["is_private"]))
                message = OutboxMessage(
                    chat=chat,
                    text=data["text"],
                    user_key=data["user_key"],
                    status_key=data.get("status_key", ""),
                    is_final=data.get("is_final", True),
                )
                key = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                entries.append((key, message))
        return entries

    async def remember_status_message(
        self, platform: Platform, status_key: str, message_ref: str
    ) -> None:
        """Record which platform message shows the status under `status_key`."""
        await self._redis.set(
            f"outbox-status:{platform.value}:{status_key}", message_ref, ex=STATUS_TTL_SECONDS
        )

    async def status_message(self, platform: Platform, status_key: str) -> str | None:
        """The platform message showing `status_key`, if a bot remembered one."""
        value = await self._redis.get(f"outbox-status:{platform.value}:{status_key}")
        return value.decode() if isinstance(value, bytes) else value

    async def ack(self, platform: Platform, entry_id: str, *, chat_id: str | None = None) -> None:
        """Mark an entry delivered so no bot sends it again."""
        await self._redis.xack(stream_key(platform, chat_id), CONSUMER_GROUP, entry_id)

    async def deliver_forever(
        self,
        platform: Platform,
        consumer: str,
        deliver: Callable[[OutboxMessage], Awaitable[None]],
        *,
        chat_id: str | None = None,
    ) -> None:
        """Deliver leftovers from a previous run, then new messages, until cancelled.

        `chat_id` is only for the terminal chat, whose stream is per chat.
        """
        is_first_read = True
        while True:
            try:
                backlog = await self.read(
                    platform, consumer, pending=is_first_read, chat_id=chat_id
                )
                _stop_if_cancelled()
                is_first_read = False
                for entry_id, message in backlog:
                    await self._deliver_one(entry_id, message, deliver)
                    await self.ack(platform, entry_id, chat_id=chat_id)
            except RedisError as exc:
                _stop_if_cancelled()
                # Redis restarting or refusing writes must not take the bot down with it.
                logger.warning("outbox read failed (%s); retrying in %ss", exc, REDIS_RETRY_SECONDS)
                await asyncio.sleep(REDIS_RETRY_SECONDS)

    async def _deliver_one(
        self,
        entry_id: str,
        message: OutboxMessage,
        deliver: Callable[[OutboxMessage], Awaitable[None]],
    ) -> None:
        for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
            try:
                await deliver(message)
                break
            except Exception:
                # A chat that blocked the bot or vanished must not stall the whole outbox.
                logger.exception(
                    "outbox delivery %s to %s failed (attempt %d/%d)",
                    entry_id,
                    message.chat.key,
                    attempt,
                    MAX_DELIVERY_ATTEMPTS,
                )
                await asyncio.sleep(RETRY_DELAY_SECONDS * attempt)


def _stop_if_cancelled() -> None:
    """Honour a cancel that redis-py swallowed or turned into its own TimeoutError.

    A cancel landing while a blocking XREADGROUP is being sent can come back as a normal
    return or a `redis.exceptions.TimeoutError`; the task still counts it as requested.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
