"""Telegram as a `Messenger`: sends and edits with entities, in UTF-16 units, flood-aware.

Model Markdown is rendered to text plus entities with telegramify-markdown; whatever
Telegram refuses to format is sent again as plain text. Telegram counts a message's
length in UTF-16 code units of the text as shown (after formatting), so that is what
`measure` counts. Flood control comes back as `RateLimited`, a deleted message as
`MessageGone`, and "message is not modified" is no error at all.
"""

from __future__ import annotations

import datetime as dtm
import io
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import telegramify_markdown
from telegram import Bot, InputFile, Message, MessageEntity, ReplyParameters
from telegram.constants import ChatAction, ChatType, MessageLimit
from telegram.error import BadRequest, RetryAfter
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

from bots.delivery import MessageGone, RateLimited, parse_reference
from bots.splitting import utf16_length

logger = logging.getLogger(__name__)

MAX_MESSAGE_UNITS = int(MessageLimit.MAX_TEXT_LENGTH)  # UTF-16 code units
# Telegram allows about one message per second in a chat, and 20 a minute in a group:
# a streamed answer in a group is edited less often, leaving room for other replies.
PRIVATE_EDIT_INTERVAL_SECONDS = 1.2
GROUP_EDIT_INTERVAL_SECONDS = 4.0
# "typing…" fades after about 5 seconds, so it is renewed a little sooner.
TYPING_RENEW_SECONDS = 4.0
STREAMING_CURSOR = " ▌"
# Telegram's flood limit in groups: about 20 messages a minute.
GROUP_MAX_MESSAGES = 20
GROUP_WINDOW_SECONDS = 60.0
# Requests that count against no chat's message budget.
UNTHROTTLED_ENDPOINTS = frozenset({"sendChatAction", "getFile", "getMe", "setMyCommands"})


class ChatRateLimiter(AIORateLimiter):
    """PTB's limiter (30 messages a second, 20 a minute per group), minus typing actions.

    Typing is renewed every few seconds and Telegram does not count it as a message, so
    throttling it would spend a group's budget on nothing. A 429 pauses every request
    for the time Telegram asked, then the request is tried once more.
    """

    def __init__(self) -> None:
        super().__init__(
            group_max_rate=GROUP_MAX_MESSAGES,
            group_time_period=GROUP_WINDOW_SECONDS,
            max_retries=1,
        )

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if endpoint in UNTHROTTLED_ENDPOINTS:
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


@dataclass(frozen=True)
class MessageRef:
    """A sent message by chat and id: all an edit needs."""

    chat_id: int
    message_id: int


SendOrEdit = Callable[[str, Sequence[MessageEntity] | None], Awaitable[Any]]


class TelegramChat:
    """One chat (or forum topic); the first message sent quotes the user's message."""

    limit: int = MAX_MESSAGE_UNITS
    typing_interval_seconds = TYPING_RENEW_SECONDS
    streaming_cursor = STREAMING_CURSOR

    def __init__(
        self,
        bot: Bot,
        chat_id: int | str,
        *,
        is_group: bool = False,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.thread_id = thread_id
        self._reply_to_message_id = reply_to_message_id
        self.edit_interval_seconds = (
            GROUP_EDIT_INTERVAL_SECONDS if is_group else PRIVATE_EDIT_INTERVAL_SECONDS
        )

    @classmethod
    def answering(cls, message: Message) -> TelegramChat:
        """The chat of `message`, in its forum topic, with the answer quoting it."""
        return cls(
            message.get_bot(),
            message.chat_id,
            is_group=message.chat.type != ChatType.PRIVATE,
            reply_to_message_id=message.message_id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
        )

    def measure(self, text: str, *, is_formatted: bool) -> int:
        """UTF-16 units of what Telegram will count: the formatted text and the plain fallback."""
        plain = utf16_length(text)
        if not is_formatted:
            return plain
        rendered = render_markdown(text)
        return plain if rendered is None else max(plain, utf16_length(rendered[0]))

    async def send(self, text: str, *, is_formatted: bool) -> MessageRef:
        reply_to, self._reply_to_message_id = self._reply_to_message_id, None
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None

        async def send_message(body: str, entities: Sequence[MessageEntity] | None) -> Message:
            return await self.bot.send_message(
                self.chat_id,
                body,
                entities=entities,
                reply_parameters=reply,
                message_thread_id=self.thread_id,
            )

        sent: Message = await self._with_fallback(send_message, text, is_formatted)
        return MessageRef(sent.chat_id, sent.message_id)

    async def edit(self, handle: MessageRef, text: str, *, is_formatted: bool) -> None:
        async def edit_message(body: str, entities: Sequence[MessageEntity] | None) -> Any:
            return await self.bot.edit_message_text(
                body, chat_id=handle.chat_id, message_id=handle.message_id, entities=entities
            )

        try:
            await self._with_fallback(edit_message, text, is_formatted)
        except BadRequest as exc:
            if is_message_gone(exc):
                raise MessageGone(str(exc)) from exc
            if not is_not_modified(exc):
                raise

    async def send_file(self, file_name: str, data: bytes) -> None:
        await self.bot.send_document(
            self.chat_id,
            InputFile(io.BytesIO(data), filename=file_name),
            message_thread_id=self.thread_id,
        )

    async def show_typing(self) -> None:
        await self.bot.send_chat_action(
            self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id
        )

    def reference(self, handle: MessageRef) -> str:
        return f"{handle.chat_id}:{handle.message_id}"

    def message_at(self, reference: str) -> MessageRef | None:
        return parse_reference(reference, MessageRef)

    async def _with_fallback(self, request: SendOrEdit, text: str, is_formatted: bool) -> Any:
        """Try formatted, then plain text; flood control becomes `RateLimited`."""
        try:
            rendered = render_markdown(text) if is_formatted else None
            if rendered is not None:
                try:
                    return await request(*rendered)
                except BadRequest as exc:
                    if is_not_modified(exc) or is_message_gone(exc):
                        raise
                    logger.info("Telegram refused formatting (%s); sending plain text", exc)
            return await request(text, None)
        except RetryAfter as exc:
            raise RateLimited(retry_after_seconds(exc)) from exc


def render_markdown(text: str) -> tuple[str, list[MessageEntity]] | None:
    """Model Markdown → Telegram text and entities; None when plain text is the safer choice."""
    try:
        plain, entities = telegramify_markdown.convert(text)
    except Exception:
        # Formatting is a nicety: a converter bug must never cost the user the answer.
        logger.warning("could not render Markdown; sending plain text", exc_info=True)
        return None
    if not plain.strip():
        return None
    return plain, [
        MessageEntity(
            type=entity.type,
            offset=entity.offset,
            length=entity.length,
            url=entity.url,
            language=entity.language,
            custom_emoji_id=entity.custom_emoji_id,
        )
        for entity in entities
    ]


def is_not_modified(error: BadRequest) -> bool:
    """Telegram's answer to an edit that changes nothing: harmless."""
    return "message is not modified" in error.message.lower()


def is_message_gone(error: BadRequest) -> bool:
    """Telegram's answer to editing a message that was deleted (or can no longer be edited)."""
    text = error.message.lower()
    return any(
        reason in text
        for reason in ("message to edit not found", "message can't be edited", "message_id_invalid")
    )


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds, whichever type this PTB version returns."""
    # PTB 22 warns on reading retry_after as int until PTB_TIMEDELTA is set; both are fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return as_seconds(value)


def as_seconds(value: float | dtm.timedelta) -> float:
    """Seconds from a PTB duration, which is a number or (opted into) a timedelta."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)
