"""The Telegram adapter: Bot API updates in, the core's events out as messages and edits.

Thin on purpose. A text message, or a document, voice note or audio file with its
caption, becomes a `core.types.Incoming`; `ChatService.handle` decides everything else.
Its events come back as one streamed reply (sent, then edited at most every
`EDIT_INTERVAL_SECONDS`, split at Telegram's 4096 characters) and notices as messages of
their own. Model Markdown is rendered to text plus entities with telegramify-markdown;
whatever Telegram refuses to format is sent again as plain text.

A file is downloaded only when the core asks for its bytes, after checking its size.
Voice notes and audio files go in as `is_voice` attachments with their duration: the core
hears short ones and answers them like typed text.
A notice with a `status_key` (a document being indexed) is remembered in the outbox, and
the job's later outbox messages with that key edit it instead of piling up new messages.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import logging
import re
import socket
import warnings
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import telegramify_markdown
from telegram import (
    Audio,
    Bot,
    BotCommand,
    Document,
    InputFile,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    Voice,
)
from telegram.constants import ChatAction, ChatType, MessageEntityType, MessageLimit
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.warnings import PTBDeprecationWarning

from bots.rendering import RateLimited, StreamingReply
from core.commands import COMMAND_DESCRIPTIONS
from core.deps import CoreDeps
from core.i18n import normalise_locale, t
from core.outbox import Outbox
from core.service import ASK_COMMAND, ChatService
from core.settings import ConfigError, Settings
from core.types import (
    Attachment,
    ChatRef,
    Command,
    Done,
    Event,
    Identity,
    Incoming,
    Notice,
    OutboxMessage,
    Platform,
    TextDelta,
)

logger = logging.getLogger(__name__)

# Telegram allows about one message per second per chat, and 20 a minute in groups.
EDIT_INTERVAL_SECONDS = 1.2
# "typing…" fades after about 5 seconds, so it is renewed a little sooner.
TYPING_RENEW_SECONDS = 4.0
MAX_MESSAGE_CHARS = MessageLimit.MAX_TEXT_LENGTH
# Only plain messages matter to this bot; edits, channel posts and the rest are not fetched.
ALLOWED_UPDATES = [Update.MESSAGE]
WEBHOOK_LISTEN_ADDRESS = "0.0.0.0"
# Telegram's menu languages: the default list, then one per language_code.
MENU_LANGUAGES: tuple[tuple[str | None, str], ...] = ((None, "en"), ("pt", "pt-BR"))
# The official Bot API serves bots files up to 20 MB; a self-hosted server has no such cap.
BOT_API_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024
DEFAULT_FILE_NAME = "document"
DEFAULT_MIME_TYPE = "application/octet-stream"
# Telegram voice notes come without a name; they are OGG/Opus.
VOICE_FILE_NAME = "voice.ogg"
VOICE_MIME_TYPE = "audio/ogg"
DEFAULT_AUDIO_FILE_NAME = "audio"
DEFAULT_AUDIO_MIME_TYPE = "audio/mpeg"

# Files the Bot API serves by `file_id` (`getFile`), with the size it announced.
TelegramFile = Document | Voice | Audio


def build_application(deps: CoreDeps) -> Application:
    """One `Application` with its handlers, error handler and command menu."""
    settings = deps.settings
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN: required to run the Telegram bot")
    application = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        # One slow answer must not hold up everybody else's; no handler keeps state here.
        .concurrent_updates(True)
        .post_init(publish_commands)
        .build()
    )
    handlers = TelegramHandlers(ChatService(deps), settings)
    new_messages = filters.UpdateType.MESSAGE
    application.add_handlers(
        [
            MessageHandler(new_messages & filters.COMMAND, handlers.on_command),
            MessageHandler(new_messages & filters.TEXT & ~filters.COMMAND, handlers.on_text),
            MessageHandler(new_messages & filters.Document.ALL, handlers.on_document),
            MessageHandler(new_messages & (filters.VOICE | filters.AUDIO), handlers.on_voice),
        ]
    )
    application.add_error_handler(handlers.on_error)
    return application


async def serve(deps: CoreDeps) -> None:
    """Runs the Telegram bot until cancelled."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    application = build_application(deps)
    async with application:
        # The manual lifecycle never calls post_init (only run_polling/run_webhook do).
        await publish_commands(application)
        await application.start()
        try:
            await start_receiving(application, deps.settings)
            logger.info("Telegram bot @%s is up", application.bot.username)
            await deliver_outbox(deps, application.bot)
        finally:
            # Stop in reverse order; the application refuses to shut down while running.
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()


async def start_receiving(application: Application, settings: Settings) -> None:
    """Poll for updates, or listen on a webhook when TELEGRAM_WEBHOOK_URL is set."""
    updater = application.updater
    assert updater is not None  # the builder always makes one
    url = settings.telegram_webhook_url
    if not url:
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        return
    secret = settings.telegram_webhook_secret
    if secret is None:
        logger.warning("TELEGRAM_WEBHOOK_SECRET is not set: anyone can post fake updates")
    await updater.start_webhook(
        listen=WEBHOOK_LISTEN_ADDRESS,
        port=settings.telegram_webhook_port,
        url_path=urlsplit(url).path.lstrip("/"),
        webhook_url=url,
        allowed_updates=ALLOWED_UPDATES,
        secret_token=secret.get_secret_value() if secret else None,
    )


async def deliver_outbox(deps: CoreDeps, bot: Bot) -> None:
    """Send what workers left in the Telegram outbox, until cancelled."""

    async def deliver(message: OutboxMessage) -> None:
        await deliver_message(deps.outbox, bot, message)

    # A stable name lets a restarted bot pick up what it had read but not delivered.
    consumer = f"telegram@{socket.gethostname()}"
    await deps.outbox.deliver_forever(Platform.TELEGRAM, consumer, deliver)


async def deliver_message(outbox: Outbox, bot: Bot, message: OutboxMessage) -> None:
    """Send one outbox message; one with a `status_key` edits that key's status message.

    Without a remembered status message (a restart, an expired key) or when it was
    deleted, the text goes out as a new message, which later updates then edit.
    """
    status: MessageRef | None = None
    if message.status_key:
        remembered = await outbox.status_message(Platform.TELEGRAM, message.status_key)
        status = MessageRef.parse(remembered) if remembered else None
    sink = StatusSink(TelegramSink(bot, message.chat.id, is_formatted=True), status)
    await StreamingReply(sink, MAX_MESSAGE_CHARS).finish(message.text)
    if message.status_key and sink.shown is not None and sink.shown != status:
        await outbox.remember_status_message(Platform.TELEGRAM, message.status_key, str(sink.shown))


async def publish_commands(application: Application) -> None:
    """Publish the command menu in English (the default) and Portuguese."""
    for language_code, locale in MENU_LANGUAGES:
        commands = [
            BotCommand(name, descriptions.get(locale) or descriptions["en"])
            for name, descriptions in COMMAND_DESCRIPTIONS.items()
        ]
        await application.bot.set_my_commands(commands, language_code=language_code)


def file_base_url(api_base_url: str) -> str:
    """`https://api.telegram.org/bot` → `https://api.telegram.org/file/bot`, local servers alike."""
    base = api_base_url.rstrip("/")
    head, separator, tail = base.rpartition("/bot")
    if separator and not tail:
        return f"{head}/file/bot"
    return f"{base}/file/bot"


class TelegramHandlers:
    """The update handlers; each turns a message into an `Incoming` and renders the answer."""

    def __init__(self, service: ChatService, settings: Settings) -> None:
        self.service = service
        self.settings = settings

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answers a text message: always in private, in groups when mentioned or replied to."""
        await self._answer(update, context.bot)

    async def on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hands any `/command` (also `/command@thisbot`) to the core, which knows them all."""
        await self._answer(update, context.bot)

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hands a sent file to the core to learn: always in private, in groups when addressed."""
        await self._answer(update, context.bot)

    async def on_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Hands a voice note or audio file to the core to hear: in groups only when addressed."""
        await self._answer(update, context.bot)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Logs the error, then tells the user something went wrong (or what, when we know)."""
        error = context.error
        # Log the error before we do anything else, so we can see it even if something breaks.
        if isinstance(error, FileTooBigForBotApi):
            logger.warning("%s (%s)", error, error.file_name)
        else:
            logger.error("error while handling a Telegram update", exc_info=error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        locale = normalise_locale(user.language_code if user else None)
        locale = locale or self.settings.default_locale
        if isinstance(error, FileTooBigForBotApi):
            text = too_big_for_bot_api_text(error, locale)
        else:
            text = t("error_generic", locale)
        await context.bot.send_message(update.effective_chat.id, text)

    async def _answer(self, update: Update, bot: Bot) -> None:
        message = update.message
        if message is None:
            return
        incoming = to_incoming(message, bot)
        if incoming is None or not ChatService.should_answer(incoming):
            return
        typing = TypingIndicator(bot, message, is_active=needs_model(incoming))
        async with typing:
            await render_events(
                self.service.handle(incoming), message, typing, outbox=self.service.deps.outbox
            )


async def render_events(
    events: AsyncIterable[Event],
    message: Message,
    typing: TypingIndicator | None = None,
    *,
    outbox: Outbox | None = None,
) -> None:
    """Show the core's events: text deltas as one streamed reply, notices on their own.

    A notice with a `status_key` is remembered in `outbox`, so its job's updates edit it.
    """
    bot = message.get_bot()
    reply = StreamingReply(
        TelegramSink.replying_to(bot, message, is_formatted=True),
        MAX_MESSAGE_CHARS,
        edit_interval_seconds=EDIT_INTERVAL_SECONDS,
    )
    async for event in events:
        if typing is not None:
            typing.stop()
        match event:
            case TextDelta(text=text):
                await reply.add(text)
            case Done(text=text):
                await reply.finish(text)
            case Notice(text=text, status_key=status_key) as event:
                # A notice after partial text (a model error) leaves that text as it was.
                await reply.finish()
                notice = TelegramSink.replying_to(bot, message, is_formatted=False)
                await StreamingReply(notice, MAX_MESSAGE_CHARS).finish(text)
                if status_key and outbox is not None and notice.first_sent is not None:
                    shown = MessageRef.of(notice.first_sent)
                    await outbox.remember_status_message(Platform.TELEGRAM, status_key, str(shown))
                if event.file_data:
                    document = InputFile(io.BytesIO(event.file_data), filename=event.file_name)
                    await message.reply_document(document)


def to_incoming(message: Message, bot: Bot) -> Incoming | None:
    """The core's view of a text, file or voice message; None when it is not for this bot."""
    user = message.from_user
    said = message.text if message.text is not None else message.caption
    attachments = attachments_of(message, bot)
    if user is None or (said is None and not attachments):
        return None
    if is_for_another_bot(message, bot.username):
        return None
    command = parse_command(message)
    chat = message.chat
    text = "" if command else strip_mention(said or "", bot.username)
    return Incoming(
        user=Identity(Platform.TELEGRAM, str(user.id), display_name=user.first_name),
        chat=ChatRef(Platform.TELEGRAM, str(chat.id), is_private=chat.type == ChatType.PRIVATE),
        text=text,
        command=command,
        is_addressed=is_mentioned(message, bot) or is_reply_to(message, bot),
        language_hint=user.language_code,
        attachments=attachments,
    )


def attachments_of(message: Message, bot: Bot) -> tuple[Attachment, ...]:
    """The message's document, voice note or audio file, as the core sees it (or nothing)."""
    if message.document is not None:
        document = message.document
        name = document.file_name or DEFAULT_FILE_NAME
        return (attachment_of(bot, document, name, document.mime_type or DEFAULT_MIME_TYPE),)
    if message.voice is not None:
        voice = message.voice
        mime_type = voice.mime_type or VOICE_MIME_TYPE
        return (attachment_of(bot, voice, VOICE_FILE_NAME, mime_type, is_voice=True),)
    if message.audio is not None:
        audio = message.audio
        name = audio.file_name or DEFAULT_AUDIO_FILE_NAME
        mime_type = audio.mime_type or DEFAULT_AUDIO_MIME_TYPE
        return (attachment_of(bot, audio, name, mime_type, is_voice=True),)
    return ()


def attachment_of(
    bot: Bot, medium: TelegramFile, file_name: str, mime_type: str, *, is_voice: bool = False
) -> Attachment:
    """A sent file as the core sees it; its bytes are downloaded only if the core asks."""

    async def fetch() -> bytes:
        return await download(bot, medium, file_name)

    return Attachment(
        file_name=file_name,
        mime_type=mime_type,
        size_bytes=medium.file_size or 0,
        platform_file_id=medium.file_id,
        fetch=fetch,
        is_voice=is_voice,
        duration_seconds=duration_seconds(medium) if isinstance(medium, Voice | Audio) else None,
    )


def duration_seconds(medium: Voice | Audio) -> float:
    """How long a voice note or audio file plays, whichever type this PTB version returns."""
    # PTB 22 warns on reading durations as int until PTB_TIMEDELTA is set; both are fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = medium.duration
    return as_seconds(value)


class FileTooBigForBotApi(ValueError):
    """Telegram's Bot API would not let the bot download this file (over 20 MB)."""

    def __init__(self, file_name: str, size_bytes: int) -> None:
        super().__init__(
            "Telegram refuses bot downloads over 20 MB; a self-hosted Bot API server "
            "(TELEGRAM_API_BASE_URL) lifts this"
        )
        self.file_name = file_name
        self.size_bytes = size_bytes


async def download(bot: Bot, medium: TelegramFile, file_name: str) -> bytes:
    """The file's bytes from Telegram's file server; `file_name` names it in errors."""
    try:
        file = await bot.get_file(medium.file_id)
    except BadRequest as exc:
        if "too big" not in exc.message.lower():
            raise
        raise FileTooBigForBotApi(file_name, medium.file_size or 0) from exc
    return bytes(await file.download_as_bytearray())


def too_big_for_bot_api_text(error: FileTooBigForBotApi, locale: str) -> str:
    """The core's "too large" message, with the Bot API's limit (the size may be unknown)."""
    limit = _megabytes(BOT_API_DOWNLOAD_LIMIT_BYTES)
    size = _megabytes(error.size_bytes) if error.size_bytes else f"> {limit}"
    return t("doc_too_large", locale, name=error.file_name, size=size, limit=limit)


def _megabytes(size_bytes: int) -> str:
    return f"{size_bytes / (1024 * 1024):.1f} MB"


def parse_command(message: Message) -> Command | None:
    """`/name@thisbot args` → `Command(name, args)`; None when the message is no command."""
    word = command_word(message)
    if word is None or message.text is None:
        return None
    name = word[1:].partition("@")[0]
    return Command(name.lower(), message.text[len(word) :].strip())


def is_for_another_bot(message: Message, bot_username: str) -> bool:
    """Whether the message is `/command@otherbot`: in a group, that is not for us."""
    word = command_word(message)
    target = word.partition("@")[2] if word else ""
    return bool(target) and target.lower() != bot_username.lower()


def command_word(message: Message) -> str | None:
    """The `/name` or `/name@bot` that starts the message, if any."""
    for entity in message.entities:
        if entity.type == MessageEntityType.BOT_COMMAND and entity.offset == 0:
            return message.parse_entity(entity)
    return None


def is_mentioned(message: Message, bot: Bot) -> bool:
    """Whether the text or caption @mentions this bot (by username, or by name)."""
    mention = f"@{bot.username}".lower()
    types = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
    mentions = message.parse_entities(types) | message.parse_caption_entities(types)
    for entity, text in mentions.items():
        if text.lower() == mention or (entity.user is not None and entity.user.id == bot.id):
            return True
    return False


def is_reply_to(message: Message, bot: Bot) -> bool:
    """Whether the message replies to one of this bot's messages."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None:
        return False
    # In forum topics every message "replies" to the topic's first message; that is no reply.
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return False
    return replied.from_user.id == bot.id


def strip_mention(text: str, bot_username: str) -> str:
    """The text without `@thisbot`, so the model sees only the question."""
    stripped = re.sub(rf"@{re.escape(bot_username)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


def needs_model(incoming: Incoming) -> bool:
    """Plain messages and /ask go to the model, which is worth a typing indicator."""
    return incoming.command is None or incoming.command.name == ASK_COMMAND


def render_markdown(text: str) -> tuple[str, list[MessageEntity]] | None:
    """Model Markdown → Telegram text and entities; None when plain text is the safer choice."""
    try:
        plain, entities = telegramify_markdown.convert(text)
    except Exception:
        # Formatting is a nicety: a converter bug must never cost the user the answer.
        logger.warning("could not render Markdown; sending plain text", exc_info=True)
        return None
    if not plain.strip() or telegramify_markdown.utf16_len(plain) > MAX_MESSAGE_CHARS:
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


SendOrEdit = Callable[[str, Sequence[MessageEntity] | None], Awaitable[Any]]


@dataclass(frozen=True)
class MessageRef:
    """A sent message by chat and id, written `chat_id:message_id` where the outbox keeps it."""

    chat_id: int
    message_id: int

    def __str__(self) -> str:
        return f"{self.chat_id}:{self.message_id}"

    @classmethod
    def of(cls, message: Message) -> MessageRef:
        return cls(message.chat_id, message.message_id)

    @classmethod
    def parse(cls, value: str) -> MessageRef | None:
        chat_id, _, message_id = value.rpartition(":")
        try:
            return cls(int(chat_id), int(message_id))
        except ValueError:
            logger.warning("ignoring a malformed status message reference %r", value)
            return None


class TelegramSink:
    """Sends and edits messages in one chat for `StreamingReply`, surviving flood control.

    Only the first message quotes the user's; formatting Telegram refuses falls back to
    plain text; "message is not modified" is not an error.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int | str,
        *,
        is_formatted: bool,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
    ) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.is_formatted = is_formatted
        self._reply_to_message_id = reply_to_message_id
        self.thread_id = thread_id
        self.first_sent: Message | None = None

    @classmethod
    def replying_to(cls, bot: Bot, message: Message, *, is_formatted: bool) -> TelegramSink:
        """A sink whose first message answers `message`, in its chat and forum topic."""
        return cls(
            bot,
            message.chat_id,
            is_formatted=is_formatted,
            reply_to_message_id=message.message_id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
        )

    async def send(self, text: str) -> Message:
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

        sent = await self._with_fallback(send_message, text)
        if self.first_sent is None:
            self.first_sent = sent
        return sent

    async def edit(self, handle: Message | MessageRef, text: str) -> None:
        async def edit_message(body: str, entities: Sequence[MessageEntity] | None) -> Any:
            return await self.bot.edit_message_text(
                body, chat_id=handle.chat_id, message_id=handle.message_id, entities=entities
            )

        try:
            await self._with_fallback(edit_message, text)
        except BadRequest as exc:
            if not is_not_modified(exc):
                raise

    async def _with_fallback(self, request: SendOrEdit, text: str) -> Any:
        """Try formatted, then plain text; flood control becomes `RateLimited`."""
        try:
            rendered = render_markdown(text) if self.is_formatted else None
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


class StatusSink:
    """A sink whose first piece edits a job's status message, or replaces it if it is gone.

    `shown` is the message that shows the status afterwards, for the outbox to remember.
    """

    def __init__(self, sink: TelegramSink, status: MessageRef | None) -> None:
        self._sink = sink
        self._status = status
        self.shown: MessageRef | None = None

    async def send(self, text: str) -> Message | MessageRef:
        if self.shown is None and self._status is not None:
            try:
                await self._sink.edit(self._status, text)
            except BadRequest as exc:
                if not is_message_gone(exc):
                    raise
                logger.info("status message %s is gone (%s); sending a new one", self._status, exc)
                self._status = None
            else:
                self.shown = self._status
                return self._status
        sent = await self._sink.send(text)
        if self.shown is None:
            self.shown = MessageRef.of(sent)
        return sent

    async def edit(self, handle: Message | MessageRef, text: str) -> None:
        await self._sink.edit(handle, text)


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


class TypingIndicator:
    """Shows "typing…" in a chat, renewed every `TYPING_RENEW_SECONDS` until stopped."""

    def __init__(self, bot: Bot, message: Message, *, is_active: bool = True) -> None:
        self.bot = bot
        self.chat_id = message.chat_id
        self.thread_id = message.message_thread_id if message.is_topic_message else None
        self.is_active = is_active
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TypingIndicator:
        if self.is_active:
            self._task = asyncio.create_task(self._keep_typing())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing; Telegram clears the indicator when the reply arrives."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self.bot.send_chat_action(
                    self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id
                )
            except TelegramError as exc:
                # Only cosmetic: a failed indicator must never fail or delay the answer.
                logger.debug("typing indicator failed in %s: %s", self.chat_id, exc)
            await asyncio.sleep(TYPING_RENEW_SECONDS)
