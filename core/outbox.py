"""Durable delivery from workers to bots: one Redis stream per platform, acked on delivery.

Workers never hold a bot connection; they publish here and whichever bot process of that
platform is running delivers. Unacked entries are re-read when a bot restarts. Each chat
has its own delivery lane: its messages arrive in order (a status message's edits), and a
chat whose deliveries fail waits out its retries without holding up any other chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from core import metrics
from core.types import ChatRef, OutboxMessage, Platform

logger = logging.getLogger(__name__)

CONSUMER_GROUP = "bots"
# Must stay below redis-py's socket timeout (5 s), or an idle blocking read times out.
READ_BLOCK_MS = 2_000
MAX_DELIVERY_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 2.0  # times the attempt number: 2 s, then 4 s
# Entries kept per stream (approximately); delivered ones are deleted as they are acked,
# so only a long outage of every bot of a platform comes near it.
STREAM_MAX_ENTRIES = 10_000
REDIS_RETRY_SECONDS = 5.0
# Status messages are edited while their job runs; a day covers any job.
STATUS_TTL_SECONDS = 24 * 3600


Deliver = Callable[[OutboxMessage], Awaitable[None]]


def stream_key(platform: Platform, chat_id: str | None = None) -> str:
    """One stream per bot platform; each terminal chat and each identity signed in on the
    web page is its own 'bot', so gets its own."""
    if platform in (Platform.CONSOLE, Platform.WEB):
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
        entry_id = await self._redis.xadd(
            stream,
            {"payload": json.dumps(payload)},
            maxlen=STREAM_MAX_ENTRIES,
            approximate=True,
        )
        return _text(entry_id)

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
        # RESP2 (our connections' protocol): [(stream, [(entry id, fields), ...])].
        response = cast(
            "list[tuple[bytes, list[tuple[bytes | str, dict[bytes | str, bytes | str]]]]] | None",
            await self._redis.xreadgroup(
                CONSUMER_GROUP,
                consumer,
                {stream: "0" if pending else ">"},
                count=20,
                block=None if pending else block_ms,
            ),
        )
        entries = []
        for _stream, items in response or []:
            for entry_id, fields in items:
                key = _text(entry_id)
                if not fields:  # trimmed before delivery: nothing is left to deliver
                    await self._redis.xack(stream, CONSUMER_GROUP, key)
                    continue
                data = json.loads(fields.get(b"payload") or fields["payload"])
                chat = ChatRef(platform, data["chat_id"], bool(data["is_private"]))
                message = OutboxMessage(
                    chat=chat,
                    text=data["text"],
                    user_key=data["user_key"],
                    status_key=data.get("status_key", ""),
                    is_final=data.get("is_final", True),
                )
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
        return _text(value) if value is not None else None

    async def ack(self, platform: Platform, entry_id: str, *, chat_id: str | None = None) -> None:
        """Mark an entry delivered so no bot sends it again, and drop it from the stream."""
        stream = stream_key(platform, chat_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(stream, CONSUMER_GROUP, entry_id)
            pipe.xdel(stream, entry_id)
            await pipe.execute()

    async def deliver_forever(
        self,
        platform: Platform,
        consumer: str,
        deliver: Deliver,
        *,
        chat_id: str | None = None,
    ) -> None:
        """Deliver leftovers from a previous run, then new messages, until cancelled.

        `chat_id` is only for the terminal chat, whose stream is per chat.
        """
        lanes = _ChatLanes(self, platform, deliver, chat_id=chat_id)
        is_first_read = True
        try:
            while True:
                try:
                    backlog = await self.read(
                        platform, consumer, pending=is_first_read, chat_id=chat_id
                    )
                    _stop_if_cancelled()
                    is_first_read = False
                    for entry_id, message in backlog:
                        lanes.add(entry_id, message)
                except RedisError as exc:
                    _stop_if_cancelled()
                    # Redis restarting or refusing writes must not take the bot down with it.
                    logger.warning(
                        "outbox read failed (%s); retrying in %ss", exc, REDIS_RETRY_SECONDS
                    )
                    await asyncio.sleep(REDIS_RETRY_SECONDS)
        finally:
            await lanes.close()


class _ChatLanes:
    """One delivery task per chat with messages waiting; it ends when its chat has none."""

    def __init__(
        self, outbox: Outbox, platform: Platform, deliver: Deliver, *, chat_id: str | None
    ) -> None:
        self._outbox = outbox
        self._platform = platform
        self._deliver = deliver
        self._chat_id = chat_id
        self._waiting: dict[str, deque[tuple[str, OutboxMessage]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, entry_id: str, message: OutboxMessage) -> None:
        """Queue a message behind the earlier ones of its chat."""
        key = message.chat.key
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
            task = asyncio.create_task(self._drain(key, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        waiting.append((entry_id, message))

    async def close(self) -> None:
        """Stop every lane; what they had not acked is read again on the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self, key: str, waiting: deque[tuple[str, OutboxMessage]]) -> None:
        while waiting:
            entry_id, message = waiting[0]
            await self._deliver_one(entry_id, message)
            try:
                await self._outbox.ack(self._platform, entry_id, chat_id=self._chat_id)
            except RedisError as exc:  # delivered; a restart may deliver it once more
                logger.warning("outbox ack of %s failed: %s", entry_id, exc)
            waiting.popleft()
        # No await since the loop saw the deque empty, so nothing was added meanwhile.
        del self._waiting[key]

    async def _deliver_one(self, entry_id: str, message: OutboxMessage) -> None:
        """Try a few times, waiting longer each time; then give up so the chat moves on."""
        outcomes = metrics.OUTBOX_DELIVERIES
        platform = metrics.platform_label(self._platform)
        for attempt in range(1, MAX_DELIVERY_ATTEMPTS + 1):
            try:
                await self._deliver(message)
                outcomes.labels(platform, "delivered").inc()
                return
            except Exception:
                # A chat that blocked the bot or vanished must not stall the outbox forever.
                logger.exception(
                    "outbox delivery %s to %s failed (attempt %d/%d)",
                    entry_id,
                    message.chat.key,
                    attempt,
                    MAX_DELIVERY_ATTEMPTS,
                )
            if attempt < MAX_DELIVERY_ATTEMPTS:
                await asyncio.sleep(RETRY_DELAY_SECONDS * attempt)
        outcomes.labels(platform, "failed").inc()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stop_if_cancelled() -> None:
    """Honour a cancel that redis-py swallowed or turned into its own TimeoutError.

    A cancel landing while a blocking XREADGROUP is being sent can come back as a normal
    return or a `redis.exceptions.TimeoutError`; the task still counts it as requested.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
