"""The terminal chat: the same core as the bots, one line in, a streamed answer out.

Interactive in a terminal (prompt, streamed tokens, job progress as it happens), and
scriptable when piped: each stdin line is one message, answers go to stdout and nothing
else does, and before exiting it waits for the jobs it started and prints their results.
`/upload PATH` sends a local file as an attachment and `/voice PATH` a local audio file
as a voice note (heard and answered like typed text); a link in a message works as in
the bots.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from core.commands import command_from_text
from core.deps import CoreDeps
from core.service import ChatService
from core.types import (
    Attachment,
    ChatRef,
    Done,
    Identity,
    Incoming,
    Notice,
    OutboxMessage,
    Platform,
    TextDelta,
)

CONSUMER_NAME = "console"
UPLOAD_COMMAND = "upload"
VOICE_COMMAND = "voice"
# How long a piped session waits at the end for the jobs it started.
JOB_WAIT_SECONDS = 900.0


class ConsoleInputError(Exception):
    """A line the terminal chat itself cannot act on (e.g. /upload or /voice of a missing file)."""


def local_attachment(path_text: str, *, is_voice: bool = False) -> Attachment:
    """A local file as an attachment, read only when the core accepts its size.

    A voice note's duration is left to the core, which measures what it hears.
    """
    path = Path(path_text.strip().strip("'\"")).expanduser()
    if not path.is_file():
        raise ConsoleInputError(f"No such file: {path}")
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"

    async def read() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    size_bytes = path.stat().st_size
    return Attachment(path.name, mime_type, size_bytes, str(path), fetch=read, is_voice=is_voice)


def parse_line(line: str, identity: Identity, chat: ChatRef) -> Incoming:
    """Turn one typed line into an `Incoming`; `/name args` is a command."""
    command = command_from_text(line)
    if command and command.name in (UPLOAD_COMMAND, VOICE_COMMAND):
        if not command.args:
            raise ConsoleInputError(f"Usage: /{command.name} PATH")
        is_voice = command.name == VOICE_COMMAND
        attachment = local_attachment(command.args, is_voice=is_voice)
        return Incoming(identity, chat, text="", attachments=(attachment,))
    return Incoming(identity, chat, text="" if command else line.strip(), command=command)


@dataclass
class JobWatch:
    """Status keys of jobs this session started, and those that reported their end."""

    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def waiting(self) -> set[str]:
        return self.started - self.finished

    def mark(self, *, started: str = "", finished: str = "") -> None:
        if started:
            self.started.add(started)
        if finished:
            self.finished.add(finished)
        self.changed.set()

    async def wait_all(self) -> None:
        while self.waiting:
            self.changed.clear()
            await self.changed.wait()


async def chat_loop(
    deps: CoreDeps, *, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Read lines until EOF, answering each; deliver outbox messages meant for this chat."""
    is_interactive = stdin.isatty()
    identity = Identity(Platform.CONSOLE, user, display_name=user)
    chat = ChatRef(Platform.CONSOLE, user, is_private=True)
    service = ChatService(deps)
    jobs = JobWatch()

    async def deliver(message: OutboxMessage) -> None:
        if message.is_final or is_interactive:
            stdout.write(f"\n[{message.text}]\n" if is_interactive else f"{message.text}\n")
            stdout.flush()
        if message.is_final and message.status_key:
            jobs.mark(finished=message.status_key)

    outbox_task = asyncio.create_task(
        deps.outbox.deliver_forever(Platform.CONSOLE, CONSUMER_NAME, deliver, chat_id=chat.id)
    )
    try:
        if is_interactive:
            print(
                f"Chatting as {user}. /help lists commands, /upload PATH sends a file, "
                "/voice PATH a voice note, Ctrl-D quits.",
                file=sys.stderr,
            )
        while True:
            if is_interactive:
                stdout.write(f"{user}> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if line.strip():
                await answer_line(service, line, identity, chat, stdout, jobs)
        if jobs.waiting:
            print(f"Waiting for {len(jobs.waiting)} job(s) to finish…", file=sys.stderr)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(jobs.wait_all(), JOB_WAIT_SECONDS)
    finally:
        outbox_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outbox_task


async def answer_line(
    service: ChatService,
    line: str,
    identity: Identity,
    chat: ChatRef,
    stdout: TextIO,
    jobs: JobWatch,
) -> None:
    """Answer one typed line, or say why it cannot be sent."""
    try:
        incoming = parse_line(line, identity, chat)
    except ConsoleInputError as exc:
        stdout.write(f"{exc}\n")
        stdout.flush()
        return
    await answer(service, incoming, stdout, jobs)


async def answer(
    service: ChatService, incoming: Incoming, stdout: TextIO, jobs: JobWatch | None = None
) -> None:
    """Print the core's events: tokens as they stream, notices on their own lines."""
    streamed = ""
    async for event in service.handle(incoming):
        match event:
            case TextDelta(text=text):
                stdout.write(text)
                streamed += text
            case Done(text=text):
                stdout.write(_unprinted_part(text, streamed) + "\n")
                streamed = ""
            case Notice(text=text, status_key=status_key) as event:
                if streamed:
                    stdout.write("\n")
                    streamed = ""
                stdout.write(text + "\n")
                if event.file_data:  # the terminal shows attached text files inline
                    stdout.write(event.file_data.decode(errors="replace"))
                if status_key and jobs is not None:
                    jobs.mark(started=status_key)
        stdout.flush()


def _unprinted_part(final_text: str, streamed: str) -> str:
    """What the final answer adds to the streamed text (e.g. its list of sources)."""
    shown = streamed.strip()
    if shown and final_text.startswith(shown):
        return final_text[len(shown) :]
    return final_text if not shown else "\n" + final_text
