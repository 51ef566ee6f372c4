"""The platform-neutral chat service: one `Incoming` in, a stream of events out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from langchain_core.messages.utils import count_tokens_approximately

from core.chat import stream_answer
from core.commands import COMMANDS, CommandContext
from core.deps import CoreDeps
from core.i18n import detect_language, normalise_locale, t
from core.jobs import SUMMARISE_CONVERSATION
from core.llm import classify_failure
from core.memory import new_turn
from core.types import Command, Done, Event, Incoming, Notice, TextDelta
from core.users import UserRecord

logger = logging.getLogger(__name__)

# /ask is chat by command: the only way to talk to the bot through Discord slash commands.
ASK_COMMAND = "ask"


class ChatService:
    """Routes a message to a command or to the model, and keeps memory and usage."""

    def __init__(self, deps: CoreDeps) -> None:
        self.deps = deps

    async def handle(self, incoming: Incoming) -> AsyncIterator[Event]:
        """Answer one message; yields nothing when a group message was not meant for the bot."""
        if not self.should_answer(incoming):
            return
        said = incoming.text or (incoming.command.args if incoming.command else "")
        user = await self.deps.users.touch(incoming.user, detected_locale=detect_language(said))
        locale = self.resolve_locale(user, incoming)
        if incoming.command and incoming.command.name == ASK_COMMAND:
            incoming = replace(incoming, text=incoming.command.args, command=None)
        if incoming.command:
            yield Notice(await self._run_command(incoming.command, incoming, user, locale))
            return
        if not incoming.text.strip():
            yield Notice(t("empty_message", locale))
            return
        async for event in self._answer(incoming, user, locale):
            yield event

    @staticmethod
    def should_answer(incoming: Incoming) -> bool:
        """Private chats always; groups only when addressed by mention, reply or command."""
        return incoming.chat.is_private or incoming.is_addressed or incoming.command is not None

    def resolve_locale(self, user: UserRecord, incoming: Incoming) -> str:
        """The /lang choice, else the language the user last wrote in, else the platform's."""
        return (
            user.locale
            or user.last_locale
            or normalise_locale(incoming.language_hint)
            or self.deps.settings.default_locale
        )

    async def _run_command(
        self, command: Command, incoming: Incoming, user: UserRecord, locale: str
    ) -> str:
        handler = COMMANDS.get(command.name)
        if handler is None:
            return t("unknown_command", locale, command=command.name)
        return await handler(
            CommandContext(incoming=incoming, user=user, locale=locale, deps=self.deps)
        )

    async def _answer(
        self, incoming: Incoming, user: UserRecord, locale: str
    ) -> AsyncIterator[Event]:
        deps = self.deps
        key = incoming.conversation_key
        conversation = await deps.memory.load(key)
        model = deps.models.get(user.model)
        parts: list[str] = []
        try:
            async for chunk in stream_answer(
                model,
                system_prompt=deps.settings.system_prompt,
                conversation=conversation,
                text=incoming.text,
            ):
                if chunk:
                    parts.append(chunk)
                    yield TextDelta(chunk)
        except Exception as exc:
            # The conversation is left as it was: a failed turn is not remembered.
            failure = classify_failure(exc)
            logger.warning("model call failed for %s (%s): %r", key, failure, exc, exc_info=True)
            yield Notice(t(f"error_{failure.value}", locale), is_error=True)
            return
        answer = "".join(parts).strip()
        result = await deps.memory.append(
            key, new_turn("human", incoming.text), new_turn("ai", answer)
        )
        if result.needs_summary:
            await deps.jobs.defer(
                SUMMARISE_CONVERSATION,
                lock=f"summary:{key}",
                conversation_key=key,
                chat_id=incoming.chat.id,
                platform=incoming.chat.platform.value,
                is_private=incoming.chat.is_private,
                locale=locale,
            )
        await deps.users.record_usage(
            user.identity,
            input_tokens=count_tokens_approximately([incoming.text]) + conversation.tokens,
            output_tokens=count_tokens_approximately([answer]),
        )
        yield Done(answer)
