"""One delivery layer for every front end: the core's events rendered onto a `Messenger`.

A platform implements `Messenger` once (send, edit, send a file, typing, its length unit
and limit, how to name a sent message); everything else lives here: the streamed reply
edited at a throttled pace, splitting in the platform's own unit, waiting out flood
control, the typing indicator until the answer starts, status messages that jobs edit
later through the outbox, and replacing a status message that was deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from bots.splitting import split_text
from core.outbox import Outbox
from core.types import Done, Event, Notice, OutboxMessage, Platform, TextDelta

logger = logging.getLogger(__name__)

MAX_FINAL_ATTEMPTS = 5


class RateLimited(Exception):
    """The platform asked us to wait before the next send or edit."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class MessageGone(Exception):
    """The message to edit was deleted or can no longer be edited."""


class Messenger(Protocol):
    """One chat on one platform, as the delivery layer drives it.

    `measure` counts in the platform's own unit (Telegram: UTF-16 code units of the text
    as it will be shown, after formatting), which `limit` is expressed in. `send` and
    `edit` raise `RateLimited` under flood control and `edit` raises `MessageGone` when the
    message is no more. Answers are `is_formatted` (the model's Markdown); notices are not.
    """

    limit: int
    edit_interval_seconds: float
    typing_interval_seconds: float
    streaming_cursor: str

    def measure(self, text: str, *, is_formatted: bool) -> int: ...

    async def send(self, text: str, *, is_formatted: bool) -> Any: ...

    async def edit(self, handle: Any, text: str, *, is_formatted: bool) -> None: ...

    async def send_file(self, file_name: str, data: bytes) -> None: ...

    async def show_typing(self) -> None: ...

    def reference(self, handle: Any) -> str:
        """How the outbox remembers a sent message (e.g. `chat_id:message_id`)."""
        ...

    def message_at(self, reference: str) -> Any | None:
        """The message behind a remembered reference, or None when it is malformed."""
        ...


@dataclass
class StreamingReply:
    """Shows a growing text as one or more messages, edited at most every interval."""

    messenger: Messenger
    is_formatted: bool = True
    status: Any | None = None  # a message to take over as the first piece (job status)
    _text: str = ""
    _sent: list[tuple[Any, str]] = field(default_factory=list)
    _next_edit_at: float = 0.0
    _flood_until: float = 0.0  # flood control asked us to wait until then

    @property
    def first(self) -> Any | None:
        """The message that shows the first piece, once there is one."""
        return self._sent[0][0] if self._sent else None

    async def add(self, delta: str) -> None:
        """Append streamed text; show it if the throttle allows."""
        self._text += delta
        if time.monotonic() >= self._next_edit_at and self._text.strip():
            try:
                await self._render(self._text, with_cursor=True)
            except RateLimited as exc:
                self._hold(exc.retry_after_seconds)
                return
            self._next_edit_at = time.monotonic() + self.messenger.edit_interval_seconds

    async def finish(self, final_text: str | None = None) -> None:
        """Show the complete text, after any wait flood control asked for."""
        text = final_text if final_text is not None else self._text
        self._text = text
        if not text.strip():
            return
        for attempt in range(MAX_FINAL_ATTEMPTS):
            # A 429 seen mid-stream still holds: the final edit must not break it.
            await asyncio.sleep(max(0.0, self._flood_until - time.monotonic()))
            try:
                await self._render(text)
                return
            except RateLimited as exc:
                if attempt == MAX_FINAL_ATTEMPTS - 1:
                    raise
                self._hold(exc.retry_after_seconds)

    def _hold(self, seconds: float) -> None:
        """Send nothing more for `seconds`, as the platform asked."""
        self._flood_until = time.monotonic() + seconds
        self._next_edit_at = max(self._next_edit_at, self._flood_until)

    async def _render(self, text: str, *, with_cursor: bool = False) -> None:
        messenger = self.messenger

        def measure(piece: str) -> int:
            return messenger.measure(piece, is_formatted=self.is_formatted)

        def estimate(piece: str) -> int:
            return messenger.measure(piece, is_formatted=False)

        pieces = split_text(text, messenger.limit, measure, estimate)
        cursor = messenger.streaming_cursor
        # The cursor only ever rides on the last piece, so it never opens an extra message.
        if with_cursor and cursor and measure(pieces[-1] + cursor) <= messenger.limit:
            pieces[-1] += cursor
        for index, piece in enumerate(pieces):
            if index < len(self._sent):
                handle, shown = self._sent[index]
                if shown != piece:
                    await messenger.edit(handle, piece, is_formatted=self.is_formatted)
                    self._sent[index] = (handle, piece)
            else:
                self._sent.append((await self._show_new(piece), piece))

    async def _show_new(self, piece: str) -> Any:
        """Send a new message; the first piece takes over the status message if there is one."""
        if not self._sent and self.status is not None:
            status, self.status = self.status, None
            try:
                await self.messenger.edit(status, piece, is_formatted=self.is_formatted)
                return status
            except MessageGone:
                logger.info("status message is gone; sending a new one")
        return await self.messenger.send(piece, is_formatted=self.is_formatted)


class TypingIndicator:
    """Shows "typing…" until stopped, renewed before the platform lets it fade."""

    def __init__(self, messenger: Messenger, *, is_active: bool) -> None:
        self._messenger = messenger
        self._task: asyncio.Task[None] | None = None
        self._is_active = is_active

    async def __aenter__(self) -> TypingIndicator:
        if self._is_active:
            self._task = asyncio.create_task(self._keep_typing())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing; platforms clear the indicator when the reply arrives."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._messenger.show_typing()
            except Exception as exc:
                # Only cosmetic: a failed indicator must never fail or delay the answer.
                logger.debug("typing indicator failed: %r", exc)
            await asyncio.sleep(self._messenger.typing_interval_seconds)


# Told of each status message shown: (status key, the message's reference).
StatusCallback = Callable[[str, str], Awaitable[None]]


def remember_in(outbox: Outbox, platform: Platform) -> StatusCallback:
    """Remember status messages in the outbox, so the job's later updates edit them."""

    async def remember(status_key: str, reference: str) -> None:
        await outbox.remember_status_message(platform, status_key, reference)

    return remember


async def deliver_events(
    events: AsyncIterable[Event],
    messenger: Messenger,
    *,
    on_status: StatusCallback | None = None,
    show_typing: bool = False,
) -> int:
    """Show the core's events: text deltas as one streamed reply, notices on their own.

    Typing shows until the answer itself starts (a notice such as "I heard…" keeps it).
    A notice with a `status_key` starts a status message, passed to `on_status`.
    Returns how many messages were shown.
    """
    reply = StreamingReply(messenger)
    shown = 0
    async with TypingIndicator(messenger, is_active=show_typing) as typing:
        async for event in events:
            match event:
                case TextDelta(text=text):
                    typing.stop()
                    await reply.add(text)
                case Done(text=text):
                    typing.stop()
                    await reply.finish(text)
                case Notice() as notice:
                    # A partial answer stays as far as it got (without the cursor).
                    await reply.finish()
                    first = await show_notice(messenger, notice)
                    shown += first is not None
                    if notice.status_key and on_status is not None and first is not None:
                        await on_status(notice.status_key, messenger.reference(first))
    return shown + (reply.first is not None)


async def show_notice(messenger: Messenger, notice: Notice) -> Any | None:
    """Send a notice (split if long) and its file; returns its first message."""
    reply = StreamingReply(messenger, is_formatted=False)
    await reply.finish(notice.text)
    if notice.file_data:
        await messenger.send_file(notice.file_name, notice.file_data)
    return reply.first


async def deliver_outbox_message(
    messenger: Messenger, outbox: Outbox, platform: Platform, message: OutboxMessage
) -> None:
    """Show one outbox message; one with a `status_key` edits that key's status message.

    Without a remembered status message (a restart, an expired key) or when it was
    deleted, the text goes out as a new message, which later updates then edit.
    """
    remembered = (
        await outbox.status_message(platform, message.status_key) if message.status_key else None
    )
    status = messenger.message_at(remembered) if remembered else None
    # Job results carry the model's Markdown (summaries), so they are formatted.
    reply = StreamingReply(messenger, is_formatted=True, status=status)
    await reply.finish(message.text)
    if message.status_key and reply.first is not None:
        reference = messenger.reference(reply.first)
        if reference != remembered:
            await outbox.remember_status_message(platform, message.status_key, reference)


def parse_reference(reference: str, build: Callable[[int, int], Any]) -> Any | None:
    """`chat_id:message_id` → `build(chat_id, message_id)`; None when malformed."""
    chat_id, _, message_id = reference.rpartition(":")
    with contextlib.suppress(ValueError):
        return build(int(chat_id), int(message_id))
    logger.warning("ignoring a malformed status message reference %r", reference)
    return None
