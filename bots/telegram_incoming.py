"""Telegram messages → `core.types.Incoming`: who, where, what was said and what was sent.

Text and captions are what was said. Documents, voice notes, audio, videos and video
notes become attachments whose bytes are downloaded only when the core asks (after
checking their size); voice notes, audio and video notes go in as `is_voice`, so the core
hears short ones and answers them like typed text. What the core cannot take (photos,
stickers, locations, …) is named in `unsupported`, so the user hears why.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from telegram import Audio, Bot, Document, Message, Video, VideoNote, Voice
from telegram.constants import ChatMemberStatus, ChatType, MessageEntityType
from telegram.error import BadRequest
from telegram.warnings import PTBDeprecationWarning

from bots.telegram_messenger import as_seconds
from core.errors import ReasonedError
from core.types import Attachment, ChatRef, Command, Identity, Incoming, Platform

# The official Bot API serves bots files up to 20 MB; a local-mode server has no such cap.
BOT_API_DOWNLOAD_LIMIT_BYTES = 20 * 1024 * 1024
DEFAULT_FILE_NAME = "document"
DEFAULT_MIME_TYPE = "application/octet-stream"
# Telegram voice notes come without a name; they are OGG/Opus. Video notes are MP4.
VOICE_FILE_NAME = "voice.ogg"
VOICE_MIME_TYPE = "audio/ogg"
VIDEO_NOTE_FILE_NAME = "video-note.mp4"
VIDEO_MIME_TYPE = "video/mp4"
DEFAULT_AUDIO_FILE_NAME = "audio"
DEFAULT_AUDIO_MIME_TYPE = "audio/mpeg"
DEFAULT_VIDEO_FILE_NAME = "video.mp4"
# Content the bot cannot use yet, by the Message field that carries it.
UNSUPPORTED_CONTENT = (
    "photo",
    "sticker",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)

# Files the Bot API serves by `file_id` (`getFile`), with the size it announced.
TelegramFile = Document | Voice | Audio | Video | VideoNote


def to_incoming(message: Message, bot: Bot) -> Incoming | None:
    """The core's view of a message; None when it is not for this bot or carries nothing."""
    user = message.from_user
    said = message.text if message.text is not None else message.caption
    attachments = attachments_of(message, bot)
    unsupported = tuple(kind for kind in UNSUPPORTED_CONTENT if getattr(message, kind))
    if user is None or (said is None and not attachments and not unsupported):
        return None  # service messages (members joining, pins) and empty ones
    if is_for_another_bot(message, bot.username):
        return None
    command = parse_command(message)
    chat = message.chat
    text = "" if command else strip_mention(said or "", bot.username)

    async def is_chat_admin() -> bool:
        member = await bot.get_chat_member(chat.id, user.id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    return Incoming(
        user=Identity(Platform.TELEGRAM, str(user.id), display_name=user.first_name),
        chat=ChatRef(Platform.TELEGRAM, str(chat.id), is_private=chat.type == ChatType.PRIVATE),
        text=text,
        command=command,
        is_addressed=is_mentioned(message, bot) or is_reply_to(message, bot),
        language_hint=user.language_code,
        attachments=attachments,
        unsupported=unsupported,
        chat_admin_check=is_chat_admin,
        # Webhook retries and polling after a restart redeliver the same message.
        delivery_id=f"tg:message:{chat.id}:{message.message_id}",
    )


def attachments_of(message: Message, bot: Bot) -> tuple[Attachment, ...]:
    """The message's file, voice note, audio, video or video note (or nothing)."""
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
    if message.video is not None:
        video = message.video
        name = video.file_name or DEFAULT_VIDEO_FILE_NAME
        return (attachment_of(bot, video, name, video.mime_type or VIDEO_MIME_TYPE),)
    if message.video_note is not None:
        note = message.video_note
        return (attachment_of(bot, note, VIDEO_NOTE_FILE_NAME, VIDEO_MIME_TYPE, is_voice=True),)
    return ()


def attachment_of(
    bot: Bot, medium: TelegramFile, file_name: str, mime_type: str, *, is_voice: bool = False
) -> Attachment:
    """A sent file as the core sees it; its bytes are downloaded only if the core asks."""

    async def fetch() -> bytes:
        return await download(bot, medium, file_name)

    has_duration = isinstance(medium, Voice | Audio | Video | VideoNote)
    return Attachment(
        file_name=file_name,
        mime_type=mime_type,
        size_bytes=medium.file_size or 0,
        platform_file_id=medium.file_id,
        fetch=fetch,
        is_voice=is_voice,
        duration_seconds=duration_seconds(medium) if has_duration else None,
    )


def duration_seconds(medium: Any) -> float:
    """How long a voice note, audio or video plays, whichever type this PTB version returns."""
    # PTB 22 warns on reading durations as int until PTB_TIMEDELTA is set; both are fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = medium.duration
    return as_seconds(value)


class FileTooBigForBotApi(ReasonedError):
    """Telegram's Bot API would not let the bot download this file (over 20 MB)."""

    def __init__(self, file_name: str, size_bytes: int) -> None:
        limit = megabytes(BOT_API_DOWNLOAD_LIMIT_BYTES)
        super().__init__(
            "too_big_for_platform",
            f"{file_name}: Telegram refuses bot downloads over 20 MB; a self-hosted Bot API "
            "server in local mode (TELEGRAM_API_BASE_URL, TELEGRAM_LOCAL_MODE) lifts this",
            name=file_name,
            size=megabytes(size_bytes) if size_bytes else f"> {limit}",
            limit=limit,
        )


async def download(bot: Bot, medium: TelegramFile, file_name: str) -> bytes:
    """The file's bytes: from Telegram's file server, or from disk in local mode."""
    try:
        file = await bot.get_file(medium.file_id)
    except BadRequest as exc:
        if "too big" not in exc.message.lower():
            raise
        raise FileTooBigForBotApi(file_name, medium.file_size or 0) from exc
    return bytes(await file.download_as_bytearray())


def megabytes(size_bytes: int) -> str:
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
    types: list[str | None] = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
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
