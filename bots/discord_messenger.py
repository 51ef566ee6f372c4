"""Discord as a `Messenger`: a channel (DM, guild channel, thread) or a deferred interaction.

Discord renders Markdown itself, so text goes out as the model wrote it, counted in
characters against Discord's 2000, and never with pings: every send carries
`AllowedMentions.none()`. A 429 becomes `RateLimited`; a deleted message `MessageGone`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import discord

from bots.delivery import MessageGone, RateLimited, parse_reference

MAX_MESSAGE_CHARS = 2000
# Discord allows about 5 edits per 5 seconds in a channel; stay just under that.
EDIT_INTERVAL_SECONDS = 1.2
# "typing…" lasts 10 seconds on Discord.
TYPING_RENEW_SECONDS = 8.0
STREAMING_CURSOR = " ▌"
# Used when a 429 arrives without a Retry-After header.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

NO_MENTIONS = discord.AllowedMentions.none()

Sent = (
    discord.Message | discord.PartialMessage | discord.InteractionMessage | discord.WebhookMessage
)


@contextmanager
def platform_errors(*, is_edit: bool = False) -> Iterator[None]:
    """Discord's 429 → `RateLimited`; editing a message deleted or out of reach → `MessageGone`."""
    try:
        yield
    except discord.RateLimited as exc:
        raise RateLimited(exc.retry_after) from exc
    except (discord.NotFound, discord.Forbidden) as exc:
        if not is_edit:
            raise
        raise MessageGone(str(exc)) from exc
    except discord.HTTPException as exc:
        if exc.status != 429:
            raise
        header = exc.response.headers.get("Retry-After") if exc.response is not None else None
        raise RateLimited(float(header or DEFAULT_RETRY_AFTER_SECONDS)) from exc


class DiscordMessages:
    """What every Discord target shares: the unit, the pace, editing and references."""

    limit = MAX_MESSAGE_CHARS
    edit_interval_seconds = EDIT_INTERVAL_SECONDS
    typing_interval_seconds = TYPING_RENEW_SECONDS
    streaming_cursor = STREAMING_CURSOR

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def measure(self, text: str, *, is_formatted: bool) -> int:
        return len(text)

    async def edit(self, handle: Sent, text: str, *, is_formatted: bool) -> None:
        with platform_errors(is_edit=True):
            await handle.edit(content=text, allowed_mentions=NO_MENTIONS)

    def reference(self, handle: Sent) -> str:
        return f"{handle.channel.id}:{handle.id}"

    def message_at(self, reference: str) -> discord.PartialMessage | None:
        """The message behind a remembered `channel_id:message_id`, without fetching it."""
        return parse_reference(reference, self._partial_message)

    def _partial_message(self, channel_id: int, message_id: int) -> discord.PartialMessage:
        channel = self._client.get_partial_messageable(channel_id)
        return channel.get_partial_message(message_id)


class ChannelChat(DiscordMessages):
    """A channel, thread or DM; the first message sent replies to `reply_to` when given."""

    def __init__(
        self,
        client: discord.Client,
        channel: discord.abc.Messageable,
        *,
        reply_to: discord.Message | None = None,
    ) -> None:
        super().__init__(client)
        self._channel = channel
        self._reply_to = reply_to

    async def send(self, text: str, *, is_formatted: bool) -> discord.Message:
        reply_to, self._reply_to = self._reply_to, None
        with platform_errors():
            if reply_to is None:
                return await self._channel.send(text, allowed_mentions=NO_MENTIONS)
            reference = reply_to.to_reference(fail_if_not_exists=False)
            return await self._channel.send(text, reference=reference, allowed_mentions=NO_MENTIONS)

    async def send_file(self, file_name: str, data: bytes) -> None:
        """Attach a file (e.g. a transcript) as a message of its own."""
        with platform_errors():
            await self._channel.send(file=discord.File(io.BytesIO(data), filename=file_name))

    async def show_typing(self) -> None:
        await self._channel.typing()


class InteractionChat(DiscordMessages):
    """A deferred slash command: the first message fills the deferred response, later
    ones are follow-ups."""

    def __init__(self, interaction: discord.Interaction, *, is_ephemeral: bool) -> None:
        super().__init__(interaction.client)
        self._interaction = interaction
        self._is_ephemeral = is_ephemeral
        self.has_responded = False

    async def send(self, text: str, *, is_formatted: bool) -> Any:
        with platform_errors():
            if not self.has_responded:
                message: Any = await self._interaction.edit_original_response(
                    content=text, allowed_mentions=NO_MENTIONS
                )
                self.has_responded = True
                return message
            return await self._interaction.followup.send(
                text, allowed_mentions=NO_MENTIONS, ephemeral=self._is_ephemeral, wait=True
            )

    async def send_file(self, file_name: str, data: bytes) -> None:
        """Attach a file as a follow-up to the command."""
        with platform_errors():
            await self._interaction.followup.send(
                file=discord.File(io.BytesIO(data), filename=file_name),
                ephemeral=self._is_ephemeral,
            )

    async def show_typing(self) -> None:
        """Discord already shows "thinking…" for a deferred command."""
