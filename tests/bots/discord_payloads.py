"""Gateway-style JSON payloads for building real discord.py objects in tests."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

BOT_ID = 900_000_000_000_000_001
APPLICATION_ID = BOT_ID  # a bot's user id is its application id
GUILD_ID = 800_000_000_000_000_001
IS_VOICE_MESSAGE_FLAG = 1 << 13

_ids = itertools.count(100_000_000_000_000_000)


def snowflake() -> str:
    return str(next(_ids))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int | str, name: str, *, is_bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": is_bot,
    }


BOT_USER = user(BOT_ID, "assistant", is_bot=True)


def member(user_payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": user_payload,
        "roles": [],
        "joined_at": _now(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "nick": None,
    }


def text_channel(
    channel_id: int | str, *, guild_id: int = GUILD_ID, name: str = "general"
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def thread(
    thread_id: int | str, *, parent_id: int | str, owner_id: int | str, guild_id: int = GUILD_ID
) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": 11,  # public thread
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": "a thread",
        "message_count": 0,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": _now(),
            "locked": False,
        },
    }


def guild(
    *,
    guild_id: int = GUILD_ID,
    channels: Sequence[dict[str, Any]] = (),
    threads: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "id": str(guild_id),
        "name": "Test guild",
        "owner_id": "1",
        "roles": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 2,
        "members": [member(BOT_USER)],
        "channels": list(channels),
        "threads": list(threads),
        "preferred_locale": "en-US",
    }


def dm_channel(channel_id: int | str, recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 1, "recipients": [recipient], "last_message_id": None}


def attachment(
    url: str,
    *,
    file_name: str,
    size: int,
    content_type: str | None = None,
    duration_seconds: float | None = None,
) -> dict[str, Any]:
    """An attachment as a message carries it; `url` is where its bytes are (the fake CDN).

    With `duration_seconds` it is a voice message's audio (with a flat waveform).
    """
    payload: dict[str, Any] = {
        "id": snowflake(),
        "filename": file_name,
        "size": size,
        "url": url,
        "proxy_url": url,
    }
    if content_type is not None:
        payload["content_type"] = content_type
    if duration_seconds is not None:
        payload["duration_secs"] = duration_seconds
        payload["waveform"] = base64.b64encode(bytes(32)).decode()
    return payload


def message(
    *,
    channel_id: int | str,
    author: dict[str, Any],
    content: str,
    guild_id: int | None = None,
    mentions: Sequence[dict[str, Any]] = (),
    referenced: dict[str, Any] | None = None,
    attachments: Sequence[dict[str, Any]] = (),
    is_voice_message: bool = False,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload; in a guild the author also comes as a member."""
    payload: dict[str, Any] = {
        "id": snowflake(),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": _now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": list(mentions),
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": IS_VOICE_MESSAGE_FLAG if is_voice_message else 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {k: v for k, v in member(author).items() if k != "user"}
    if referenced is not None:
        payload["type"] = 19
        payload["message_reference"] = {
            "message_id": referenced["id"],
            "channel_id": referenced["channel_id"],
        }
        payload["referenced_message"] = referenced
    return payload


def slash_command(
    name: str,
    *,
    user_payload: dict[str, Any],
    channel: dict[str, Any],
    options: dict[str, str] | None = None,
    focused: str | None = None,
    locale: str = "en-US",
    guild_id: int | None = None,
    command_guild_id: int | None = None,
    permissions: int = 0,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload for a slash command (or its autocomplete, with `focused`);
    `permissions` are the member's resolved permissions in the channel."""
    data: dict[str, Any] = {
        "id": snowflake(),
        "name": name,
        "type": 1,
        "options": [
            {"name": key, "type": 3, "value": value, "focused": key == focused}
            for key, value in (options or {}).items()
        ],
    }
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    payload: dict[str, Any] = {
        "id": snowflake(),
        "application_id": str(APPLICATION_ID),
        "type": 4 if focused else 2,
        "token": f"token-{snowflake()}",
        "version": 1,
        "data": data,
        "channel_id": channel["id"],
        "channel": channel,
        "locale": locale,
        "attachment_size_limit": 8 * 1024 * 1024,
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {},
    }
    if guild_id is None:
        payload["user"] = user_payload
        payload["context"] = 1
    else:
        payload["guild_id"] = str(guild_id)
        payload["member"] = {**member(user_payload), "permissions": str(permissions)}
        payload["context"] = 0
    return payload
