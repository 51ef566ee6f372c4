"""The core's events and the outbox's progress as server-sent events for the page.

Unlike the chat platforms, the browser renders the stream itself (no message length, no
edit rate limit), so events go out as they come instead of through `bots.delivery`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import Done, Incoming, Notice, OutboxMessage, Platform, TextDelta

logger = logging.getLogger(__name__)

# A comment line this often keeps proxies from closing a quiet progress stream.
KEEPALIVE_SECONDS = 15.0


def sse(event: str, data: object) -> str:
    """One server-sent event with a JSON payload."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def notice_json(notice: Notice) -> dict[str, Any]:
    """A notice as JSON; an attached file travels inline (transcripts, exports)."""
    shown: dict[str, Any] = {
        "text": notice.text,
        "is_error": notice.is_error,
        "status_key": notice.status_key,
    }
    if notice.file_data:
        shown["file_name"] = notice.file_name
        shown["file_base64"] = base64.b64encode(notice.file_data).decode()
    return shown


async def chat_events(service: ChatService, incoming: Incoming) -> AsyncIterator[str]:
    """Answer one message: `delta`s, then `done` with the passages behind it; `notice`s."""
    try:
        async for event in service.handle(incoming):
            match event:
                case TextDelta(text=text):
                    yield sse("delta", {"text": text})
                case Done(text=text):
                    retrieval = service.deps.knowledge.retrieval
                    passages = await retrieval.last_sources(incoming.conversation_key)
                    yield sse("done", {"text": text, "sources": passages})
                case Notice() as notice:
                    yield sse("notice", notice_json(notice))
    except Exception:
        # Log first, so the failure is recorded even if telling the page fails too.
        logger.exception("could not answer a message from the web page")
        locale = service.deps.settings.default_locale
        yield sse("notice", {"text": t("error_generic", locale), "is_error": True})


class ProgressFanOut:
    """One outbox reader per identity in this process, shared by all its open pages.

    The outbox hands each message to one reader of a consumer group, so two tabs with
    readers of their own would each see only part of a document's progress.
    """

    def __init__(self, deps: CoreDeps) -> None:
        self._deps = deps
        self._listeners: dict[str, set[asyncio.Queue[OutboxMessage]]] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}

    @contextlib.asynccontextmanager
    async def listen(self, identity: str) -> AsyncIterator[asyncio.Queue[OutboxMessage]]:
        """A queue of this identity's progress messages while the caller listens."""
        queue: asyncio.Queue[OutboxMessage] = asyncio.Queue()
        self._listeners.setdefault(identity, set()).add(queue)
        if identity not in self._readers:
            self._readers[identity] = asyncio.create_task(self._read(identity))
        try:
            yield queue
        finally:
            listeners = self._listeners[identity]
            listeners.discard(queue)
            if not listeners:  # the last page closed: stop reading (the rest waits in Redis)
                del self._listeners[identity]
                reader = self._readers.pop(identity)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _read(self, identity: str) -> None:
        async def deliver(message: OutboxMessage) -> None:
            for queue in self._listeners.get(identity, ()):
                queue.put_nowait(message)

        consumer = f"web-{self._deps.settings.replica()}"
        await self._deps.outbox.deliver_forever(Platform.WEB, consumer, deliver, chat_id=identity)


async def progress_events(fan_out: ProgressFanOut, identity: str) -> AsyncIterator[str]:
    """Outbox messages for this identity's web stream (job progress), until disconnected."""
    async with fan_out.listen(identity) as arrived:
        yield ": listening\n\n"
        while True:
            try:
                message = await asyncio.wait_for(arrived.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield sse(
                "progress",
                {"status_key": message.status_key, "text": message.text, "final": message.is_final},
            )
