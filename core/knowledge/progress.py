"""Where a document job reports, and how: edits of the chat's status message via the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from core.outbox import Outbox
from core.types import ChatRef, OutboxMessage, Platform


class TargetArgs(TypedDict):
    """A `JobTarget` as job arguments (procrastinate takes JSON values)."""

    platform: str
    chat_id: str
    is_private: bool
    user_key: str
    locale: str
    is_silent: bool


@dataclass(frozen=True)
class JobTarget:
    """Where a job reports: the chat, the person, and their language."""

    chat: ChatRef
    user_key: str
    locale: str
    is_silent: bool = False  # reindexing reports to nobody

    def as_kwargs(self) -> TargetArgs:
        return {
            "platform": self.chat.platform.value,
            "chat_id": self.chat.id,
            "is_private": self.chat.is_private,
            "user_key": self.user_key,
            "locale": self.locale,
            "is_silent": self.is_silent,
        }

    @classmethod
    def from_kwargs(
        cls,
        *,
        platform: str,
        chat_id: str,
        is_private: bool,
        user_key: str,
        locale: str,
        is_silent: bool = False,
    ) -> JobTarget:
        chat = ChatRef(Platform(platform), chat_id, is_private)
        return cls(chat, user_key, locale, is_silent)


class Progress:
    """Publishes a document's progress as edits of the status message under its id."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def report(self, target: JobTarget, document_id: str, text: str, *, final: bool) -> None:
        if target.is_silent:
            return
        await self._outbox.publish(
            OutboxMessage(
                chat=target.chat,
                text=text,
                user_key=target.user_key,
                status_key=document_id,
                is_final=final,
            )
        )
