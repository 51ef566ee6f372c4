"""The platform-neutral chat service: one `Incoming` in, a stream of events out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import psycopg
import redis.exceptions
from langchain_core.messages.utils import count_tokens_approximately

from core import metrics
from core.agent.errors import AgentGaveUp
from core.agent.mode import can_call_tools, is_agent_on
from core.agent.tools.base import ToolContext
from core.chat import stream_answer
from core.commands import COMMANDS, CommandContext
from core.deps import CoreDeps
from core.errors import explain
from core.i18n import detect_language, normalise_locale, t
from core.jobs import SUMMARISE_CONVERSATION
from core.knowledge.answer import (
    best_sentence,
    extractive_answer,
    sources_block,
    stream_grounded_answer,
)
from core.knowledge.index import EmbeddingModelChanged, Passage
from core.knowledge.web import find_urls
from core.llm import ModelError, ModelFailure, quotes_grounded_answers, within_deadline
from core.media.transcription import TranscriptionError
from core.memory import Conversation, new_turn
from core.sanitize import cleaned
from core.types import Attachment, Command, Done, Event, Incoming, Notice, TextDelta
from core.users import UserRecord

if TYPE_CHECKING:
    from core.agent.run import AgentTurn

logger = logging.getLogger(__name__)

# Postgres or Redis unreachable (restarting, say): the pools reconnect once it is back.
OUTAGE_ERRORS = (psycopg.OperationalError, redis.exceptions.ConnectionError)

# Voice notes up to this long are heard and answered; longer recordings become knowledge.
VOICE_NOTE_MAX_SECONDS = 120.0


def short_voice_note(incoming: Incoming) -> Attachment | None:
    """The voice note to answer, when the message is one (unknown length: try it)."""
    voices = [a for a in incoming.attachments if a.is_voice]
    if len(voices) != 1 or len(incoming.attachments) != 1:
        return None
    duration = voices[0].duration_seconds
    return voices[0] if duration is None or duration <= VOICE_NOTE_MAX_SECONDS else None


async def _streamed(text: str) -> AsyncIterator[str]:
    """A ready answer as a one-chunk stream, so it takes the path of a generated one."""
    yield text


# /ask is chat by command (the way to talk through Discord slash commands); where there
# are documents it makes the answer come from them.
ASK_COMMAND = "ask"


class ChatService:
    """Routes a message to a command, to the knowledge base or to the model."""

    def __init__(self, deps: CoreDeps) -> None:
        self.deps = deps

    async def handle(self, incoming: Incoming) -> AsyncIterator[Event]:
        """Answer one message; yields nothing when a group message was not meant for the bot.

        While Postgres or Redis is down (a restart), the user is told to try again shortly.
        """
        try:
            async for event in self._handle(incoming):
                yield event
        except OUTAGE_ERRORS as exc:
            logger.warning(
                "message from %s not handled, a service is down: %r", incoming.user.key, exc
            )
            locale = normalise_locale(incoming.language_hint) or self.deps.settings.default_locale
            yield Notice(t("service_unavailable", locale), is_error=True)

    async def _handle(self, incoming: Incoming) -> AsyncIterator[Event]:
        if not self.should_answer(incoming):
            return
        limits = self.deps.limits
        if not await limits.is_first_delivery(incoming.delivery_id):
            return  # the platform redelivered it: it was handled (or is being handled)
        metrics.count_message(incoming)
        incoming = cleaned(incoming)
        said = incoming.text or (incoming.command.args if incoming.command else "")
        for link in find_urls(said):  # a bare link says nothing about the user's language
            said = said.replace(link, " ")
        user = await self.deps.users.touch(incoming.user, detected_locale=detect_language(said))
        incoming = replace(incoming, person=user.person)
        locale = self.resolve_locale(user, incoming)
        if (refusal := await limits.admit(user, locale)) is not None:
            if not refusal.is_quiet:
                yield Notice(refusal.text, is_error=True)
            return
        is_ask = False
        if incoming.command is not None and incoming.command.name == ASK_COMMAND:
            is_ask = True
            incoming = replace(incoming, text=incoming.command.args, command=None)
        if incoming.unsupported:
            what = ", ".join(t(f"content_{kind}", locale) for kind in incoming.unsupported)
            yield Notice(t("unsupported_content", locale, what=what))
            if not (incoming.text.strip() or incoming.attachments or incoming.command):
                return
        if incoming.command:
            answer = await self._run_command(incoming.command, incoming, user, locale)
            yield answer if isinstance(answer, Notice) else Notice(answer)
            return
        if (voice := short_voice_note(incoming)) is not None:
            try:
                heard = await self._hear(voice, locale)
            except TranscriptionError as exc:
                if exc.reason != "too_long":
                    yield Notice(t("voice_not_heard", locale), is_error=True)
                    return
                heard = None  # longer than a note: index it like any recording
            if heard is not None:
                if not heard:
                    yield Notice(t("voice_not_heard", locale), is_error=True)
                    return
                yield Notice(t("voice_heard", locale, text=heard))
                incoming = replace(incoming, text=heard, attachments=())
        if incoming.attachments or find_urls(incoming.text):
            if (refusal := await limits.check_pending_documents(user, locale)) is not None:
                yield Notice(refusal.text, is_error=True)
                return
            async for event in self._learn(incoming, locale):
                yield event
            return
        if not incoming.text.strip():
            yield Notice(t("empty_message", locale))
            return
        if (refusal := await limits.check_quota(user, incoming.owner, locale)) is not None:
            yield Notice(refusal.text, is_error=True)
            return
        async for event in self._answer(incoming, user, locale, is_ask=is_ask):
            yield event

    async def document_choices(self, incoming: Incoming, typed: str) -> list[tuple[str, str]]:
        """(title, short id) of this chat's documents matching what was typed, to pick from."""
        documents = await self.deps.knowledge.retrieval.matching(incoming, typed)
        return [(document.title, document.short_id) for document in documents]

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
    ) -> str | Notice:
        handler = COMMANDS.get(command.name)
        if handler is None:
            return t("unknown_command", locale, command=command.name)
        context = CommandContext(incoming=incoming, user=user, locale=locale, deps=self.deps)
        return await handler(context)

    async def _hear(self, voice: Attachment, locale: str) -> str:
        """Transcribe a short voice note here, not in a job: the user waits for the answer."""
        if voice.fetch is None:
            raise TranscriptionError("broken", "attachment without bytes")
        data = await voice.fetch()
        return await self.deps.knowledge.media.hear(
            data, locale=locale, max_seconds=VOICE_NOTE_MAX_SECONDS
        )

    async def _learn(self, incoming: Incoming, locale: str) -> AsyncIterator[Event]:
        """Files and links become documents; each gets a status message that jobs update."""
        intake = self.deps.knowledge.intake
        links = await intake.expand_playlists(find_urls(incoming.text))
        takes = [partial(intake.add_file, incoming, a, locale) for a in incoming.attachments]
        takes += [partial(intake.add_url, incoming, link, locale) for link in links]
        for take in takes:
            notice = await take()
            yield notice
            # Only now, with the status message shown, may the job start editing it.
            if notice.status_key:
                await intake.start_indexing(notice.status_key, incoming, locale)

    async def _answer(
        self, incoming: Incoming, user: UserRecord, locale: str, *, is_ask: bool
    ) -> AsyncIterator[Event]:
        deps = self.deps
        timer = metrics.AnswerTimer(incoming.front_end.platform)
        key = incoming.conversation_key
        conversation = await deps.memory.load(key)
        turn: AgentTurn | None = None
        if await is_agent_on(deps.redis, key, default=deps.settings.agent_mode_default):
            turn = self._agent_turn(incoming, user, locale)
            if turn is None:  # the model cannot call tools: the usual answer, said so once
                yield Notice(t("agent_no_tools", locale, model=deps.models.resolve(user.model)))
        stream: AsyncIterator[str | Notice]
        if turn is not None:
            passages = turn.passages  # filled as the agent searches the documents
            stream = turn.stream(conversation)
            answer_within = deps.settings.agent_timeout_seconds
        else:
            retrieval = deps.knowledge.retrieval
            try:
                passages = await retrieval.evidence(incoming, incoming.text)
            except EmbeddingModelChanged as exc:
                logger.error("knowledge base unusable: %s", exc)
                if is_ask:
                    yield Notice(explain(exc, locale), is_error=True)
                    return
                passages = []
            if is_ask and not passages and await retrieval.has_documents(incoming):
                # /ask means "from my documents": say so rather than answer from general
                # knowledge.
                yield Notice(t("kb_not_found", locale))
                return
            stream = self._stream(incoming, user, locale, conversation, passages)
            answer_within = deps.settings.llm_timeout_seconds
        parts: list[str] = []
        unsent = ""  # whitespace waits for visible text, so a blank answer shows nothing
        try:
            async for chunk in within_deadline(stream, answer_within, slots=deps.answer_slots):
                if isinstance(chunk, Notice):
                    # A tool call starts: text before it was the model thinking aloud.
                    parts.clear()
                    unsent = ""
                    yield chunk
                    continue
                parts.append(chunk)
                unsent += chunk
                if unsent.strip():
                    timer.text_shown()
                    yield TextDelta(unsent)
                    unsent = ""
        except Exception as exc:
            # The conversation is left as it was: a failed turn is not remembered.
            if turn is not None and isinstance(exc, AgentGaveUp | TimeoutError):
                gave_up = (
                    exc
                    if isinstance(exc, AgentGaveUp)
                    else AgentGaveUp("agent_time", seconds=f"{answer_within:g}")
                )
                logger.info("agent gave up for %s: %s", key, gave_up)
                yield Notice(explain(gave_up, locale), is_error=True)
                return
            error = ModelError.of(exc)
            metrics.MODEL_FAILURES.labels(error.failure.value).inc()
            if error.failure is ModelFailure.GENERIC:  # not a model outage: a bug to fix
                logger.exception("model call failed for %s", key)
            else:
                logger.warning("model call failed for %s (%s): %r", key, error.failure, exc)
            yield Notice(explain(error, locale), is_error=True)
            return
        answer = "".join(parts).strip()
        if not answer:
            # Nothing to show and nothing worth remembering: ask for another wording.
            yield Notice(t("answer_empty", locale), is_error=True)
            return
        # Each passage's quote, shown under the answer and kept for /sources.
        quotes = [best_sentence(p.text, incoming.text, answer) for p in passages]
        await self._remember(incoming, locale, conversation, answer, passages, quotes)
        if passages:
            sources = sources_block(answer, passages, quotes, t("kb_sources", locale))
            answer = f"{answer}\n\n{sources}"
        timer.done()
        yield Done(answer)

    def _agent_turn(self, incoming: Incoming, user: UserRecord, locale: str) -> AgentTurn | None:
        """An agent answer over the user's model, or None when that model calls no tools."""
        # LangGraph and the agent middleware load on the first agent answer, not in every
        # bot process (BENCHMARKS.md: footprint).
        from core.agent.run import AgentTurn

        deps = self.deps
        name = deps.models.resolve(user.model)
        model = deps.models.get(user.model)
        if not can_call_tools(model, name):
            return None
        knowledge = deps.knowledge
        context = ToolContext(deps.settings, incoming, locale, knowledge.retrieval, knowledge.media)
        return AgentTurn(
            model,
            context,
            deps.traces,
            deps.mcp,
            model_name=name,
            system_prompt=deps.settings.system_prompt,
        )

    def _stream(
        self,
        incoming: Incoming,
        user: UserRecord,
        locale: str,
        conversation: Conversation,
        passages: list[Passage],
    ) -> AsyncIterator[str]:
        model = self.deps.models.get(user.model)
        system_prompt = self.deps.settings.system_prompt
        if not passages:
            return stream_answer(
                model, system_prompt=system_prompt, conversation=conversation, text=incoming.text
            )
        if quotes_grounded_answers(self.deps.settings):
            note = t("kb_extractive_note", locale)
            return _streamed(extractive_answer(incoming.text, passages, note))
        return stream_grounded_answer(
            model,
            system_prompt=system_prompt,
            conversation=conversation,
            question=incoming.text,
            passages=passages,
            not_found=t("kb_not_found", locale),
        )

    async def _remember(
        self,
        incoming: Incoming,
        locale: str,
        conversation: Conversation,
        answer: str,
        passages: list[Passage],
        quotes: list[str],
    ) -> None:
        """Keep the turn, its sources and usage; hand overflow to the summary job."""
        deps = self.deps
        key = incoming.conversation_key
        result = await deps.memory.append(
            key, new_turn("human", incoming.text), new_turn("ai", answer)
        )
        await deps.knowledge.retrieval.remember_sources(key, passages, quotes)
        if result.needs_summary:
            await deps.jobs.defer(
                SUMMARISE_CONVERSATION,
                lock=f"summary:{key}",
                conversation_key=key,
                chat_id=incoming.front_end.id,
                platform=incoming.front_end.platform.value,
                is_private=incoming.front_end.is_private,
                locale=locale,
            )
        input_tokens = count_tokens_approximately([incoming.text]) + conversation.tokens
        output_tokens = count_tokens_approximately([answer])
        metrics.count_tokens(input_tokens=input_tokens, output_tokens=output_tokens)
        await deps.users.record_usage(
            incoming.owner, input_tokens=input_tokens, output_tokens=output_tokens
        )
