"""The Telegram adapter end to end: real PTB, core, Postgres and Redis; a fake Bot API server.

Updates are parsed from Bot API JSON into real `telegram.Update` objects and go through
`Application.process_update`; assertions look at what the bot sent to the fake server.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import SecretStr
from telegram import Message, Update
from telegram.ext import Application

from bots import telegram_bot, telegram_messenger
from bots.delivery import TypingIndicator, deliver_events
from bots.telegram_bot import (
    build_application,
    deliver_outbox,
    file_base_url,
    publish_commands,
    serve,
)
from bots.telegram_incoming import to_incoming
from bots.telegram_messenger import TelegramChat, as_seconds
from core.commands import ADMIN_COMMANDS, COMMAND_DESCRIPTIONS
from core.deps import CoreDeps
from core.i18n import t
from core.jobs import INGEST_DOCUMENT
from core.outbox import CONSUMER_GROUP, stream_key
from core.settings import ConfigError
from core.types import (
    ChatRef,
    Command,
    Event,
    Identity,
    Notice,
    OutboxMessage,
    Platform,
    TextDelta,
)
from tests.bots import telegram_updates as updates
from tests.bots.telegram_api import TOKEN, FakeBotApi
from tests.bots.telegram_updates import ALICE, BRUNO, GROUP_ID
from tests.fakes import EchoChatModel
from tests.speech import needs_speech_tools, speak

WAIT_SECONDS = 10.0
NOTES = b"Recife is in Pernambuco."


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def telegram_deps(deps: CoreDeps, telegram_api: FakeBotApi) -> CoreDeps:
    """The real core deps, with Telegram settings pointing at the fake Bot API."""
    settings = deps.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(TOKEN),
            "telegram_api_base_url": telegram_api.base_url,
        }
    )
    return replace(deps, settings=settings)


@pytest.fixture
async def application(
    telegram_deps: CoreDeps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Application]:
    """An initialised application; fails the test if the adapter logged an error."""
    monkeypatch.setattr(telegram_messenger, "PRIVATE_EDIT_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(telegram_messenger, "GROUP_EDIT_INTERVAL_SECONDS", 0.0)
    app = build_application(telegram_deps)
    await app.initialize()
    yield app
    await app.shutdown()
    errors = [
        r for r in caplog.records if r.name == telegram_bot.__name__ and r.levelno >= logging.ERROR
    ]
    assert not errors, [r.getMessage() for r in errors]


async def feed(app: Application, payload: dict[str, Any]) -> None:
    await app.process_update(Update.de_json(payload, app.bot))


async def wait_for(condition: Any, timeout: float = WAIT_SECONDS) -> None:
    """Poll an (async or plain) condition until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- private chats ---------------------------------------------------------------------


async def test_private_message_gets_a_streamed_reply(
    application: Application, telegram_api: FakeBotApi
) -> None:
    payload = updates.private_message("hello there")
    await feed(application, payload)

    [reply] = telegram_api.sent_to(ALICE["id"])
    assert reply.text == "echo: hello there"
    assert reply.reply_to_message_id == payload["message"]["message_id"]
    assert reply.edit_count >= 1, "the answer should grow by edits"
    assert len(telegram_api.calls_to("sendMessage")) == 1


async def test_incoming_carries_identity_chat_and_language(application: Application) -> None:
    payload = updates.group_mention("oi, tudo bem?", user=BRUNO)
    message = Message.de_json(payload["message"], application.bot)

    incoming = to_incoming(message, application.bot)

    assert incoming is not None
    assert incoming.user == Identity(Platform.TELEGRAM, str(BRUNO["id"]))
    assert incoming.user.display_name == "Bruno"
    assert incoming.chat == ChatRef(Platform.TELEGRAM, str(GROUP_ID), is_private=False)
    assert incoming.text == "oi, tudo bem?"
    assert incoming.is_addressed
    assert incoming.language_hint == "pt-br"


async def test_typing_indicator_is_renewed_until_stopped(
    application: Application, telegram_api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TelegramChat, "typing_interval_seconds", 0.02)
    message = Message.de_json(updates.message("hi"), application.bot)

    async with TypingIndicator(TelegramChat.answering(message), is_active=True):
        await wait_for(lambda: len(telegram_api.calls_to("sendChatAction")) >= 3)
    sent = len(telegram_api.calls_to("sendChatAction"))
    await asyncio.sleep(0.1)

    assert len(telegram_api.calls_to("sendChatAction")) == sent
    assert telegram_api.calls_to("sendChatAction")[0] == {
        "chat_id": ALICE["id"],
        "action": "typing",
    }


# --- groups ----------------------------------------------------------------------------


async def test_group_mention_gets_a_reply_without_the_mention(
    application: Application, telegram_api: FakeBotApi
) -> None:
    payload = updates.group_mention("what is up")
    await feed(application, payload)

    [reply] = telegram_api.sent_to(GROUP_ID)
    assert reply.text == "echo: what is up"
    assert reply.reply_to_message_id == payload["message"]["message_id"]


@pytest.mark.parametrize(
    "payload",
    [
        updates.group_message("just chatting among humans"),
        updates.group_message(
            "@someone_else have you met @test_botanist?",
            entities=[
                {"type": "mention", "offset": 0, "length": 13},
                {"type": "mention", "offset": 27, "length": 14},
            ],
        ),
    ],
    ids=["no-mention", "other-mentions"],
)
async def test_group_message_not_for_the_bot_gets_no_reply(
    application: Application, telegram_api: FakeBotApi, payload: dict[str, Any]
) -> None:
    await feed(application, payload)

    assert telegram_api.calls_to("sendMessage") == []
    assert telegram_api.calls_to("sendChatAction") == []


async def test_reply_to_the_bot_in_a_group_gets_a_reply(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.reply_to_bot("and then?"))

    assert telegram_api.texts_in(GROUP_ID) == ["echo: and then?"]


async def test_group_members_have_separate_memory(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.group_mention("I am Alice", user=ALICE))
    await feed(application, updates.command("/history@test_bot", user=BRUNO, chat_id=GROUP_ID))
    await feed(application, updates.command("/history@test_bot", user=ALICE, chat_id=GROUP_ID))

    _answer, brunos_history, alices_history = telegram_api.texts_in(GROUP_ID)
    assert brunos_history == t("history_empty", "pt-BR")
    assert "I am Alice" in alices_history
    assert "echo: I am Alice" in alices_history


# --- commands --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chat_id"),
    [("/help", None), ("/help@test_bot", None), ("/help@test_bot", GROUP_ID), ("/help", GROUP_ID)],
)
async def test_help_command(
    application: Application, telegram_api: FakeBotApi, text: str, chat_id: int | None
) -> None:
    await feed(application, updates.command(text, chat_id=chat_id))

    assert telegram_api.texts_in(chat_id or ALICE["id"]) == [t("help", "en")]


async def test_command_for_another_bot_is_ignored(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.command("/help@other_bot", chat_id=GROUP_ID))

    assert telegram_api.calls_to("sendMessage") == []


async def test_unknown_command_is_answered_by_the_core(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.command("/frobnicate now"))

    assert telegram_api.texts_in(ALICE["id"]) == [t("unknown_command", "en", command="frobnicate")]


async def test_ask_command_in_a_group_talks_to_the_model(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.command("/ask@test_bot what now", chat_id=GROUP_ID))

    assert telegram_api.texts_in(GROUP_ID) == ["echo: what now"]


async def test_reset_then_history_is_empty(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.private_message("remember me"))
    await feed(application, updates.command("/history"))
    await feed(application, updates.command("/reset"))
    await feed(application, updates.command("/history"))

    _answer, history, reset, history_after = telegram_api.texts_in(ALICE["id"])
    assert "remember me" in history
    assert reset == t("reset_done", "en")
    assert history_after == t("history_empty", "en")


async def test_command_menu_is_published_in_english_and_portuguese(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await publish_commands(application, ["tg:77", "dc:5"])

    default, *admin_en, portuguese, admin_pt = telegram_api.calls_to("setMyCommands")
    everyone = [name for name in COMMAND_DESCRIPTIONS if name not in ADMIN_COMMANDS]
    assert "language_code" not in default and "scope" not in default
    assert [c["command"] for c in default["commands"]] == everyone
    first = next(iter(COMMAND_DESCRIPTIONS))
    assert default["commands"][0]["description"] == COMMAND_DESCRIPTIONS[first]["en"]
    assert portuguese["language_code"] == "pt"
    assert portuguese["commands"][0]["description"] == COMMAND_DESCRIPTIONS[first]["pt-BR"]
    # Admins see their commands in their own private chat only.
    for admin in (*admin_en, admin_pt):
        assert admin["scope"] == {"type": "chat", "chat_id": 77}
        assert [c["command"] for c in admin["commands"]] == list(COMMAND_DESCRIPTIONS)


# --- long answers, flood control and formatting ----------------------------------------


def long_answer_with_code(lines: int = 200) -> str:
    code = "\n".join(f"value_{i:03d} = compute({i}) * 2  # keep line {i:03d}" for i in range(lines))
    intro = "Here is the script you asked for, with **every** step spelled out.\n\n"
    outro = "\n\nRun it with `python script.py` and tell me how it goes."
    return intro + "```python\n" + code + "\n```" + outro


@pytest.mark.parametrize("rejects_formatting", [False, True])
async def test_long_answer_is_split_with_code_blocks_intact(
    application: Application,
    telegram_api: FakeBotApi,
    chat_model: EchoChatModel,
    monkeypatch: pytest.MonkeyPatch,
    rejects_formatting: bool,
) -> None:
    # ~1000 words: fewer edits
    monkeypatch.setattr(telegram_messenger, "PRIVATE_EDIT_INTERVAL_SECONDS", 0.05)
    telegram_api.reject_entities = rejects_formatting
    chat_model.reply = long_answer_with_code()
    assert len(chat_model.reply) > 2 * 4096

    await feed(application, updates.private_message("write me a long script"))

    messages = telegram_api.sent_to(ALICE["id"])
    assert len(messages) >= 3
    everything = "\n".join(m.text for m in messages)
    for i in range(200):
        assert f"value_{i:03d} = compute({i}) * 2  # keep line {i:03d}" in everything
    for message in messages:
        assert len(message.text.encode("utf-16-le")) // 2 <= 4096
        assert "▌" not in message.text
        if rejects_formatting:
            assert message.text.count("```") % 2 == 0, "each piece closes its code block"
        elif "value_" in message.text:
            assert any(
                e["type"] == "pre" and e.get("language") == "python" for e in message.entities
            ), "each piece shows its part of the code as a python block"


@pytest.mark.parametrize("method", ["editMessageText", "sendMessage"])
async def test_flood_control_does_not_lose_the_final_text(
    application: Application, telegram_api: FakeBotApi, method: str
) -> None:
    telegram_api.fail_next(
        method, status=429, description="Too Many Requests: retry after 1", retry_after=1
    )

    await feed(application, updates.private_message("one two three four five"))

    assert telegram_api.texts_in(ALICE["id"]) == ["echo: one two three four five"]
    assert len(telegram_api.calls_to(method)) >= 2, "the 429 was hit and the bot went on"


async def test_markdown_is_sent_as_entities(
    application: Application, telegram_api: FakeBotApi, chat_model: EchoChatModel
) -> None:
    chat_model.reply = "Some **bold** text"

    await feed(application, updates.private_message("format it"))

    [reply] = telegram_api.sent_to(ALICE["id"])
    assert reply.text == "Some bold text"
    assert reply.entities == [{"type": "bold", "offset": 5, "length": 4}]


async def test_rejected_formatting_falls_back_to_plain_text(
    application: Application, telegram_api: FakeBotApi, chat_model: EchoChatModel
) -> None:
    chat_model.reply = "Some **bold** text"
    telegram_api.reject_entities = True

    await feed(application, updates.private_message("format it"))

    [reply] = telegram_api.sent_to(ALICE["id"])
    assert reply.text == "Some **bold** text"
    assert reply.entities == []


async def test_formatting_refused_once_is_retried_plain(
    application: Application, telegram_api: FakeBotApi, chat_model: EchoChatModel
) -> None:
    chat_model.reply = "Some **bold** text"
    telegram_api.fail_next(
        "sendMessage", status=400, description="Bad Request: can't parse entities"
    )

    await feed(application, updates.private_message("format it"))

    assert telegram_api.texts_in(ALICE["id"]) == ["Some bold text"]


async def test_an_edit_that_changes_nothing_is_not_an_error(
    application: Application, telegram_api: FakeBotApi
) -> None:
    chat = TelegramChat(application.bot, ALICE["id"])
    handle = await chat.send("Same **text**", is_formatted=True)

    await chat.edit(handle, "Same **text**", is_formatted=True)

    [edit] = telegram_api.calls_to("editMessageText")
    assert edit["text"] == "Same text"
    assert telegram_api.texts_in(ALICE["id"]) == ["Same text"]


# --- failures --------------------------------------------------------------------------


async def test_model_failure_gives_a_friendly_message_and_keeps_memory(
    application: Application,
    telegram_api: FakeBotApi,
    telegram_deps: CoreDeps,
    chat_model: EchoChatModel,
) -> None:
    chat_model.error = openai.APIConnectionError(request=httpx.Request("POST", "http://x"))

    await feed(application, updates.private_message("are you there"))

    assert telegram_api.texts_in(ALICE["id"]) == [t("reason_model_unreachable", "en")]
    key = f"tg:{ALICE['id']}|tg:{ALICE['id']}"
    assert (await telegram_deps.memory.load(key)).is_empty


async def test_error_notice_after_partial_text_keeps_the_partial_message(
    application: Application, telegram_api: FakeBotApi
) -> None:
    message = Message.de_json(updates.message("tell me"), application.bot)

    async def events() -> AsyncIterator[Event]:
        yield TextDelta("Partial ")
        yield TextDelta("answer")
        yield Notice("The model went away.", is_error=True)

    await deliver_events(events(), TelegramChat.answering(message))

    assert telegram_api.texts_in(ALICE["id"]) == ["Partial answer", "The model went away."]


async def test_a_failing_typing_indicator_keeps_trying(
    application: Application, telegram_api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TelegramChat, "typing_interval_seconds", 0.02)
    telegram_api.fail_next("sendChatAction", status=400, description="Bad Request: chat not found")
    message = Message.de_json(updates.message("hi"), application.bot)

    async with TypingIndicator(TelegramChat.answering(message), is_active=True):
        await wait_for(lambda: len(telegram_api.calls_to("sendChatAction")) >= 2)


async def test_a_failing_send_reaches_the_error_handler(
    application: Application, telegram_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    telegram_api.fail_next(
        "sendMessage", status=403, description="Forbidden: bot can't initiate conversation"
    )

    await feed(application, updates.private_message("hello"))

    assert telegram_api.texts_in(ALICE["id"]) == [t("error_generic", "en")]
    [record] = [r for r in caplog.records if r.name == telegram_bot.__name__]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    caplog.clear()  # expected here; the fixture fails on unexpected errors


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 900_001},
        updates.update(edited_message=updates.message("changed my mind")),
        updates.update(
            channel_post={
                "message_id": 5,
                "date": 0,
                "chat": {"id": -100777, "type": "channel", "title": "News"},
                "text": "@test_bot hello channel",
            }
        ),
        updates.update(message=updates.message(None)),  # a sticker or photo: no text
        updates.update(
            message={
                "message_id": 6,
                "date": 0,
                "chat": {"id": GROUP_ID, "type": "supergroup", "title": "Test group"},
                "text": "no sender at all",
            }
        ),
    ],
    ids=["only-update-id", "edited", "channel-post", "no-text", "no-sender"],
)
async def test_malformed_updates_are_ignored(
    application: Application, telegram_api: FakeBotApi, payload: dict[str, Any]
) -> None:
    await feed(application, payload)

    assert telegram_api.calls_to("sendMessage") == []
    assert telegram_api.calls_to("sendChatAction") == []


# --- documents -------------------------------------------------------------------------


@pytest.fixture
async def no_documents(telegram_deps: CoreDeps) -> CoreDeps:
    """Start without documents: the same bytes in the same scope would be a duplicate."""
    async with telegram_deps.pool.connection() as conn:
        await conn.execute("TRUNCATE documents CASCADE")
    return telegram_deps


async def documents_in(deps: CoreDeps) -> list[tuple[str, str, str]]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT id, title, status FROM documents ORDER BY created_at")
        return list(await cur.fetchall())


async def deferred_jobs(deps: CoreDeps) -> list[tuple[str, dict[str, Any]]]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT task_name, args FROM procrastinate_jobs ORDER BY id")
        return list(await cur.fetchall())


async def send_notes(app: Application, api: FakeBotApi, **kwargs: Any) -> dict[str, Any]:
    """Alice sends notes.txt (in private unless `chat_id` is given); returns the update."""
    api.add_file("notes-1", NOTES, file_name="notes.txt")
    document = updates.document("notes-1", file_size=len(NOTES))
    payload = updates.document_message(document, **kwargs)
    await feed(app, payload)
    return payload


async def test_private_document_is_downloaded_recorded_and_queued(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps
) -> None:
    payload = await send_notes(application, telegram_api)

    assert [call["file_id"] for call in telegram_api.calls_to("getFile")] == ["notes-1"]
    assert telegram_api.calls_to("download") == [{"file_path": "documents/notes-1_notes.txt"}]
    [status] = telegram_api.sent_to(ALICE["id"])
    assert status.text == t("doc_received", "en", name="notes.txt")
    assert status.reply_to_message_id == payload["message"]["message_id"]
    [(document_id, title, state)] = await documents_in(no_documents)
    assert (title, state) == ("notes.txt", "queued")
    [(task, args)] = await deferred_jobs(no_documents)
    assert task == INGEST_DOCUMENT and args["document_id"] == document_id
    remembered = await no_documents.outbox.status_message(Platform.TELEGRAM, document_id)
    assert remembered == f"{ALICE['id']}:{status.message_id}"


async def test_document_without_name_or_type_gets_defaults(application: Application) -> None:
    document = updates.document("anon", file_name=None, mime_type=None)
    payload = updates.document_message(document, caption="for later")
    message = Message.de_json(payload["message"], application.bot)

    incoming = to_incoming(message, application.bot)

    assert incoming is not None and incoming.text == "for later"
    [attachment] = incoming.attachments
    assert (attachment.file_name, attachment.mime_type) == ("document", "application/octet-stream")
    assert (attachment.size_bytes, attachment.platform_file_id) == (0, "anon")


async def test_group_document_is_learned_only_when_addressed(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps
) -> None:
    await send_notes(application, telegram_api, caption="for the team", chat_id=GROUP_ID)
    assert telegram_api.calls_to("getFile") == []
    assert telegram_api.calls_to("sendMessage") == []

    mention = {"type": "mention", "offset": 0, "length": len("@test_bot")}
    await send_notes(
        application,
        telegram_api,
        caption="@test_bot for the team",
        caption_entities=[mention],
        chat_id=GROUP_ID,
    )

    assert telegram_api.texts_in(GROUP_ID) == [t("doc_received", "en", name="notes.txt")]
    [(_id, _title, state)] = await documents_in(no_documents)
    assert state == "queued"


async def test_oversized_document_is_refused_without_downloading(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps
) -> None:
    size = 21 * 1024 * 1024
    document = updates.document("big-1", file_name="big.pdf", file_size=size)

    await feed(application, updates.document_message(document))

    assert telegram_api.calls_to("getFile") == []
    assert telegram_api.texts_in(ALICE["id"]) == [
        t("doc_too_large", "en", name="big.pdf", size="21.0 MB", limit="20.0 MB")
    ]
    assert await documents_in(no_documents) == []


async def test_a_file_the_bot_api_will_not_serve_gets_a_clear_message(
    application: Application,
    telegram_api: FakeBotApi,
    no_documents: CoreDeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    telegram_api.fail_next("getFile", status=400, description="Bad Request: file is too big")
    document = updates.document("huge-1", file_name="huge.pdf")  # no file_size given

    await feed(application, updates.document_message(document))

    [refusal] = telegram_api.texts_in(ALICE["id"])
    assert "huge.pdf" in refusal and "> 20.0 MB" in refusal and "limit is 20.0 MB" in refusal
    assert telegram_api.calls_to("download") == []
    assert await documents_in(no_documents) == []
    assert any("self-hosted Bot API server" in r.getMessage() for r in caplog.records)


async def test_docs_and_forget(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps
) -> None:
    await send_notes(application, telegram_api)
    [(document_id, _title, _state)] = await documents_in(no_documents)

    await feed(application, updates.command("/docs"))
    await feed(application, updates.command(f"/forget {document_id[:8]}"))
    await feed(application, updates.command("/docs"))

    _status, listed, forgot, empty = telegram_api.texts_in(ALICE["id"])
    assert "notes.txt" in listed and document_id[:8] in listed
    assert forgot == t("forget_done", "en", name="notes.txt")
    assert empty == t("docs_empty", "en")
    assert await documents_in(no_documents) == []


# --- voice notes and audio ------------------------------------------------------------


async def test_voice_note_is_a_voice_attachment_fetched_on_demand(
    application: Application, telegram_api: FakeBotApi
) -> None:
    telegram_api.add_file("voice-1", b"OggS fake opus", file_name="voice.ogg")
    voice = updates.voice("voice-1", duration=3, file_size=len(b"OggS fake opus"))
    payload = updates.file_message("voice", voice)
    message = Message.de_json(payload["message"], application.bot)

    incoming = to_incoming(message, application.bot)

    assert incoming is not None and incoming.text == ""
    [attachment] = incoming.attachments
    assert (attachment.file_name, attachment.mime_type) == ("voice.ogg", "audio/ogg")
    assert (attachment.is_voice, attachment.duration_seconds) == (True, 3.0)
    assert (attachment.size_bytes, attachment.platform_file_id) == (14, "voice-1")
    assert telegram_api.calls_to("getFile") == [], "nothing is downloaded until asked"
    assert attachment.fetch is not None and await attachment.fetch() == b"OggS fake opus"
    assert [call["file_id"] for call in telegram_api.calls_to("getFile")] == ["voice-1"]


async def test_audio_file_is_a_voice_attachment_with_defaults(application: Application) -> None:
    payload = updates.file_message("audio", updates.audio("song-1", duration=61), caption="hi")
    message = Message.de_json(payload["message"], application.bot)

    incoming = to_incoming(message, application.bot)

    assert incoming is not None and incoming.text == "hi"
    [attachment] = incoming.attachments
    assert (attachment.file_name, attachment.mime_type) == ("audio", "audio/mpeg")
    assert (attachment.is_voice, attachment.duration_seconds) == (True, 61.0)


async def test_documents_are_not_voice(application: Application) -> None:
    payload = updates.document_message(updates.document("doc-1"))
    message = Message.de_json(payload["message"], application.bot)

    incoming = to_incoming(message, application.bot)

    assert incoming is not None
    [attachment] = incoming.attachments
    assert (attachment.is_voice, attachment.duration_seconds) == (False, None)


def test_durations_read_as_numbers_or_timedeltas() -> None:
    assert as_seconds(3) == 3.0
    assert as_seconds(dtm.timedelta(seconds=2, milliseconds=500)) == 2.5


async def test_group_voice_note_is_heard_only_when_addressed(
    application: Application, telegram_api: FakeBotApi
) -> None:
    unaddressed = updates.file_message("voice", updates.voice("voice-2"), chat_id=GROUP_ID)
    message = Message.de_json(unaddressed["message"], application.bot)
    incoming = to_incoming(message, application.bot)
    assert incoming is not None and not incoming.is_addressed

    await feed(application, unaddressed)
    assert telegram_api.calls_to("getFile") == []
    assert telegram_api.calls_to("sendMessage") == []

    reply = updates.file_message(
        "voice",
        updates.voice("voice-3"),
        chat_id=GROUP_ID,
        reply_to=updates.bot_message("earlier answer"),
    )
    message = Message.de_json(reply["message"], application.bot)
    incoming = to_incoming(message, application.bot)
    assert incoming is not None and incoming.is_addressed


@needs_speech_tools
async def test_private_voice_note_is_downloaded_and_answered(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps, tmp_path: Path
) -> None:
    spoken = speak("What is the capital of Pernambuco?", "en", tmp_path / "voice.ogg", fmt="ogg")
    data = spoken.read_bytes()
    telegram_api.add_file("voice-4", data, file_name="voice.ogg")
    payload = updates.file_message("voice", updates.voice("voice-4", file_size=len(data)))

    await feed(application, payload)

    assert [call["file_id"] for call in telegram_api.calls_to("getFile")] == ["voice-4"]
    [first, *_rest] = telegram_api.sent_to(ALICE["id"])
    assert first.reply_to_message_id == payload["message"]["message_id"]


# --- outbox and lifecycle --------------------------------------------------------------


@asynccontextmanager
async def delivering(deps: CoreDeps, app: Application) -> AsyncIterator[None]:
    """Run the outbox consumer for the block."""
    consumer = asyncio.create_task(deliver_outbox(deps, app))
    try:
        yield
    finally:
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer


async def outbox_is_drained(deps: CoreDeps) -> bool:
    summary = await deps.redis.xpending(stream_key(Platform.TELEGRAM), CONSUMER_GROUP)
    return summary["pending"] == 0


async def test_outbox_message_is_delivered_and_acked(
    application: Application, telegram_api: FakeBotApi, telegram_deps: CoreDeps
) -> None:
    chat = ChatRef(Platform.TELEGRAM, str(ALICE["id"]), is_private=True)
    await telegram_deps.outbox.publish(OutboxMessage(chat, "Your **summary** is ready"))

    async with delivering(telegram_deps, application):
        await wait_for(lambda: telegram_api.texts_in(ALICE["id"]))
        await wait_for(lambda: outbox_is_drained(telegram_deps))

    [message] = telegram_api.sent_to(ALICE["id"])
    assert message.text == "Your summary is ready"
    assert message.entities == [{"type": "bold", "offset": 5, "length": 7}]


async def test_serve_polls_publishes_commands_delivers_outbox_and_stops(
    telegram_api: FakeBotApi, telegram_deps: CoreDeps
) -> None:
    chat = ChatRef(Platform.TELEGRAM, str(BRUNO["id"]), is_private=True)
    await telegram_deps.outbox.publish(OutboxMessage(chat, "job done"))

    task = asyncio.create_task(serve(telegram_deps))
    try:
        await wait_for(lambda: telegram_api.calls_to("getUpdates"))
        await wait_for(lambda: telegram_api.texts_in(BRUNO["id"]))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # Everyone's menu and the admin's (ADMIN_IDS=tg:1), in English and Portuguese.
    assert len(telegram_api.calls_to("setMyCommands")) == 4
    assert telegram_api.calls_to("deleteWebhook"), "polling starts by removing any webhook"
    assert telegram_api.texts_in(BRUNO["id"]) == ["job done"]


async def test_build_application_needs_a_token(deps: CoreDeps) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        build_application(deps)


@pytest.mark.parametrize(
    ("api", "files"),
    [
        ("https://api.telegram.org/bot", "https://api.telegram.org/file/bot"),
        ("http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081/file/bot"),
        ("http://proxy.local/telegram", "http://proxy.local/telegram/file/bot"),
    ],
)
def test_file_base_url_follows_the_api_base_url(api: str, files: str) -> None:
    assert file_base_url(api) == files


async def test_commands_parse_name_and_args(application: Application) -> None:
    message = Message.de_json(
        updates.command("/Model@test_bot  echo-large ")["message"], application.bot
    )
    incoming = to_incoming(message, application.bot)
    assert incoming is not None and incoming.command == Command("model", "echo-large")


async def test_job_progress_edits_the_status_message(
    application: Application, telegram_api: FakeBotApi, no_documents: CoreDeps
) -> None:
    await send_notes(application, telegram_api)
    [status] = telegram_api.sent_to(ALICE["id"])
    [(document_id, _title, _state)] = await documents_in(no_documents)
    chat = ChatRef(Platform.TELEGRAM, str(ALICE["id"]), is_private=True)
    outbox = no_documents.outbox

    async with delivering(no_documents, application):
        await outbox.publish(
            OutboxMessage(chat, "📄 notes.txt: reading…", status_key=document_id, is_final=False)
        )
        await wait_for(lambda: status.edit_count == 1)
        ready = OutboxMessage(chat, "✅ notes.txt is **ready**", status_key=document_id)
        await outbox.publish(ready)
        await wait_for(lambda: status.edit_count == 2)
        await wait_for(lambda: outbox_is_drained(no_documents))

    assert telegram_api.sent_to(ALICE["id"]) == [status]
    assert status.text == "✅ notes.txt is ready"
    assert status.entities == [{"type": "bold", "offset": 15, "length": 5}]
    assert len(telegram_api.calls_to("sendMessage")) == 1


async def test_status_without_a_message_to_edit_is_sent_then_edited(
    application: Application, telegram_api: FakeBotApi, telegram_deps: CoreDeps
) -> None:
    chat = ChatRef(Platform.TELEGRAM, str(ALICE["id"]), is_private=True)
    outbox = telegram_deps.outbox

    async with delivering(telegram_deps, application):
        await outbox.publish(OutboxMessage(chat, "step 1", status_key="unknown", is_final=False))
        await wait_for(lambda: telegram_api.texts_in(ALICE["id"]) == ["step 1"])
        await outbox.publish(OutboxMessage(chat, "step 2", status_key="unknown"))
        await wait_for(lambda: telegram_api.texts_in(ALICE["id"]) == ["step 2"])
        await wait_for(lambda: outbox_is_drained(telegram_deps))

    [message] = telegram_api.sent_to(ALICE["id"])
    assert message.edit_count == 1
    remembered = await outbox.status_message(Platform.TELEGRAM, "unknown")
    assert remembered == f"{ALICE['id']}:{message.message_id}"


async def test_deleted_status_message_is_replaced_by_a_new_one(
    application: Application, telegram_api: FakeBotApi, telegram_deps: CoreDeps
) -> None:
    chat = ChatRef(Platform.TELEGRAM, str(ALICE["id"]), is_private=True)
    outbox = telegram_deps.outbox
    await outbox.remember_status_message(Platform.TELEGRAM, "job-1", f"{ALICE['id']}:123")

    async with delivering(telegram_deps, application):
        await outbox.publish(OutboxMessage(chat, "still going", status_key="job-1"))
        await wait_for(lambda: telegram_api.texts_in(ALICE["id"]) == ["still going"])
        await wait_for(lambda: outbox_is_drained(telegram_deps))

    [edit] = telegram_api.calls_to("editMessageText")
    assert edit["message_id"] == 123
    [message] = telegram_api.sent_to(ALICE["id"])
    remembered = await outbox.status_message(Platform.TELEGRAM, "job-1")
    assert remembered == f"{ALICE['id']}:{message.message_id}"


async def test_a_notice_with_a_file_sends_the_file(
    application: Application, telegram_api: FakeBotApi
) -> None:
    message = Message.de_json(updates.message("/transcript"), application.bot)

    async def events() -> AsyncIterator[Event]:
        yield Notice("📝 Transcript attached.", file_name="talk.txt", file_data=b"[0:00] hi\n")

    await deliver_events(events(), TelegramChat.answering(message))

    assert telegram_api.texts_in(ALICE["id"]) == ["📝 Transcript attached."]
    [sent] = telegram_api.calls_to("sendDocument")
    assert sent["chat_id"] == ALICE["id"]


# --- regressions found with real clients (issue 8) ----------------------------------------


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_a_long_answer_with_emoji_fits_telegrams_utf16_limit(
    application: Application,
    telegram_api: FakeBotApi,
    chat_model: EchoChatModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telegram_messenger, "PRIVATE_EDIT_INTERVAL_SECONDS", 0.05)
    paragraphs = [f"Step {i} 🎉🚀 " + "😀 emoji make it longer " * 8 for i in range(50)]
    chat_model.reply = "\n\n".join(paragraphs)
    assert utf16_units(chat_model.reply) > 2 * 4096

    await feed(application, updates.private_message("celebrate with me"))

    messages = telegram_api.texts_in(ALICE["id"])
    assert len(messages) >= 3
    assert all(utf16_units(text) <= 4096 for text in messages)
    assert not any("▌" in text or text == t("error_generic", "en") for text in messages)
    assert " ".join(" ".join(messages).split()) == " ".join(chat_model.reply.split())


@pytest.mark.parametrize("rejects_formatting", [False, True])
async def test_indented_code_split_across_messages_keeps_its_indentation(
    application: Application,
    telegram_api: FakeBotApi,
    chat_model: EchoChatModel,
    monkeypatch: pytest.MonkeyPatch,
    rejects_formatting: bool,
) -> None:
    monkeypatch.setattr(telegram_messenger, "PRIVATE_EDIT_INTERVAL_SECONDS", 0.05)
    telegram_api.reject_entities = rejects_formatting
    code = "\n".join(
        f"    if x > {i}:\n        return compute_value_{i:03d}(x)" for i in range(150)
    )
    chat_model.reply = f"Here:\n\n```python\n{code}\n```"

    await feed(application, updates.private_message("write nested code"))

    shown = [line for text in telegram_api.texts_in(ALICE["id"]) for line in text.splitlines()]
    code_lines = [line for line in shown if "compute_value_" in line or line.startswith("    if")]
    assert code_lines == code.splitlines()


async def test_photo_with_caption_answers_the_caption_and_says_why_not_the_photo(
    application: Application, telegram_api: FakeBotApi
) -> None:
    payload = updates.update(
        message=updates.message(None, photo=updates.photo(), caption="what a view")
    )

    await feed(application, payload)

    what = t("content_photo", "en")
    assert telegram_api.texts_in(ALICE["id"]) == [
        t("unsupported_content", "en", what=what),
        "echo: what a view",
    ]


async def test_a_sticker_alone_gets_a_short_reason(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(
        application, updates.update(message=updates.message(None, sticker=updates.sticker()))
    )

    what = t("content_sticker", "en")
    assert telegram_api.texts_in(ALICE["id"]) == [t("unsupported_content", "en", what=what)]


async def test_caption_mentioning_the_bot_in_a_group_is_answered(
    application: Application, telegram_api: FakeBotApi
) -> None:
    caption = "@test_bot is this place nice?"
    payload = updates.group_message(
        None,  # type: ignore[arg-type]
        photo=updates.photo(),
        caption=caption,
        caption_entities=updates.mention_entities(caption),
    )

    await feed(application, payload)

    assert telegram_api.texts_in(GROUP_ID)[-1] == "echo: is this place nice?"


async def test_a_photo_in_a_group_not_for_the_bot_gets_no_reply(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.group_message(None, photo=updates.photo()))  # type: ignore[arg-type]

    assert telegram_api.texts_in(GROUP_ID) == []


async def test_videos_are_learned_and_video_notes_are_heard(application: Application) -> None:
    clip = Message.de_json(
        updates.message(None, video=updates.video("clip-1"), caption="our talk"), application.bot
    )
    note = Message.de_json(
        updates.message(None, video_note=updates.video_note("note-1")), application.bot
    )

    clip_incoming = to_incoming(clip, application.bot)
    note_incoming = to_incoming(note, application.bot)

    assert clip_incoming is not None and note_incoming is not None
    [video] = clip_incoming.attachments
    assert (video.file_name, video.mime_type, video.is_voice) == ("clip.mp4", "video/mp4", False)
    assert clip_incoming.text == "our talk"
    [voice] = note_incoming.attachments
    assert (voice.mime_type, voice.is_voice, voice.duration_seconds) == ("video/mp4", True, 8.0)


async def test_a_service_message_is_still_ignored(
    application: Application, telegram_api: FakeBotApi
) -> None:
    joined = updates.group_message(None, new_chat_members=[BRUNO])  # type: ignore[arg-type]

    await feed(application, joined)

    assert telegram_api.calls_to("sendMessage") == []


async def test_a_retry_after_mid_stream_holds_for_the_final_edit(
    application: Application, telegram_api: FakeBotApi
) -> None:
    telegram_api.fail_next(
        "editMessageText", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )

    await feed(application, updates.private_message("one two three four five six"))

    edits = [c for c in telegram_api.calls if c.method == "editMessageText"]
    refused_at, *later = [c.at for c in edits]
    assert later and all(at - refused_at >= 1.0 for at in later), "no edit inside the wait"
    assert telegram_api.texts_in(ALICE["id"]) == ["echo: one two three four five six"]


async def test_many_questions_in_a_group_stay_within_its_flood_limit(
    telegram_deps: CoreDeps, telegram_api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telegram's rule is about 20 messages a minute per group; here, scaled down in time.
    monkeypatch.setattr(telegram_messenger, "GROUP_MAX_MESSAGES", 4)
    monkeypatch.setattr(telegram_messenger, "GROUP_WINDOW_SECONDS", 1.0)
    monkeypatch.setattr(telegram_messenger, "GROUP_EDIT_INTERVAL_SECONDS", 0.0)
    telegram_api.group_max_messages = 8  # the limiter's bucket may burst a little
    app = build_application(telegram_deps)
    await app.initialize()
    try:
        questions = [updates.group_mention(f"question {i} please answer") for i in range(5)]
        await asyncio.gather(*(feed(app, question) for question in questions))
    finally:
        await app.shutdown()

    assert telegram_api.flood_refusals == 0
    answers = telegram_api.texts_in(GROUP_ID)
    assert sorted(answers) == sorted(f"echo: question {i} please answer" for i in range(5))


async def test_typing_is_not_counted_against_a_groups_budget(telegram_deps: CoreDeps) -> None:
    app = build_application(telegram_deps)
    limiter = app.bot.rate_limiter
    assert isinstance(limiter, telegram_messenger.ChatRateLimiter)
    calls: list[str] = []

    async def record(*_args: Any, **_kwargs: Any) -> bool:
        calls.append("typing")
        return True

    for _ in range(50):  # far past the group budget: none of it waits
        await limiter.process_request(record, (), {}, "sendChatAction", {"chat_id": GROUP_ID}, None)
    assert len(calls) == 50


async def test_bare_lang_shows_the_language(
    application: Application, telegram_api: FakeBotApi
) -> None:
    await feed(application, updates.command("/lang"))

    [answer] = telegram_api.texts_in(ALICE["id"])
    assert answer != t("error_generic", "en")
    assert "en" in answer


async def test_local_mode_reads_files_from_the_servers_folder(
    telegram_deps: CoreDeps,
    telegram_api: FakeBotApi,
    no_documents: CoreDeps,
    tmp_path: Path,
) -> None:
    telegram_api.local_root = tmp_path  # no 20 MB cap there: getFile gives a path on disk
    big = NOTES * 1000
    telegram_api.add_file("big-1", big, file_name="big.txt")
    settings = telegram_deps.settings.model_copy(update={"telegram_local_mode": True})
    app = build_application(replace(telegram_deps, settings=settings))
    await app.initialize()
    try:
        document = updates.document("big-1", file_name="big.txt", file_size=len(big))
        await feed(app, updates.document_message(document))
    finally:
        await app.shutdown()

    assert telegram_api.calls_to("download") == [], "read from disk, not over HTTP"
    [status] = telegram_api.texts_in(ALICE["id"])
    assert status == t("doc_received", "en", name="big.txt")
    [(_id, title, _state)] = await documents_in(no_documents)
    assert title == "big.txt"


async def group_document(deps: CoreDeps, *, added_by: dict[str, Any]) -> str:
    """A document that `added_by` sent to the group; returns its short id."""
    document, _ = await deps.knowledge.documents.add(
        scope=f"tg:{GROUP_ID}",
        added_by=f"tg:{added_by['id']}",
        title="notes.txt",
        kind="text",
        file_name="notes.txt",
        mime_type="text/plain",
        data=NOTES,
    )
    return document.short_id


@pytest.mark.parametrize("is_group_admin", [False, True])
async def test_only_the_uploader_or_a_group_admin_forgets_a_group_document(
    application: Application,
    telegram_api: FakeBotApi,
    no_documents: CoreDeps,
    is_group_admin: bool,
) -> None:
    short_id = await group_document(no_documents, added_by=ALICE)
    if is_group_admin:
        telegram_api.chat_admins.add(BRUNO["id"])

    await feed(application, updates.command(f"/forget {short_id}", user=BRUNO, chat_id=GROUP_ID))

    [member] = telegram_api.calls_to("getChatMember")
    assert member == {"chat_id": GROUP_ID, "user_id": BRUNO["id"]}
    left = [title for _id, title, _state in await documents_in(no_documents)]
    assert left == ([] if is_group_admin else ["notes.txt"])
