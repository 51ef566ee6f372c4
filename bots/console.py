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
import logging
import mimetypes
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from bots.delivery import deliver_events, deliver_outbox_message
from core.commands import command_from_text
from core.deps import CoreDeps
from core.i18n import t
from core.service import ChatService
from core.types import Attachment, ChatRef, Identity, Incoming, OutboxMessage, Platform

logger = logging.getLogger(__name__)

CONSUMER_NAME = "console"
UPLOAD_COMMAND = "upload"
VOICE_COMMAND = "voice"
# How long a piped session waits at the end for the jobs it started.
JOB_WAIT_SECONDS = 900.0
# A terminal takes any length; a limit keeps the splitter's contract.
UNLIMITED_CHARS = 10**9


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


class TerminalChat:
    """The terminal as a `Messenger`: "messages" are lines of output, printed as they grow.

    An edit that extends what was printed prints only what is new, so a streamed answer
    reads as tokens arriving; any other edit prints the new text on its own line.
    """

    limit = UNLIMITED_CHARS
    edit_interval_seconds = 0.0
    typing_interval_seconds = 3600.0
    streaming_cursor = ""

    def __init__(self, stdout: TextIO) -> None:
        self._stdout = stdout
        self._printed: dict[int, str] = {}
        self._open_line = False

    def measure(self, text: str, *, is_formatted: bool) -> int:
        return len(text)

    async def send(self, text: str, *, is_formatted: bool) -> int:
        self._write(("\n" if self._open_line else "") + text)
        handle = len(self._printed)
        self._printed[handle] = text
        return handle

    async def edit(self, handle: int, text: str, *, is_formatted: bool) -> None:
        shown = self._printed.get(handle, "")
        if text.startswith(shown):
            self._write(text[len(shown) :])
        elif text.startswith(shown.strip()):  # the final text comes stripped
            self._write(text[len(shown.strip()) :])
        else:
            self._write(("\n" if self._open_line else "") + text)
        self._printed[handle] = text

    async def send_file(self, file_name: str, data: bytes) -> None:
        """The terminal shows attached text files inline."""
        self.end_line()
        self._write(data.decode(errors="replace"))

    async def show_typing(self) -> None:
        """Tokens appear as they arrive; nothing to show before."""

    def reference(self, handle: int) -> str:
        return str(handle)

    def message_at(self, reference: str) -> None:
        """Printed lines cannot be changed: progress is printed anew."""
        return None

    def end_line(self) -> None:
        """Finish the current line, if one is open."""
        if self._open_line:
            self._write("\n")

    def _write(self, text: str) -> None:
        if text:
            self._stdout.write(text)
            self._stdout.flush()
            self._open_line = not text.endswith("\n")


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
        # Piped output carries results only; a terminal also shows progress as it happens.
        if message.is_final or is_interactive:
            if is_interactive:
                stdout.write("\n")
                message = replace(message, text=f"[{message.text}]")
            terminal = TerminalChat(stdout)
            await deliver_outbox_message(terminal, deps.outbox, Platform.CONSOLE, message)
            terminal.end_line()
        if message.is_final and message.status_key:
            jobs.mark(finished=message.status_key)

    lines = read_lines(stdin)
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
            line = await lines.get()
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


def read_lines(stdin: TextIO) -> asyncio.Queue[str]:
    """Lines of `stdin` as they are typed ("" at the end), read on a daemon thread.

    A thread of the default executor would keep the process alive at exit until the next
    line arrives, so a stop (SIGTERM) would hang on a terminal nobody types in.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = stdin.readline()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the chat has ended and its loop is closed
                return
            if not line:
                return

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return queue


async def answer_line(
    service: ChatService,
    line: str,
    identity: Identity,
    chat: ChatRef,
    stdout: TextIO,
    jobs: JobWatch,
) -> None:
    """Answer one typed line, or say why it cannot be; one failed line never ends the chat."""
    try:
        incoming = parse_line(line, identity, chat)
    except ConsoleInputError as exc:
        stdout.write(f"{exc}\n")
        stdout.flush()
        return
    try:
        await answer(service, incoming, stdout, jobs)
    except Exception:
        # Log first, so the failure is recorded even if printing the apology fails too.
        logger.exception("could not answer a line in the terminal chat")
        stdout.write(t("error_generic", service.deps.settings.default_locale) + "\n")
        stdout.flush()


async def answer(
    service: ChatService, incoming: Incoming, stdout: TextIO, jobs: JobWatch | None = None
) -> None:
    """Print the core's events: tokens as they stream, notices on their own lines."""

    async def on_status(status_key: str, _reference: str) -> None:
        if jobs is not None:
            jobs.mark(started=status_key)

    terminal = TerminalChat(stdout)
    await deliver_events(service.handle(incoming), terminal, on_status=on_status)
    terminal.end_line()
