"""Discord adapter: slash commands, mentions, DMs and threads in; streamed replies out.

Wiring only. A Discord message or slash command (bots.discord_commands) becomes a
`core.types.Incoming`; the `Event` stream from `ChatService.handle` is shown on a channel
or interaction (bots.discord_messenger) by the one delivery layer (bots.delivery): a reply
that grows by throttled edits and continues in new messages past 2000 characters, never
with pings.

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
import logging
import re
from typing import Any

import discord
from discord import app_commands

from bots.delivery import deliver_events, deliver_outbox_message, remember_in
from bots.discord_commands import (
    PortugueseDescriptions,
    build_commands,
    chat_of,
    identity_of,
    incoming_from_interaction,
    manages_server,
)
from bots.discord_messenger import NO_MENTIONS, ChannelChat, InteractionChat
from core.commands import command_from_text
from core.deps import CoreDeps
from core.i18n import normalise_locale, t
from core.service import ASK_COMMAND, ChatService
from core.settings import ConfigError
from core.types import Attachment, Command, Incoming, OutboxMessage, Platform

logger = logging.getLogger(__name__)

DEFAULT_MIME_TYPE = "application/octet-stream"
ANSWERED_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


# Platform message → core types


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
        chat_admin_check=manages_server(message.author),
        delivery_id=f"dc:message:{message.id}",
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


# The client


class AssistantClient(discord.AutoShardedClient):
    """The Discord gateway shards of this process: slash commands, messages, outbox delivery.

    discord.py's own sharding: with no DISCORD_SHARD_COUNT it asks Discord how many shards
    the bot needs and runs them all here; several processes split DISCORD_SHARD_IDS of one
    DISCORD_SHARD_COUNT between them.
    """

    def __init__(self, deps: CoreDeps) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # see the module docstring
        settings = deps.settings
        if settings.discord_shard_ids:
            super().__init__(
                intents=intents,
                allowed_mentions=NO_MENTIONS,
                shard_count=settings.discord_shard_count,
                shard_ids=settings.discord_shard_ids,
            )
        else:  # all shards here: discord.py asks Discord how many unless the count is set
            super().__init__(
                intents=intents,
                allowed_mentions=NO_MENTIONS,
                shard_count=settings.discord_shard_count,
            )
        self.deps = deps
        self.service = ChatService(deps)
        self.tree = app_commands.CommandTree(self)
        for command in build_commands():
            self.tree.add_command(command)
        self.tree.error(self.on_app_command_error)
        self._outbox_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Registers the slash commands with Discord and starts delivering the outbox."""
        await self.tree.set_translator(PortugueseDescriptions())
        if self.syncs_commands:
            await self.sync_commands()
        # Stable per replica: a restarted bot re-reads what it had taken but not acked.
        consumer = f"discord-{self.deps.settings.replica()}"
        self._outbox_task = asyncio.create_task(
            self.deps.outbox.deliver_forever(Platform.DISCORD, consumer, self.deliver),
            name="discord-outbox",
        )
        self._outbox_task.add_done_callback(_log_outbox_stop)

    @property
    def syncs_commands(self) -> bool:
        """One process of a sharded bot syncs the slash commands: the one running shard 0."""
        shard_ids = self.deps.settings.discord_shard_ids
        return not shard_ids or 0 in shard_ids

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
        await deliver_events(
            self.service.handle(incoming),
            ChannelChat(self, message.channel, reply_to=message),
            on_status=remember_in(self.deps.outbox, Platform.DISCORD),
            show_typing=True,
        )

    async def answer_command(self, interaction: discord.Interaction, command: Command) -> None:
        """Defers at once (Discord allows 3 seconds), then renders the answer into the response."""
        is_ephemeral = command.name != ASK_COMMAND
        await interaction.response.defer(thinking=True, ephemeral=is_ephemeral)
        shown = await deliver_events(
            self.service.handle(incoming_from_interaction(interaction, command)),
            InteractionChat(interaction, is_ephemeral=is_ephemeral),
            on_status=remember_in(self.deps.outbox, Platform.DISCORD),
        )
        if not shown:
            # Nothing to say: drop the "thinking…" placeholder rather than leave it forever.
            await interaction.delete_original_response()

    async def deliver(self, outgoing: OutboxMessage) -> None:
        """Sends a worker's message to its channel; job progress edits its status message."""
        channel = self.get_partial_messageable(int(outgoing.chat.id))
        await deliver_outbox_message(
            ChannelChat(self, channel), self.deps.outbox, Platform.DISCORD, outgoing
        )

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
                # Deferred: the apology replaces "thinking…", which would otherwise stay.
                await target.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
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
