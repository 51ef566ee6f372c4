"""The delivery layer, platform-neutral: streaming by throttled edits, flood control,
typing, notices and status messages, on a recording messenger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from bots.delivery import (
    MessageGone,
    RateLimited,
    StreamingReply,
    deliver_events,
    deliver_outbox_message,
)
from core.outbox import Outbox
from core.types import ChatRef, Done, Event, Notice, OutboxMessage, Platform, TextDelta

CURSOR = " ▌"


class RecordingMessenger:
    """A platform that records what it shows, and can refuse once with a wait."""

    limit = 2000
    typing_interval_seconds = 0.01
    streaming_cursor = CURSOR

    def __init__(self, *, edit_interval_seconds: float = 0.0, limit: int = 2000) -> None:
        self.edit_interval_seconds = edit_interval_seconds
        self.limit = limit
        self.messages: list[str] = []
        self.edits = 0
        self.log: list[tuple[str, float]] = []  # (what, when)
        self.rate_limit_next: float | None = None
        self.gone: set[int] = set()
        self.files: list[str] = []

    def measure(self, text: str, *, is_formatted: bool) -> int:
        return len(text)

    def _maybe_limit(self) -> None:
        if self.rate_limit_next is not None:
            wait, self.rate_limit_next = self.rate_limit_next, None
            self.log.append(("429", time.monotonic()))
            raise RateLimited(wait)

    async def send(self, text: str, *, is_formatted: bool) -> int:
        self._maybe_limit()
        self.messages.append(text)
        self.log.append(("send", time.monotonic()))
        return len(self.messages) - 1

    async def edit(self, handle: int, text: str, *, is_formatted: bool) -> None:
        if handle in self.gone:
            raise MessageGone("deleted")
        self._maybe_limit()
        self.messages[handle] = text
        self.edits += 1
        self.log.append(("edit", time.monotonic()))

    async def send_file(self, file_name: str, data: bytes) -> None:
        self.files.append(file_name)

    async def show_typing(self) -> None:
        self.log.append(("typing", time.monotonic()))

    def reference(self, handle: int) -> str:
        return f"chat:{handle}"

    def message_at(self, reference: str) -> int | None:
        return int(reference.rpartition(":")[2])


async def test_edits_are_throttled_and_the_final_text_has_no_cursor() -> None:
    messenger = RecordingMessenger(edit_interval_seconds=60)
    reply = StreamingReply(messenger)
    for word in ["one ", "two ", "three"]:
        await reply.add(word)
    assert messenger.messages == ["one" + CURSOR]  # later deltas wait for the interval
    await reply.finish()  # the final text does not wait for the interval
    assert messenger.messages == ["one two three"] and messenger.edits == 1


async def test_a_growing_answer_spills_into_new_messages() -> None:
    messenger = RecordingMessenger(limit=100)
    reply = StreamingReply(messenger)
    for i in range(30):
        await reply.add(f"sentence {i:02d}. ")
    await reply.finish()
    assert len(messenger.messages) > 1 and all(len(m) <= 100 for m in messenger.messages)
    assert "".join(messenger.messages).count("sentence") == 30
    assert not any(m.endswith(CURSOR) for m in messenger.messages)


async def test_flood_control_skips_an_edit_but_the_final_text_arrives() -> None:
    messenger = RecordingMessenger()
    reply = StreamingReply(messenger)
    await reply.add("first")
    messenger.rate_limit_next = 0.01
    await reply.add(" second")  # refused: skipped, not fatal
    messenger.rate_limit_next = 0.01
    await reply.finish("first second third")  # refused once, then retried after the wait
    assert messenger.messages == ["first second third"]


async def test_a_wait_asked_for_mid_stream_holds_for_the_final_edit() -> None:
    messenger = RecordingMessenger()
    reply = StreamingReply(messenger)
    await reply.add("first")
    messenger.rate_limit_next = 0.3
    await reply.add(" second")  # 429: wait 0.3 s
    await reply.finish("first second")
    (limited_at,) = [when for what, when in messenger.log if what == "429"]
    (final_at,) = [when for what, when in messenger.log if what == "edit"]
    assert final_at - limited_at >= 0.3
    assert messenger.messages == ["first second"]


async def test_nothing_is_sent_for_an_empty_answer() -> None:
    messenger = RecordingMessenger()
    await StreamingReply(messenger).finish("   ")
    assert messenger.messages == []


async def test_typing_lasts_until_the_answer_starts_not_the_first_notice() -> None:
    messenger = RecordingMessenger()
    heard = asyncio.Event()

    async def events() -> AsyncIterator[Event]:
        yield Notice("🎤 I heard: hello")
        heard.set()
        await asyncio.sleep(0.1)  # the model thinks
        yield TextDelta("Hello")
        await asyncio.sleep(0.1)
        yield Done("Hello there")

    shown = await deliver_events(events(), messenger, show_typing=True)

    notice_at = next(when for what, when in messenger.log if what == "send")
    answer_at = [when for what, when in messenger.log if what == "send"][1]
    typing = [when for what, when in messenger.log if what == "typing"]
    assert any(notice_at < when < answer_at for when in typing), "typing kept after the notice"
    assert not any(when > answer_at for when in typing), "typing stopped once text came"
    assert messenger.messages == ["🎤 I heard: hello", "Hello there"]
    assert shown == 2


async def test_a_notice_after_partial_text_leaves_it_and_sends_its_file() -> None:
    messenger = RecordingMessenger()
    remembered: list[tuple[str, str]] = []

    async def on_status(status_key: str, reference: str) -> None:
        remembered.append((status_key, reference))

    async def events() -> AsyncIterator[Event]:
        yield TextDelta("Partial")
        yield Notice("Indexing report.pdf…", status_key="doc-1", file_name="a.txt", file_data=b"x")

    await deliver_events(events(), messenger, on_status=on_status)

    assert messenger.messages == ["Partial", "Indexing report.pdf…"]
    assert messenger.files == ["a.txt"]
    assert remembered == [("doc-1", "chat:1")]


async def test_outbox_updates_edit_the_status_message_or_replace_a_deleted_one(
    deps: Any,
) -> None:
    outbox: Outbox = deps.outbox
    messenger = RecordingMessenger()
    chat = ChatRef(Platform.TELEGRAM, "1", is_private=True)

    def update(text: str) -> OutboxMessage:
        return OutboxMessage(chat, text, status_key="doc-9", is_final=False)

    await deliver_outbox_message(messenger, outbox, Platform.TELEGRAM, update("reading…"))
    await deliver_outbox_message(messenger, outbox, Platform.TELEGRAM, update("50%"))
    assert messenger.messages == ["50%"]

    messenger.gone.add(0)
    await deliver_outbox_message(messenger, outbox, Platform.TELEGRAM, update("done"))
    await deliver_outbox_message(messenger, outbox, Platform.TELEGRAM, update("done!"))

    assert messenger.messages == ["50%", "done!"]
    assert await outbox.status_message(Platform.TELEGRAM, "doc-9") == "chat:1"
