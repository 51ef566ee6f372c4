"""Builders for core messages, so tests read as conversations."""

from __future__ import annotations

from dataclasses import replace

from core.types import (
    Attachment,
    ChatRef,
    Command,
    Done,
    Event,
    Identity,
    Incoming,
    Notice,
    Platform,
    TextDelta,
)


def private(user: str, text: str = "", *, command: str | None = None, args: str = "") -> Incoming:
    """A message in the user's private chat with the bot (terminal chat identities)."""
    identity = Identity(Platform.CONSOLE, user, display_name=user.title())
    chat = ChatRef(Platform.CONSOLE, user, is_private=True)
    return Incoming(identity, chat, text, command=Command(command, args) if command else None)


def in_group(
    user: str, group: str, text: str = "", *, addressed: bool = True, command: str | None = None
) -> Incoming:
    """A Telegram group message from `user` in `group`."""
    identity = Identity(Platform.TELEGRAM, user, display_name=user)
    chat = ChatRef(Platform.TELEGRAM, group, is_private=False)
    return Incoming(
        identity, chat, text, command=Command(command) if command else None, is_addressed=addressed
    )


async def collect(events) -> list[Event]:
    return [event async for event in events]


def reply_text(events: list[Event]) -> str:
    """The final answer, or the notices joined, as a user would read them."""
    done = [e for e in events if isinstance(e, Done)]
    if done:
        return done[-1].text
    return "\n".join(e.text for e in events if isinstance(e, Notice))


def streamed(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def run_jobs(deps) -> None:  # noqa: ANN001
    """Drain every waiting job with a real procrastinate worker, then stop."""
    await deps.job_app.run_worker_async(
        wait=False, install_signal_handlers=False, additional_context={"deps": deps}
    )


def attachment(file_name: str, data: bytes, mime_type: str = "application/octet-stream"):  # noqa: ANN201
    """A file sent in chat, as adapters build it."""

    async def fetch() -> bytes:
        return data

    return Attachment(file_name, mime_type, len(data), f"test:{file_name}", fetch=fetch)


def with_files(incoming: Incoming, *files: Attachment) -> Incoming:
    return replace(incoming, attachments=tuple(files))
