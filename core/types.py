"""Platform-neutral messages in and events out; adapters translate to and from these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Platform(StrEnum):
    """Namespaces for identities, so ids from two platforms never collide."""

    TELEGRAM = "tg"
    DISCORD = "dc"
    CONSOLE = "cli"
    # The web page: it signs in as one of the identities above and only names where
    # its job progress is delivered (an outbox stream per identity), never an identity.
    WEB = "web"


@dataclass(frozen=True)
class Identity:
    """A person on one platform, written `tg:<id>`, `dc:<id>` or `cli:<name>`."""

    platform: Platform
    id: str
    display_name: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.id}"


@dataclass(frozen=True)
class ChatRef:
    """Where a message was said: a private chat, a group, a guild channel or thread."""

    platform: Platform
    id: str
    is_private: bool

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.id}"


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message; its bytes are fetched only once the size is accepted."""

    file_name: str
    mime_type: str
    size_bytes: int
    platform_file_id: str
    fetch: Callable[[], Awaitable[bytes]] | None = field(default=None, compare=False, repr=False)
    # A voice note or audio message: short ones are heard and answered like typed text.
    is_voice: bool = False
    duration_seconds: float | None = None


@dataclass(frozen=True)
class Command:
    """A slash command with its raw argument string (`/model gpt-4o` → `model`, `gpt-4o`)."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Incoming:
    """One message as the core sees it, whatever platform it came from."""

    user: Identity
    chat: ChatRef
    text: str
    command: Command | None = None
    is_addressed: bool = False  # mentioned or replied to, in a group
    language_hint: str | None = None  # the platform's locale for this user, if any
    attachments: tuple[Attachment, ...] = ()
    # The platform's id of this delivery (an update, an interaction): handled once.
    delivery_id: str = ""
    # The person this identity is linked to with /link (their first identity), if any.
    person: str = ""
    # Content sent along that the bot cannot use (e.g. "photo", "sticker"): said so.
    unsupported: tuple[str, ...] = ()
    # Asks the platform whether the sender administers this group (asked only when needed).
    chat_admin_check: Callable[[], Awaitable[bool]] | None = field(
        default=None, compare=False, repr=False
    )
    # The front end it came through when that is not the chat's own platform (the web
    # page, signed in as this chat's identity): job progress goes there, and metrics say so.
    via: ChatRef | None = None

    async def is_chat_admin(self) -> bool:
        """Whether the sender administers this group or server (never in private chats)."""
        if self.chat.is_private or self.chat_admin_check is None:
            return False
        return await self.chat_admin_check()

    @property
    def owner(self) -> str:
        """Who this is, across platforms: the person the identity is linked to, or itself."""
        return self.person or self.user.key

    @property
    def front_end(self) -> ChatRef:
        """Where this message was typed, so where the jobs it starts report their progress."""
        return self.via or self.chat

    @property
    def conversation_key(self) -> str:
        """Memory is per (user, chat): group members each get their own conversation.

        A person linked across platforms has one private conversation wherever they write.
        """
        if self.person and self.chat.is_private:
            return f"{self.person}|private"
        return f"{self.owner}|{self.chat.key}"


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as it streams in."""

    text: str


@dataclass(frozen=True)
class Notice:
    """A standalone message: command output, a friendly error, a status line.

    A notice with a `status_key` starts a status message that later outbox messages with
    the same key edit (job progress).
    """

    text: str
    is_error: bool = False
    status_key: str = ""
    # A file to send with the notice (e.g. a transcript as .txt).
    file_name: str = ""
    file_data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Done:
    """The streamed answer is complete; `text` is the whole answer."""

    text: str
    finish_reason: str = "stop"


Event = TextDelta | Notice | Done


@dataclass(frozen=True)
class OutboxMessage:
    """Something a worker wants a bot to deliver to a chat later.

    With a `status_key` it edits the status message shown under that key (sending a new
    one if there is none); `is_final` marks the job's last word on that key.
    """

    chat: ChatRef
    text: str
    user_key: str = ""
    status_key: str = ""
    is_final: bool = True
