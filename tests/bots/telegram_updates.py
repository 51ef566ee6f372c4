"""Factories for Bot API update JSON, as Telegram would send it to the bot."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.bots.telegram_api import BOT_USER, BOT_USERNAME

GROUP_ID = -1001234567890

ALICE = {"id": 1001, "is_bot": False, "first_name": "Alice", "language_code": "en"}
BRUNO = {"id": 1002, "is_bot": False, "first_name": "Bruno", "language_code": "pt-br"}

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def private_chat(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def group_chat(chat_id: int = GROUP_ID) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "Test group"}


def message(
    text: str | None,
    *,
    user: dict[str, Any] = ALICE,
    chat: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message object; `chat` defaults to the private chat with `user`; `extra` adds fields."""
    data: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat or private_chat(user),
        "from": user,
    }
    if text is not None:
        data["text"] = text
    if entities:
        data["entities"] = entities
    if reply_to is not None:
        data["reply_to_message"] = reply_to
    return data | extra


def update(**fields: Any) -> dict[str, Any]:
    """An update with a fresh id and the given fields (`message=...`, `edited_message=...`)."""
    return {"update_id": next(_update_ids), **fields}


def private_message(text: str, *, user: dict[str, Any] = ALICE) -> dict[str, Any]:
    return update(message=message(text, user=user))


def group_message(
    text: str, *, user: dict[str, Any] = ALICE, chat_id: int = GROUP_ID, **kwargs: Any
) -> dict[str, Any]:
    return update(message=message(text, user=user, chat=group_chat(chat_id), **kwargs))


def group_mention(
    text: str, *, user: dict[str, Any] = ALICE, chat_id: int = GROUP_ID
) -> dict[str, Any]:
    """`@test_bot <text>` in a group, with the `mention` entity Telegram adds."""
    mention = f"@{BOT_USERNAME}"
    entity = {"type": "mention", "offset": 0, "length": len(mention)}
    return group_message(f"{mention} {text}", user=user, chat_id=chat_id, entities=[entity])


def bot_message(text: str, *, chat_id: int = GROUP_ID, message_id: int = 9_999) -> dict[str, Any]:
    """A message the bot sent earlier, as it appears in `reply_to_message`."""
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": group_chat(chat_id),
        "from": BOT_USER,
        "text": text,
    }


def reply_to_bot(
    text: str, *, user: dict[str, Any] = ALICE, chat_id: int = GROUP_ID
) -> dict[str, Any]:
    return group_message(text, user=user, chat_id=chat_id, reply_to=bot_message("earlier answer"))


def command(
    text: str, *, user: dict[str, Any] = ALICE, chat_id: int | None = None
) -> dict[str, Any]:
    """`/name[@bot] args` with its `bot_command` entity; private unless `chat_id` is a group."""
    word = text.split(maxsplit=1)[0]
    entity = {"type": "bot_command", "offset": 0, "length": len(word)}
    chat = group_chat(chat_id) if chat_id is not None else private_chat(user)
    return update(message=message(text, user=user, chat=chat, entities=[entity]))


def document(
    file_id: str,
    *,
    file_name: str | None = "notes.txt",
    mime_type: str | None = "text/plain",
    file_size: int | None = None,
) -> dict[str, Any]:
    """A `document` object; Telegram leaves out the fields it does not know."""
    data: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"unique-{file_id}"}
    optional = {"file_name": file_name, "mime_type": mime_type, "file_size": file_size}
    return data | {key: value for key, value in optional.items() if value is not None}


def voice(
    file_id: str, *, duration: int = 3, mime_type: str | None = "audio/ogg", file_size: int = 0
) -> dict[str, Any]:
    """A `voice` object, as Telegram sends a voice note."""
    data: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"unique-{file_id}"}
    optional = {"mime_type": mime_type, "file_size": file_size or None}
    return data | {"duration": duration} | {k: v for k, v in optional.items() if v is not None}


def audio(
    file_id: str, *, duration: int = 60, file_name: str | None = None, mime_type: str | None = None
) -> dict[str, Any]:
    """An `audio` object (a music or recording file); Telegram leaves out what it does not know."""
    data: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"unique-{file_id}"}
    optional = {"file_name": file_name, "mime_type": mime_type}
    return data | {"duration": duration} | {k: v for k, v in optional.items() if v is not None}


def document_message(document_payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A file sent as a document, with an optional caption; private unless `chat_id` is set."""
    return file_message("document", document_payload, **kwargs)


def file_message(
    kind: str,
    payload: dict[str, Any],
    *,
    caption: str | None = None,
    caption_entities: list[dict[str, Any]] | None = None,
    user: dict[str, Any] = ALICE,
    chat_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message carrying a file as `kind` (`document`, `voice`, `audio`), maybe captioned."""
    extra: dict[str, Any] = {kind: payload}
    if caption is not None:
        extra["caption"] = caption
    if caption_entities:
        extra["caption_entities"] = caption_entities
    chat = group_chat(chat_id) if chat_id is not None else private_chat(user)
    return update(message=message(None, user=user, chat=chat, reply_to=reply_to, **extra))


def photo(file_id: str = "photo-1") -> list[dict[str, Any]]:
    """A `photo` field: the sizes Telegram offers of one picture."""
    return [
        {"file_id": f"{file_id}-s", "file_unique_id": f"u-{file_id}-s", "width": 90, "height": 90},
        {"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 800, "height": 800},
    ]


def video(
    file_id: str, *, duration: int = 30, file_name: str | None = "clip.mp4"
) -> dict[str, Any]:
    """A `video` object."""
    data: dict[str, Any] = {
        "file_id": file_id,
        "file_unique_id": f"unique-{file_id}",
        "width": 640,
        "height": 360,
        "duration": duration,
        "mime_type": "video/mp4",
    }
    return data | ({"file_name": file_name} if file_name else {})


def video_note(file_id: str, *, duration: int = 8) -> dict[str, Any]:
    """A `video_note` object: a round video message."""
    return {
        "file_id": file_id,
        "file_unique_id": f"unique-{file_id}",
        "length": 240,
        "duration": duration,
    }


def sticker(file_id: str = "sticker-1") -> dict[str, Any]:
    """A `sticker` object."""
    return {
        "file_id": file_id,
        "file_unique_id": f"unique-{file_id}",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }


def mention_entities(text: str) -> list[dict[str, Any]]:
    """The `mention` entity of `@test_bot` inside `text`."""
    mention = f"@{BOT_USERNAME}"
    return [{"type": "mention", "offset": text.index(mention), "length": len(mention)}]
