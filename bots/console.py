"""The terminal chat: the same core as the bots, one line in, a streamed answer out.

Interactive in a terminal (prompt, streamed tokens), and scriptable when piped: each
stdin line is one message and answers go to stdout, nothing else does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TextIO

from core.commands import command_from_text
from core.deps import CoreDeps
from core.service import ChatService
from core.types import (
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


def parse_line(line: str, identity: Identity, chat: ChatRef) -> Incoming:
    """Turn one typed line into an `Incoming`; `/name args` is a command."""
    command = command_from_text(line)
    return Incoming(identity, chat, text="" if command else line.strip(), command=command)


async def chat_loop(
    deps: CoreDeps, *, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Read lines until EOF, answering each; deliver outbox messages meant for this chat."""
    is_interactive = stdin.isatty()
    identity = Identity(Platform.CONSOLE, user, display_name=user)
    chat = ChatRef(Platform.CONSOLE, user, is_private=True)
    service = ChatService(deps)

    async def deliver(message: OutboxMessage) -> None:
        stdout.write(f"\n[{message.text}]\n" if is_interactive else f"{message.text}\n")
        stdout.flush()

    outbox_task = asyncio.create_task(
        deps.outbox.deliver_forever(Platform.CONSOLE, CONSUMER_NAME, deliver, chat_id=chat.id)
    )
    try:
        if is_interactive:
            print(f"Chatting as {user}. /help lists commands; Ctrl-D quits.", file=sys.stderr)
        while True:
            if is_interactive:
                stdout.write(f"{user}> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if line.strip():
                await answer(service, parse_line(line, identity, chat), stdout)
    finally:
        outbox_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await outbox_task


async def answer(service: ChatService, incoming: Incoming, stdout: TextIO) -> None:
    """Print the core's events: tokens as they stream, notices on their own lines."""
    is_streaming = False
    async for event in service.handle(incoming):
        match event:
            case TextDelta(text=text):
                stdout.write(text)
                is_streaming = True
            case Done():
                stdout.write("\n")
                is_streaming = False
            case Notice(text=text):
                if is_streaming:
                    stdout.write("\n")
                    is_streaming = False
                stdout.write(text + "\n")
        stdout.flush()
