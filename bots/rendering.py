"""Platform-neutral reply rendering: splitting long text and streaming by throttled edits.

Each adapter supplies a `MessageSink` (send/edit on its platform) and its length limit;
the logic of when to edit, when to start a new message and how to survive flood control
lives here once.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

EDIT_INTERVAL_SECONDS = 1.2
STREAMING_CURSOR = " ▌"
MAX_FINAL_ATTEMPTS = 5

_FENCE = re.compile(r"^\s*```(\S*)", re.MULTILINE)


class RateLimited(Exception):
    """The platform asked us to wait before the next send or edit."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class MessageSink(Protocol):
    """How one platform sends a new message and edits a sent one."""

    async def send(self, text: str) -> Any: ...

    async def edit(self, handle: Any, text: str) -> None: ...


def split_text(text: str, limit: int) -> list[str]:
    """Split into pieces of at most `limit` characters at paragraph, line or word breaks.

    A piece that ends inside a ``` code block closes it, and the next piece reopens it
    with the same language, so every piece renders on its own.
    """
    if limit < 32:
        raise ValueError("limit too small to split sensibly")
    pieces: list[str] = []
    rest = text.strip()
    reopen = ""
    while rest:
        budget = limit - len(reopen)
        if len(rest) <= budget:
            pieces.append(reopen + rest)
            break
        # Reserve room for a closing fence in case the cut lands inside a code block.
        cut = _cut_point(rest, budget - 4)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n ")
        piece = reopen + head
        open_language = _open_fence_language(piece)
        if open_language is not None:
            piece += "\n```"
            reopen = f"```{open_language}\n"
        else:
            reopen = ""
        pieces.append(piece)
    return pieces or [""]


def _cut_point(text: str, budget: int) -> int:
    """The best place to cut `text` at or before `budget`: paragraph, line, word, or hard."""
    window = text[: budget + 1]
    for separator in ("\n\n", "\n", " "):
        position = window.rfind(separator)
        if position > budget // 3:
            return position
    return budget


def _open_fence_language(text: str) -> str | None:
    """The language of a ``` block left open at the end of `text`, or None if all closed."""
    language: str | None = None
    for match in _FENCE.finditer(text):
        language = match.group(1) if language is None else None
    return language


@dataclass
class StreamingReply:
    """Shows a growing answer as one or more messages, edited at most every interval."""

    sink: MessageSink
    limit: int
    edit_interval_seconds: float = EDIT_INTERVAL_SECONDS
    _text: str = ""
    _sent: list[tuple[Any, str]] = field(default_factory=list)
    _next_edit_at: float = 0.0

    @property
    def sent_count(self) -> int:
        return len(self._sent)

    async def add(self, delta: str) -> None:
        """Append streamed text; flush if the throttle allows."""
        self._text += delta
        if time.monotonic() >= self._next_edit_at and self._text.strip():
            try:
                await self._render(self._text, with_cursor=True)
            except RateLimited as exc:
                self._next_edit_at = time.monotonic() + exc.retry_after_seconds
                return
            self._next_edit_at = time.monotonic() + self.edit_interval_seconds

    async def finish(self, final_text: str | None = None) -> None:
        """Render the complete answer, waiting out flood control if needed."""
        text = final_text if final_text is not None else self._text
        if not text.strip():
            return
        for attempt in range(MAX_FINAL_ATTEMPTS):
            try:
                await self._render(text)
                return
            except RateLimited as exc:
                if attempt == MAX_FINAL_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(exc.retry_after_seconds)

    async def _render(self, text: str, *, with_cursor: bool = False) -> None:
        pieces = split_text(text, self.limit)
        # The cursor only ever rides on the last piece, so it never opens an extra message.
        if with_cursor and len(pieces[-1]) + len(STREAMING_CURSOR) <= self.limit:
            pieces[-1] += STREAMING_CURSOR
        for index, piece in enumerate(pieces):
            if index < len(self._sent):
                handle, shown = self._sent[index]
                if shown != piece:
                    await self.sink.edit(handle, piece)
                    self._sent[index] = (handle, piece)
            else:
                handle = await self.sink.send(piece)
                self._sent.append((handle, piece))
