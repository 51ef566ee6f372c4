"""Discord adapter: slash commands, mentions, DMs and threads in; streamed replies out.

The adapter only translates. A Discord message or slash command becomes a
`core.types.Incoming`; the `Event` stream from `ChatService.handle` comes back as a reply
that grows by throttled edits and continues in new messages past 2000 characters.
Discord renders Markdown itself, so text goes out as the model wrote it, but never
with pings: every send carries `AllowedMentions.none()`.

Where the bot answers:
- DMs: always, a file sent without any text included.
- Guild channels and threads: when mentioned (`@bot`) or when someone replies to one of
  its messages. A thread is a chat of its own, with its own memory.
- Slash commands (/ask, /start, /help, /reset, /history, /model, /lang, /docs, /forget,
  /sources): anywhere. The interaction is deferred at once, inside Discord's 3-second
  window, and the answer then fills in the deferred response. Commands other than /ask
  answer ephemerally.

Attachments are files to learn from: their bytes are read only once the core has
accepted their size. Voice messages and other audio go in as `is_voice` attachments, so
the core hears short ones and answers them like typed text. A notice with a `status_key`
(a document being indexed) is remembered in the outbox, and the job's later outbox
messages with that key edit it.

Set-up in the Discord Developer Portal (Bot tab): enable the privileged
**Message Content** intent. Without it Discord blanks the text of guild messages that
do not mention the bot, so replies to the bot that don't ping it would arrive empty;
with it missing from the portal, connecting fails with `PrivilegedIntentsRequired`.
Invite the bot with the `bot` and `applications.commands` scopes. Slash commands sync
at start-up: to each guild in `DISCORD_GUILD_IDS` (instant, good for development),
otherwise globally.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, cast

import discord
from discord import app_commands

from bots.rendering import RateLimited, StreamingReply
from core.commands import COMMAND_DESCRIPTIONS, command_from_text
from core.deps import CoreDeps
from core.i18n import normalise_locale, t
from core.knowledge.base import scope_for
from core.outbox import Outbox
from core.service import ASK_COMMAND, ChatService
from core.settings import ConfigError
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

MAX_MESSAGE_CHARS = 2000
# Discord allows about 5 edits per 5 seconds in a channel; stay just under that.
EDIT_INTERVAL_SECONDS = 1.2
# Used when a 429 arrives without a Retry-After header.
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# Discord shows at most 25 autocomplete suggestions, each named in at most 100 characters.
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_CHOICE_NAME_CHARS = 100
DEFAULT_MIME_TYPE = "application/octet-stream"
# One stable name per host, so a restarted bot re-reads the outbox entries it had not acked.
OUTBOX_CONSUMER = f"discord-{socket.gethostname()}"

NO_MENTIONS = discord.AllowedMentions.none()
ANSWERED_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)

# Descriptions of what only Discord has (the command options); the commands' own come
# from core.commands.COMMAND_DESCRIPTIONS.
DISCORD_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ask.question": {"en": "Your question", "pt-BR": "Sua pergunta"},
    "model.name": {"en": "Model to switch to", "pt-BR": "Modelo para usar"},
    "lang.language": {"en": "Language for my messages", "pt-BR": "Idioma das minhas mensagens"},
    "forget.document": {"en": "Document name or id", "pt-BR": "Nome ou id do documento"},
}
_DESCRIPTIONS = {**COMMAND_DESCRIPTIONS, **DISCORD_DESCRIPTIONS}
_PT_BR_BY_ENGLISH = {texts["en"]: texts["pt-BR"] for texts in _DESCRIPTIONS.values()}


def _describe(key: str) -> str:
    return _DESCRIPTIONS[key]["en"]


# Platform update → core types


def identity_of(user: discord.abc.User) -> Identity:
    """The core's view of a Discord user (`dc:<id>`)."""
    return Identity(Platform.DISCORD, str(user.id), display_name=user.display_name)


def chat_of(channel: Any, channel_id: int) -> ChatRef:
    """The core's view of a channel; a thread is a chat of its own."""
    is_private = isinstance(channel, discord.DMChannel)
    return ChatRef(Platform.DISCORD, str(channel_id), is_private=is_private)


def is_addressed_to(message: discord.Message, me: discord.abc.User) -> bool:
    """True when the message mentions the bot or replies to one of its messages."""
    if any(user.id == me.id for user in message.mentions):
        return True
    replied_to = message.reference.resolved if message.reference else None
    return isinstance(replied_to, discord.Message) and replied_to.author.id == me.id


def strip_mention(text: str, me: discord.abc.User) -> str:
    """Remove `<@id>` / `<@!id>` mentions of the bot, which are addressing, not content."""
    return re.sub(rf"<@!?{me.id}>", "", text).strip()


def incoming_from_message(message: discord.Message, me: discord.abc.User) -> Incoming:
    """Translate a channel, thread or DM message; `/reset` typed as text is a command too."""
    text = strip_mention(message.content, me)
    command = command_from_text(text)
    return Incoming(
        user=identity_of(message.author),
        chat=chat_of(message.channel, message.channel.id),
        text="" if command else text,
        command=command,
        is_addressed=is_addressed_to(message, me),
        attachments=tuple(attachment_of(item) for item in message.attachments),
    )


def attachment_of(item: discord.Attachment) -> Attachment:
    """A sent file as the core sees it; `Attachment.read` downloads it only if the core asks.

    Audio (voice messages are audio/ogg) goes in as `is_voice`, for the core to hear;
    Discord gives a duration only for voice messages.
    """
    mime_type = item.content_type or DEFAULT_MIME_TYPE
    return Attachment(
        file_name=item.filename,
        mime_type=mime_type,
        size_bytes=item.size,
        platform_file_id=item.url,
        fetch=item.read,
        is_voice=mime_type.startswith("audio/"),
        duration_seconds=item.duration,
    )


def incoming_from_interaction(interaction: discord.Interaction, command: Command) -> Incoming:
    """Translate a slash command; the user's Discord locale is the language hint."""
    return Incoming(
        user=identity_of(interaction.user),
        chat=chat_of(interaction.channel, interaction.channel_id or 0),
        text="",
        command=command,
        is_addressed=True,
        language_hint=str(interaction.locale),
    )


# Core events → Discord messages


@contextmanager
def _as_rate_limited() -> Iterator[None]:
    """Turn Discord's 429 into the renderer's RateLimited, so it waits and retries."""
    try:
        yield
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except discord.HTTPException as exc:
        if exc.status != 429:
            raise
        header = exc.response.headers.get("Retry-After") if exc.response is not None else None
        raise RateLimited(float(header or DEFAULT_RETRY_AFTER_SECONDS)) from exc


class ChannelSink:
    """Sends pieces to a channel; the first one replies to `reply_to` when given."""

    def __init__(
        self, channel: discord.abc.Messageable, *, reply_to: discord.Message | None = None
    ) -> None:
        self._channel = channel
        self._reply_to = reply_to
        self.sent_count = 0

    async def send(self, text: str) -> discord.Message:
        reference = None
        if self._reply_to is not None and self.sent_count == 0:
            reference = self._reply_to.to_reference(fail_if_not_exists=False)
        with _as_rate_limited():
            message = await self._channel.send(
                text,
                reference=reference,
                allowed_mentions=NO_MENTIONS,
            )
        self.sent_count += 1
        return message

    async def edit(self, handle: discord.Message | discord.PartialMessage, text: str) -> None:
        with _as_rate_limited():
            await handle.edit(content=text, allowed_mentions=NO_MENTIONS)

    async def send_file(self, file_name: str, data: bytes) -> None:
        """Attach a file (e.g. a transcript) as a message of its own."""
        with _as_rate_limited():
            await self._channel.send(file=discord.File(io.BytesIO(data), filename=file_name))


class InteractionSink:
    """Answers a deferred slash command: the first piece fills the deferred response,
    later pieces are follow-ups."""

    def __init__(self, interaction: discord.Interaction, *, is_ephemeral: bool) -> None:
        self._interaction = interaction
        self._is_ephemeral = is_ephemeral
        self.sent_count = 0

    async def send(self, text: str) -> discord.InteractionMessage | discord.WebhookMessage:
        with _as_rate_limited():
            if self.sent_count == 0:
                message: Any = await self._interaction.edit_original_response(
                    content=text, allowed_mentions=NO_MENTIONS
                )
            else:
                message = await self._interaction.followup.send(
                    text, allowed_mentions=NO_MENTIONS, ephemeral=self._is_ephemeral, wait=True
                )
        self.sent_count += 1
        return message

    async def edit(
        self, handle: discord.InteractionMessage | discord.WebhookMessage, text: str
    ) -> None:
        with _as_rate_limited():
            await handle.edit(content=text, allowed_mentions=NO_MENTIONS)

    async def send_file(self, file_name: str, data: bytes) -> None:
        """Attach a file as a follow-up to the command."""
        with _as_rate_limited():
            await self._interaction.followup.send(
                file=discord.File(io.BytesIO(data), filename=file_name),
                ephemeral=self._is_ephemeral,
            )


async def render_events(
    events: AsyncIterator[Event],
    sink: ChannelSink | InteractionSink,
    *,
    edit_interval_seconds: float = EDIT_INTERVAL_SECONDS,
    outbox: Outbox | None = None,
) -> None:
    """Stream text deltas as throttled edits; each notice goes out as its own message.

    A notice with a `status_key` is remembered in `outbox`, so its job's updates edit it.
    """
    reply = StreamingReply(sink, MAX_MESSAGE_CHARS, edit_interval_seconds=edit_interval_seconds)
    async for event in events:
        if isinstance(event, TextDelta):
            await reply.add(event.text)
        elif isinstance(event, Done):
            await reply.finish(event.text)
        elif isinstance(event, Notice):
            # A partial answer stays as far as it got (without the cursor); then the notice.
            await reply.finish()
            notice = StatusSink(sink, None)
            await StreamingReply(notice, MAX_MESSAGE_CHARS).finish(event.text)
            if event.file_data:
                await sink.send_file(event.file_name, event.file_data)
            if event.status_key and outbox is not None and notice.shown is not None:
                await outbox.remember_status_message(
                    Platform.DISCORD, event.status_key, notice.shown
                )


def message_ref(message: discord.Message | discord.PartialMessage) -> str:
    """`channel_id:message_id`: how the outbox remembers a status message to edit later."""
    return f"{message.channel.id}:{message.id}"


class StatusSink:
    """A sink whose first piece edits a job's status message, or replaces it if it is gone.

    `shown` is the reference of the message that shows the status afterwards, for the
    outbox to remember; with no status message to edit, that is the first one sent.
    """

    def __init__(
        self, sink: ChannelSink | InteractionSink, status: discord.PartialMessage | None
    ) -> None:
        self._sink = sink
        self._status = status
        self.shown: str | None = None

    async def send(self, text: str) -> Any:
        if self.shown is None and self._status is not None:
            try:
                await self._sink.edit(self._status, text)
            except (discord.NotFound, discord.Forbidden) as exc:
                logger.info("status message %s is gone (%s); sending a new one", self._status, exc)
                self._status = None
            else:
                self.shown = message_ref(self._status)
                return self._status
        message = await self._sink.send(text)
        if self.shown is None:
            self.shown = message_ref(message)
        return message

    async def edit(self, handle: Any, text: str) -> None:
        await self._sink.edit(handle, text)


# Slash commands. Each defers at once and hands the rest to AssistantClient.answer_command.


def _client(interaction: discord.Interaction) -> AssistantClient:
    return cast(AssistantClient, interaction.client)


@app_commands.describe(question=_describe("ask.question"))
async def ask(interaction: discord.Interaction, question: str) -> None:
    """Answers a question, streaming the reply."""
    await _client(interaction).answer_command(interaction, Command(ASK_COMMAND, question))


async def start(interaction: discord.Interaction) -> None:
    """Greets the user."""
    await _client(interaction).answer_command(interaction, Command("start"))


async def help_(interaction: discord.Interaction) -> None:
    """Lists the commands."""
    await _client(interaction).answer_command(interaction, Command("help"))


async def reset(interaction: discord.Interaction) -> None:
    """Forgets this conversation."""
    await _client(interaction).answer_command(interaction, Command("reset"))


async def history(interaction: discord.Interaction) -> None:
    """Shows what the bot remembers of this conversation."""
    await _client(interaction).answer_command(interaction, Command("history"))


async def model_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggests the configured models that match what was typed so far."""
    names = _client(interaction).deps.models.choices()
    matching = [name for name in names if current.lower() in name.lower()]
    return [app_commands.Choice(name=n, value=n) for n in matching[:MAX_AUTOCOMPLETE_CHOICES]]


@app_commands.describe(name=_describe("model.name"))
@app_commands.autocomplete(name=model_names)
async def model(interaction: discord.Interaction, name: str | None = None) -> None:
    """Shows the model in use, or switches to `name`."""
    await _client(interaction).answer_command(interaction, Command("model", name or ""))


@app_commands.describe(language=_describe("lang.language"))
@app_commands.choices(
    language=[
        app_commands.Choice(name="English", value="en"),
        app_commands.Choice(name="Português (Brasil)", value="pt-BR"),
    ]
)
async def lang(interaction: discord.Interaction, language: str | None = None) -> None:
    """Shows or sets the language of the bot's messages."""
    await _client(interaction).answer_command(interaction, Command("lang", language or ""))


async def docs(interaction: discord.Interaction) -> None:
    """Lists the documents learned in this chat."""
    await _client(interaction).answer_command(interaction, Command("docs"))


async def document_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Suggests this chat's documents whose title or id matches what was typed so far."""
    client = _client(interaction)
    scope = scope_for(incoming_from_interaction(interaction, Command("forget", current)))
    typed = current.strip().lower()
    matching = [
        document
        for document in await client.deps.knowledge.documents.list([scope])
        if typed in document.title.lower() or document.id.startswith(typed)
    ]
    return [
        app_commands.Choice(name=_choice_name(d.title, d.short_id), value=d.short_id)
        for d in matching[:MAX_AUTOCOMPLETE_CHOICES]
    ]


def _choice_name(title: str, short_id: str) -> str:
    """`title [id]`, the title shortened to fit Discord's 100 characters."""
    suffix = f" [{short_id}]"
    room = MAX_CHOICE_NAME_CHARS - len(suffix)
    shown = title if len(title) <= room else title[: room - 1] + "…"
    return shown + suffix


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def forget(interaction: discord.Interaction, document: str) -> None:
    """Forgets one document and everything indexed from it."""
    await _client(interaction).answer_command(interaction, Command("forget", document))


async def sources(interaction: discord.Interaction) -> None:
    """Shows the passages behind the last answer."""
    await _client(interaction).answer_command(interaction, Command("sources"))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def summary(interaction: discord.Interaction, document: str = "") -> None:
    """Shows the summary of a document or video again."""
    await _client(interaction).answer_command(interaction, Command("summary", document))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def transcript(interaction: discord.Interaction, document: str = "") -> None:
    """Shows the timed transcript of a video or audio."""
    await _client(interaction).answer_command(interaction, Command("transcript", document))


@app_commands.describe(document=_describe("forget.document"))
@app_commands.autocomplete(document=document_names)
async def retry(interaction: discord.Interaction, document: str) -> None:
    """Admins: indexes a failed document again."""
    await _client(interaction).answer_command(interaction, Command("retry", document))


SLASH_COMMANDS = {
    "ask": ask,
    "start": start,
    "help": help_,
    "reset": reset,
    "history": history,
    "model": model,
    "lang": lang,
    "docs": docs,
    "forget": forget,
    "sources": sources,
    "summary": summary,
    "transcript": transcript,
    "retry": retry,
}


def build_commands() -> list[app_commands.Command[Any, ..., None]]:
    """Fresh slash command objects for one client's tree."""
    return [
        app_commands.Command(name=name, description=_describe(name), callback=callback)
        for name, callback in SLASH_COMMANDS.items()
    ]


class PortugueseDescriptions(app_commands.Translator):
    """Gives slash commands their pt-BR descriptions, shown to people using Discord in pt-BR."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is not discord.Locale.brazil_portuguese:
            return None
        return _PT_BR_BY_ENGLISH.get(string.message)


# The client


class AssistantClient(discord.Client):
    """One Discord connection: slash commands, messages, and outbox delivery."""

    def __init__(
        self, deps: CoreDeps, *, edit_interval_seconds: float = EDIT_INTERVAL_SECONDS
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # see the module docstring
        super().__init__(intents=intents, allowed_mentions=NO_MENTIONS)
        self.deps = deps
        self.service = ChatService(deps)
        self.edit_interval_seconds = edit_interval_seconds
        self.tree = app_commands.CommandTree(self)
        for command in build_commands():
            self.tree.add_command(command)
        self.tree.error(self.on_app_command_error)
        self._outbox_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Registers the slash commands with Discord and starts delivering the outbox."""
        await self.tree.set_translator(PortugueseDescriptions())
        await self.sync_commands()
        self._outbox_task = asyncio.create_task(
            self.deps.outbox.deliver_forever(Platform.DISCORD, OUTBOX_CONSUMER, self.deliver),
            name="discord-outbox",
        )
        self._outbox_task.add_done_callback(_log_outbox_stop)

    async def sync_commands(self) -> None:
        """Sync to each configured guild (instant), else globally."""
        guild_ids = self.deps.settings.discord_guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            logger.info("synced %d global slash commands", len(synced))
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            logger.info("synced %d slash commands to guild %s", len(synced), guild_id)

    async def close(self) -> None:
        """Stops outbox delivery, then disconnects."""
        if self._outbox_task is not None:
            await _stop_outbox(self._outbox_task)
            self._outbox_task = None
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        """Answers DMs, and mentions of or replies to the bot in channels and threads."""
        if self.user is None or message.author.bot or message.type not in ANSWERED_MESSAGE_TYPES:
            return
        incoming = incoming_from_message(message, self.user)
        if not ChatService.should_answer(incoming):
            return
        async with message.channel.typing():
            await render_events(
                self.service.handle(incoming),
                ChannelSink(message.channel, reply_to=message),
                edit_interval_seconds=self.edit_interval_seconds,
                outbox=self.deps.outbox,
            )

    async def answer_command(self, interaction: discord.Interaction, command: Command) -> None:
        """Defers at once (Discord allows 3 seconds), then renders the answer into the response."""
        is_ephemeral = command.name != ASK_COMMAND
        await interaction.response.defer(thinking=True, ephemeral=is_ephemeral)
        sink = InteractionSink(interaction, is_ephemeral=is_ephemeral)
        await render_events(
            self.service.handle(incoming_from_interaction(interaction, command)),
            sink,
            edit_interval_seconds=self.edit_interval_seconds,
            outbox=self.deps.outbox,
        )
        if sink.sent_count == 0:
            # Nothing to say (an empty answer): drop the "thinking…" placeholder.
            await interaction.delete_original_response()

    async def deliver(self, outgoing: OutboxMessage) -> None:
        """Sends a worker's message to its channel; job progress edits its status message.

        Without a remembered status message (a restart, an expired key) or when it was
        deleted, the text goes out as a new message, which later updates then edit.
        """
        outbox = self.deps.outbox
        remembered = None
        if outgoing.status_key:
            remembered = await outbox.status_message(Platform.DISCORD, outgoing.status_key)
        channel = self.get_partial_messageable(int(outgoing.chat.id))
        sink = StatusSink(ChannelSink(channel), self._status_message(remembered))
        await StreamingReply(sink, MAX_MESSAGE_CHARS).finish(outgoing.text)
        if outgoing.status_key and sink.shown is not None and sink.shown != remembered:
            await outbox.remember_status_message(Platform.DISCORD, outgoing.status_key, sink.shown)

    def _status_message(self, remembered: str | None) -> discord.PartialMessage | None:
        """The message behind a remembered `channel_id:message_id`, without fetching it."""
        if not remembered:
            return None
        channel_id, _, message_id = remembered.partition(":")
        try:
            channel = self.get_partial_messageable(int(channel_id))
            return channel.get_partial_message(int(message_id))
        except ValueError:
            logger.warning("ignoring a malformed status message reference %r", remembered)
            return None

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Logs a failed slash command, then tells the user rather than leave them waiting."""
        name = interaction.command.name if interaction.command else "?"
        logger.error("slash command /%s failed", name, exc_info=error)
        await self._apologise(interaction, self._locale_of(interaction))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """Logs a failed event handler; a message that got no answer gets an apology."""
        # Log first, so the failure is recorded even if the apology fails too.
        logger.exception("discord event %s failed", event_method)
        message = args[0] if event_method == "on_message" and args else None
        if isinstance(message, discord.Message):
            await self._apologise(message, self.deps.settings.default_locale)

    def _locale_of(self, interaction: discord.Interaction) -> str:
        return normalise_locale(str(interaction.locale)) or self.deps.settings.default_locale

    async def _apologise(self, target: discord.Interaction | discord.Message, locale: str) -> None:
        text = t("error_generic", locale)
        try:
            if isinstance(target, discord.Message):
                await target.reply(text, allowed_mentions=NO_MENTIONS)
            elif target.response.is_done():
                await target.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            else:
                await target.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            logger.warning("could not tell the user about the failure either", exc_info=True)


def _log_outbox_stop(task: asyncio.Task[None]) -> None:
    """Make a crashed outbox consumer visible in the logs instead of dying silently."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("outbox delivery stopped", exc_info=task.exception())


async def _stop_outbox(task: asyncio.Task[None]) -> None:
    """Cancel the outbox consumer and wait until it has stopped."""
    task.remove_done_callback(_log_outbox_stop)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve(deps: CoreDeps) -> None:
    """Runs the Discord bot until cancelled."""
    token = deps.settings.discord_bot_token
    if token is None or not token.get_secret_value():
        raise ConfigError("Configuration error:\n  DISCORD_BOT_TOKEN: needed for the Discord bot")
    async with AssistantClient(deps) as client:
        try:
            await client.start(token.get_secret_value())
        except discord.PrivilegedIntentsRequired as exc:
            raise ConfigError(
                "Configuration error:\n  Discord refused the Message Content intent: enable it "
                "under Bot → Privileged Gateway Intents in the Developer Portal"
            ) from exc
