"""The Discord adapter end to end: real discord.py objects, real core on Postgres and Redis.

Only Discord's HTTP edge is fake (`tests/bots/discord_api.py`); the model is the echo fake.
Nothing connects to the gateway: messages and interactions are built from gateway-style
payloads and handed to the client's handlers.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import discord
import httpx
import openai
import pytest

from bots.delivery import deliver_events
from bots.discord_bot import AssistantClient, incoming_from_message
from bots.discord_messenger import MAX_MESSAGE_CHARS, STREAMING_CURSOR, ChannelChat
from core.commands import ADMIN_COMMANDS
from core.deps import CoreDeps
from core.i18n import t
from core.jobs import INGEST_DOCUMENT
from core.outbox import CONSUMER_GROUP, stream_key
from core.service import ChatService
from core.types import ChatRef, Event, Notice, OutboxMessage, Platform, TextDelta
from tests.bots.discord_api import FakeDiscordApi
from tests.bots.discord_payloads import (
    APPLICATION_ID,
    BOT_ID,
    BOT_USER,
    GUILD_ID,
    attachment,
    dm_channel,
    guild,
    message,
    slash_command,
    text_channel,
    thread,
    user,
)
from tests.fakes import EchoChatModel

ALICE = user(300_000_000_000_000_001, "alice")
DM_CHANNEL_ID = 400_000_000_000_000_001
CHANNEL_ID = 500_000_000_000_000_001
THREAD_ID = 600_000_000_000_000_001
COMMANDS = {
    *("ask", "start", "help", "reset", "history", "model", "lang"),
    *("docs", "forget", "sources", "summary", "transcript", "retry"),
    *("quota", "allow", "block", "stats", "reindex", "export", "jobs", "link", "web"),
    *("agent", "trace"),
}
EPHEMERAL = 64
NOTES = b"Recife is in Pernambuco."
DM_CHAT = ChatRef(Platform.DISCORD, str(DM_CHANNEL_ID), is_private=True)


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscordApi]:
    server = FakeDiscordApi(bot_user=BOT_USER, application_id=APPLICATION_ID)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def use_fake_api(api: FakeDiscordApi, monkeypatch: pytest.MonkeyPatch) -> FakeDiscordApi:
    """Point discord.py (REST, webhooks and interaction callbacks) at the fake server."""
    monkeypatch.setattr(discord.http.Route, "BASE", api.base_url)
    return api


@pytest.fixture
async def client(deps: CoreDeps, use_fake_api: FakeDiscordApi) -> AsyncIterator[AssistantClient]:
    """A logged-in client: commands synced and the outbox consumer running, no gateway."""
    bot = AssistantClient(deps)
    try:
        await bot.login("test-token")
        yield bot
    finally:
        await bot.close()


# Factories of real discord.py objects on the client's connection state


def dm_message(
    client: AssistantClient,
    text: str,
    *,
    attachments: Sequence[dict[str, Any]] = (),
    is_voice_message: bool = False,
) -> discord.Message:
    state = client._connection
    channel = state.add_dm_channel(dm_channel(DM_CHANNEL_ID, ALICE))
    data = message(
        channel_id=DM_CHANNEL_ID,
        author=ALICE,
        content=text,
        attachments=attachments,
        is_voice_message=is_voice_message,
    )
    return discord.Message(state=state, channel=channel, data=data)


def guild_message(
    client: AssistantClient,
    text: str,
    *,
    channel_id: int = CHANNEL_ID,
    mentions: Sequence[dict[str, Any]] = (),
    referenced: dict[str, Any] | None = None,
) -> discord.Message:
    state = client._connection
    server = client.get_guild(GUILD_ID) or state._add_guild_from_data(
        guild(
            channels=[text_channel(CHANNEL_ID)],
            threads=[thread(THREAD_ID, parent_id=CHANNEL_ID, owner_id=ALICE["id"])],
        )
    )
    channel = server.get_channel_or_thread(channel_id)
    data = message(
        channel_id=channel_id,
        author=ALICE,
        content=text,
        guild_id=GUILD_ID,
        mentions=list(mentions),
        referenced=referenced,
    )
    return discord.Message(state=state, channel=channel, data=data)  # type: ignore[arg-type]


async def slash(
    client: AssistantClient,
    api: FakeDiscordApi,
    command: str,
    *,
    in_guild: bool = False,
    locale: str = "en-US",
    focused: str | None = None,
    user: dict[str, Any] = ALICE,
    permissions: int = 0,
    **options: str,
) -> discord.Interaction:
    """Run a slash command (or its autocomplete) through the client's command tree."""
    channel = text_channel(CHANNEL_ID) if in_guild else dm_channel(DM_CHANNEL_ID, user)
    payload = slash_command(
        command,
        user_payload=user,
        permissions=permissions,
        channel=channel,
        options=options,
        focused=focused,
        locale=locale,
        guild_id=GUILD_ID if in_guild else None,
    )
    api.interaction_channels[payload["token"]] = channel["id"]
    interaction = discord.Interaction(data=payload, state=client._connection)
    await client.tree._call(interaction)
    return interaction


def callbacks(api: FakeDiscordApi, interaction: discord.Interaction) -> list[dict[str, Any]]:
    return [r.json for r in api.calls("POST", rf"/interactions/{interaction.id}/.+/callback")]


# Start-up


async def test_login_syncs_slash_commands_globally(client: AssistantClient, api: FakeDiscordApi):
    (sync,) = api.calls("PUT", rf"/applications/{APPLICATION_ID}/commands")
    by_name = {command["name"]: command for command in sync.json}
    assert set(by_name) == COMMANDS
    assert by_name["reset"]["description_localizations"]["pt-BR"] == "Esquecer esta conversa"
    (name_option,) = by_name["model"]["options"]
    assert name_option["autocomplete"] is True and name_option["required"] is False
    (question,) = by_name["ask"]["options"]
    assert question["name"] == "question" and question["required"] is True
    (document,) = by_name["forget"]["options"]
    assert document["name"] == "document" and document["required"] is True
    assert document["autocomplete"] is True
    # Admin commands are hidden from members without Manage Server unless a server widens it.
    for name in ADMIN_COMMANDS:
        assert int(by_name[name]["default_member_permissions"]) == 1 << 5, name
    assert by_name["quota"]["default_member_permissions"] is None


async def test_configured_guilds_get_commands_instantly(
    deps: CoreDeps, use_fake_api: FakeDiscordApi
):
    settings = deps.settings.model_copy(update={"discord_guild_ids": [GUILD_ID, GUILD_ID + 1]})
    bot = AssistantClient(dataclasses.replace(deps, settings=settings))
    try:
        await bot.login("test-token")
    finally:
        await bot.close()
    api = use_fake_api
    assert api.calls("PUT", rf"/applications/{APPLICATION_ID}/commands") == []
    for guild_id in (GUILD_ID, GUILD_ID + 1):
        (sync,) = api.calls("PUT", rf"/applications/{APPLICATION_ID}/guilds/{guild_id}/commands")
        assert {command["name"] for command in sync.json} == COMMANDS


async def test_a_process_without_shard_0_leaves_the_command_sync_to_the_one_with_it(
    deps: CoreDeps, use_fake_api: FakeDiscordApi
):
    settings = deps.settings.model_copy(
        update={"discord_shard_count": 4, "discord_shard_ids": [2, 3]}
    )
    bot = AssistantClient(dataclasses.replace(deps, settings=settings))
    try:
        await bot.login("test-token")
    finally:
        await bot.close()
    assert (bot.shard_count, bot.shard_ids) == (4, [2, 3])
    assert use_fake_api.calls("PUT", rf"/applications/{APPLICATION_ID}/commands") == []


# Messages


async def test_dm_gets_a_streamed_reply(client: AssistantClient, api: FakeDiscordApi):
    incoming = dm_message(client, "hello there")
    await client.on_message(incoming)

    assert api.calls("POST", rf"/channels/{DM_CHANNEL_ID}/typing")
    assert api.contents(DM_CHANNEL_ID) == ["echo: hello there"]
    (first,) = api.calls("POST", rf"/channels/{DM_CHANNEL_ID}/messages")
    assert first.json["content"].endswith(STREAMING_CURSOR)  # shown while streaming...
    assert api.calls("PATCH", rf"/channels/{DM_CHANNEL_ID}/messages/\d+")  # ...then edited
    assert int(first.json["message_reference"]["message_id"]) == incoming.id
    assert first.json["allowed_mentions"]["parse"] == []


async def test_command_typed_in_a_dm_runs_the_command(client: AssistantClient, api: FakeDiscordApi):
    await client.on_message(dm_message(client, "remember this"))
    await client.on_message(dm_message(client, "/reset"))

    assert api.contents(DM_CHANNEL_ID)[-1] == "Done: I forgot this conversation."


async def test_mention_in_a_channel_is_answered_without_the_mention(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    await client.on_message(guild_message(client, f"<@{BOT_ID}> what is up?", mentions=[BOT_USER]))

    assert api.contents(CHANNEL_ID) == ["echo: what is up?"]
    assert chat_model.calls[-1][-1].content == "what is up?"


async def test_channel_message_not_for_the_bot_is_ignored(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    await client.on_message(guild_message(client, "just chatting with friends"))

    assert api.calls("POST", r"/channels/.+") == []
    assert chat_model.calls == []


async def test_reply_to_the_bot_is_answered(client: AssistantClient, api: FakeDiscordApi):
    earlier = message(channel_id=CHANNEL_ID, author=BOT_USER, content="echo: hi", guild_id=GUILD_ID)

    await client.on_message(guild_message(client, "and then?", referenced=earlier))

    assert api.contents(CHANNEL_ID) == ["echo: and then?"]


async def test_thread_is_answered_in_the_thread_with_its_own_memory(
    client: AssistantClient, api: FakeDiscordApi, deps: CoreDeps
):
    await client.on_message(
        guild_message(client, f"<@!{BOT_ID}> hi thread", channel_id=THREAD_ID, mentions=[BOT_USER])
    )

    assert api.contents(THREAD_ID) == ["echo: hi thread"]
    assert api.contents(CHANNEL_ID) == []
    conversation = await deps.memory.load(f"dc:{ALICE['id']}|dc:{THREAD_ID}")
    assert [turn.content for turn in conversation.turns] == ["hi thread", "echo: hi thread"]


async def test_long_answer_is_split_with_balanced_code_fences(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    code = "\n".join(f"print('line {i}')" for i in range(150))
    prose = " ".join(["words"] * 300)
    chat_model.reply = f"Here you go:\n\n```python\n{code}\n```\n\n{prose}"

    await client.on_message(dm_message(client, "write a long program"))

    pieces = api.contents(DM_CHANNEL_ID)
    assert len(pieces) >= 3
    assert all(len(piece) <= MAX_MESSAGE_CHARS for piece in pieces)
    assert all(piece.count("```") % 2 == 0 for piece in pieces)
    assert pieces[0].startswith("Here you go:")
    assert pieces[1].startswith("```python\n")  # the code block reopens in the next message
    assert pieces[-1].endswith("words")
    assert not any(piece.endswith(STREAMING_CURSOR) for piece in pieces)


async def test_model_failure_gives_a_friendly_error(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    chat_model.error = openai.APIConnectionError(request=httpx.Request("POST", "http://x"))

    await client.on_message(dm_message(client, "are you there?"))

    assert api.contents(DM_CHANNEL_ID) == [
        "I can't reach the language model right now. Please try again in a moment."
    ]


async def test_error_after_partial_text_keeps_the_partial_reply(
    client: AssistantClient, api: FakeDiscordApi
):
    async def events() -> AsyncIterator[Event]:
        yield TextDelta("The answer begins")
        yield Notice("The model stopped answering.", is_error=True)

    channel = client.get_partial_messageable(CHANNEL_ID)
    await deliver_events(events(), ChannelChat(client, channel))

    assert api.contents(CHANNEL_ID) == ["The answer begins", "The model stopped answering."]


async def test_rate_limited_edit_waits_and_retries(client: AssistantClient, api: FakeDiscordApi):
    api.fail_next("PATCH", rf"/channels/{DM_CHANNEL_ID}/messages/\d+", retry_after_seconds=0.05)

    await client.on_message(dm_message(client, "slowly please"))

    assert len(api.calls("PATCH", rf"/channels/{DM_CHANNEL_ID}/messages/\d+")) == 2
    assert api.contents(DM_CHANNEL_ID) == ["echo: slowly please"]


async def test_failed_handler_logs_and_apologises(client: AssistantClient, api: FakeDiscordApi):
    api.fail_next("POST", rf"/channels/{DM_CHANNEL_ID}/messages", status=403)

    client.dispatch("message", dm_message(client, "hello?"))

    await api.wait_for(lambda: api.contents(DM_CHANNEL_ID) != [])
    assert api.contents(DM_CHANNEL_ID) == [
        "Something went wrong on my side. Your conversation is safe; please try again."
    ]


async def test_a_failing_typing_indicator_does_not_stop_the_answer(
    client: AssistantClient, api: FakeDiscordApi
):
    api.fail_next("POST", rf"/channels/{DM_CHANNEL_ID}/typing", status=403)

    await client.on_message(dm_message(client, "hello?"))

    assert api.contents(DM_CHANNEL_ID) == ["echo: hello?"]


# Slash commands


async def test_ask_defers_before_the_model_runs_then_edits_the_answer_in(
    client: AssistantClient, api: FakeDiscordApi, monkeypatch: pytest.MonkeyPatch
):
    callbacks_seen_by_model: list[int] = []
    answer = EchoChatModel._answer

    def spying_answer(self: EchoChatModel, messages: list[Any]) -> str:
        callbacks_seen_by_model.append(len(api.calls("POST", r"/interactions/.+/callback")))
        return answer(self, messages)

    monkeypatch.setattr(EchoChatModel, "_answer", spying_answer)

    interaction = await slash(client, api, "ask", in_guild=True, question="what is 2+2?")

    assert callbacks_seen_by_model == [1]
    (deferred,) = callbacks(api, interaction)
    assert deferred["type"] == 5  # "thinking…", public
    assert "flags" not in (deferred.get("data") or {})
    assert api.contents(CHANNEL_ID) == ["echo: what is 2+2?"]


async def test_reset_and_history_by_slash_command(client: AssistantClient, api: FakeDiscordApi):
    await client.on_message(dm_message(client, "my name is Ana"))

    history = await slash(client, api, "history")
    (deferred,) = callbacks(api, history)
    assert deferred["data"]["flags"] == EPHEMERAL
    shown = api.contents(DM_CHANNEL_ID)[-1]
    assert "my name is Ana" in shown and "echo: my name is Ana" in shown

    await slash(client, api, "reset")
    assert api.contents(DM_CHANNEL_ID)[-1] == "Done: I forgot this conversation."

    await slash(client, api, "history")
    assert api.contents(DM_CHANNEL_ID)[-1] == "I don't remember anything of this conversation yet."


async def test_model_shows_choices_autocompletes_and_switches(
    client: AssistantClient, api: FakeDiscordApi
):
    await slash(client, api, "model")
    assert api.contents(DM_CHANNEL_ID)[-1].startswith(
        "Model in use: echo\nAvailable: echo, echo-large"
    )

    typing = await slash(client, api, "model", focused="name", name="LAR")
    (suggested,) = callbacks(api, typing)
    assert suggested == {
        "type": 8,
        "data": {"choices": [{"name": "echo-large", "value": "echo-large"}]},
    }

    await slash(client, api, "model", name="echo-large")
    assert api.contents(DM_CHANNEL_ID)[-1] == "Now using echo-large."


async def test_discord_locale_picks_the_ui_language(client: AssistantClient, api: FakeDiscordApi):
    await slash(client, api, "start", in_guild=True, locale="pt-BR")

    assert api.contents(CHANNEL_ID) == [
        "Oi, Alice! Sou seu assistente. Pergunte o que quiser ou envie /help para ver "
        "o que eu sei fazer."
    ]


async def test_lang_sets_the_language(client: AssistantClient, api: FakeDiscordApi):
    await slash(client, api, "lang", language="pt-BR")
    assert api.contents(DM_CHANNEL_ID)[-1] == "Vou usar português."

    await slash(client, api, "reset")
    assert api.contents(DM_CHANNEL_ID)[-1] == "Pronto: esqueci esta conversa."


async def test_ask_with_model_failure_fills_the_deferred_response(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    chat_model.error = openai.APIConnectionError(request=httpx.Request("POST", "http://x"))

    await slash(client, api, "ask", question="hello?")

    assert api.contents(DM_CHANNEL_ID) == [
        "I can't reach the language model right now. Please try again in a moment."
    ]


async def test_an_empty_answer_says_so_in_the_deferred_response(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    chat_model.reply = "   "

    await slash(client, api, "ask", question="say nothing")

    assert api.contents(DM_CHANNEL_ID) == [t("answer_empty", "en")]
    assert not api.calls("DELETE", r"/webhooks/.+/messages/@original")


async def test_long_ask_answer_continues_in_follow_ups(
    client: AssistantClient, api: FakeDiscordApi, chat_model: EchoChatModel
):
    chat_model.reply = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum " * 40 for i in range(12))

    await slash(client, api, "ask", question="tell me a lot")

    pieces = api.contents(DM_CHANNEL_ID)
    assert len(pieces) >= 3 and all(len(piece) <= MAX_MESSAGE_CHARS for piece in pieces)
    assert pieces[0].startswith("Paragraph 0:") and pieces[-1].startswith("Paragraph")
    assert api.calls("POST", rf"/webhooks/{APPLICATION_ID}/.+")  # follow-up messages


# Outbox


async def test_outbox_message_is_delivered_to_its_channel(
    client: AssistantClient, api: FakeDiscordApi, deps: CoreDeps
):
    await deps.outbox.publish(
        OutboxMessage(ChatRef(Platform.DISCORD, str(CHANNEL_ID), False), "Your summary is ready")
    )

    await api.wait_for(lambda: api.contents(CHANNEL_ID) != [])
    assert api.contents(CHANNEL_ID) == ["Your summary is ready"]


# Documents


@pytest.fixture
async def no_documents(deps: CoreDeps) -> CoreDeps:
    """Start without documents: the same bytes in the same scope would be a duplicate."""
    async with deps.pool.connection() as conn:
        await conn.execute("TRUNCATE documents CASCADE")
    return deps


async def documents_in(deps: CoreDeps) -> list[tuple[str, str, str]]:
    async with deps.pool.connection() as conn:
        cur = await conn.execute("SELECT id, title, status FROM documents ORDER BY created_at")
        return list(await cur.fetchall())


async def send_notes(client: AssistantClient, api: FakeDiscordApi, text: str = "") -> None:
    """Alice sends notes.txt in her DM with the bot (with no text by default)."""
    url = api.add_attachment(DM_CHANNEL_ID, "notes.txt", NOTES)
    notes = attachment(url, file_name="notes.txt", size=len(NOTES), content_type="text/plain")
    await client.on_message(dm_message(client, text, attachments=[notes]))


async def outbox_is_drained(deps: CoreDeps) -> bool:
    summary = await deps.redis.xpending(stream_key(Platform.DISCORD), CONSUMER_GROUP)
    return summary["pending"] == 0


async def test_attachment_alone_in_a_dm_is_downloaded_recorded_and_queued(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps
):
    await send_notes(client, api)

    assert len(api.downloads) == 1 and api.downloads[0].endswith("/notes.txt")
    assert api.contents(DM_CHANNEL_ID) == [t("doc_received", "en", name="notes.txt")]
    [(document_id, title, state)] = await documents_in(no_documents)
    assert (title, state) == ("notes.txt", "queued")
    async with no_documents.pool.connection() as conn:
        cur = await conn.execute("SELECT task_name, args FROM procrastinate_jobs")
        [(task, args)] = await cur.fetchall()
    assert task == INGEST_DOCUMENT and args["document_id"] == document_id
    [status] = api.channel_messages(DM_CHANNEL_ID)
    remembered = await no_documents.outbox.status_message(Platform.DISCORD, document_id)
    assert remembered == f"{DM_CHANNEL_ID}:{status['id']}"


async def test_oversized_attachment_is_refused_without_downloading(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps
):
    size = 21 * 1024 * 1024
    url = api.cdn_url + f"/{DM_CHANNEL_ID}/1/big.pdf"
    big = attachment(url, file_name="big.pdf", size=size, content_type="application/pdf")

    await client.on_message(dm_message(client, "", attachments=[big]))

    assert api.downloads == []
    assert api.contents(DM_CHANNEL_ID) == [
        t("doc_too_large", "en", name="big.pdf", size="21.0 MB", limit="20.0 MB")
    ]
    assert await documents_in(no_documents) == []


async def test_audio_attachments_go_in_as_voice_with_their_duration(
    client: AssistantClient, api: FakeDiscordApi
):
    cdn = api.cdn_url + f"/{DM_CHANNEL_ID}/1"
    voice = attachment(
        f"{cdn}/voice-message.ogg",
        file_name="voice-message.ogg",
        size=4_000,
        content_type="audio/ogg",
        duration_seconds=2.5,
    )
    song = attachment(f"{cdn}/song.mp3", file_name="song.mp3", size=9, content_type="audio/mpeg")
    notes = attachment(f"{cdn}/notes.txt", file_name="notes.txt", size=9, content_type="text/plain")
    sent = dm_message(client, "", attachments=[voice, song, notes], is_voice_message=True)
    assert client.user is not None and sent.flags.voice

    incoming = incoming_from_message(sent, client.user)

    said, played, learned = incoming.attachments
    assert (said.is_voice, said.duration_seconds, said.mime_type) == (True, 2.5, "audio/ogg")
    assert (played.is_voice, played.duration_seconds) == (True, None)
    assert (learned.is_voice, learned.duration_seconds) == (False, None)


async def test_job_progress_edits_the_status_message(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps
):
    await send_notes(client, api)
    [status] = api.channel_messages(DM_CHANNEL_ID)
    [(document_id, _title, _state)] = await documents_in(no_documents)
    outbox = no_documents.outbox

    reading = OutboxMessage(DM_CHAT, "📄 notes.txt: reading…", status_key=document_id)
    await outbox.publish(replace(reading, is_final=False))
    await api.wait_for(lambda: status["content"] == "📄 notes.txt: reading…")
    await outbox.publish(OutboxMessage(DM_CHAT, "✅ notes.txt is ready", status_key=document_id))
    await api.wait_for(lambda: status["content"] == "✅ notes.txt is ready")

    assert api.channel_messages(DM_CHANNEL_ID) == [status]
    edits = api.calls("PATCH", rf"/channels/{DM_CHANNEL_ID}/messages/{status['id']}")
    assert len(edits) == 2 and edits[0].json["allowed_mentions"]["parse"] == []


async def test_status_without_a_message_to_edit_is_sent_then_edited(
    client: AssistantClient, api: FakeDiscordApi, deps: CoreDeps
):
    await deps.outbox.publish(OutboxMessage(DM_CHAT, "step 1", status_key="unknown"))
    await api.wait_for(lambda: api.contents(DM_CHANNEL_ID) == ["step 1"])
    await deps.outbox.publish(OutboxMessage(DM_CHAT, "step 2", status_key="unknown"))
    await api.wait_for(lambda: api.contents(DM_CHANNEL_ID) == ["step 2"])

    [shown] = api.channel_messages(DM_CHANNEL_ID)
    assert await deps.outbox.status_message(Platform.DISCORD, "unknown") == (
        f"{DM_CHANNEL_ID}:{shown['id']}"
    )


async def test_deleted_status_message_is_replaced_by_a_new_one(
    client: AssistantClient, api: FakeDiscordApi, deps: CoreDeps
):
    await deps.outbox.remember_status_message(Platform.DISCORD, "job-1", f"{DM_CHANNEL_ID}:123")

    await deps.outbox.publish(OutboxMessage(DM_CHAT, "still going", status_key="job-1"))
    await api.wait_for(lambda: api.contents(DM_CHANNEL_ID) == ["still going"])
    await wait_until(lambda: outbox_is_drained(deps))

    assert api.calls("PATCH", rf"/channels/{DM_CHANNEL_ID}/messages/123")
    [shown] = api.channel_messages(DM_CHANNEL_ID)
    assert await deps.outbox.status_message(Platform.DISCORD, "job-1") == (
        f"{DM_CHANNEL_ID}:{shown['id']}"
    )


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_seconds: float = 5.0):
    async with asyncio.timeout(timeout_seconds):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_docs_forget_with_autocomplete_and_sources(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps
):
    await send_notes(client, api)
    [(document_id, _title, _state)] = await documents_in(no_documents)
    short_id = document_id[:8]

    await slash(client, api, "docs")
    listed = api.contents(DM_CHANNEL_ID)[-1]
    assert "notes.txt" in listed and short_id in listed

    typing = await slash(client, api, "forget", focused="document", document="NOTES")
    (suggested,) = callbacks(api, typing)
    assert suggested == {
        "type": 8,
        "data": {"choices": [{"name": f"notes.txt [{short_id}]", "value": short_id}]},
    }

    forget = await slash(client, api, "forget", document=short_id)
    (deferred,) = callbacks(api, forget)
    assert deferred["data"]["flags"] == EPHEMERAL
    assert api.contents(DM_CHANNEL_ID)[-1] == t("forget_done", "en", name="notes.txt")
    assert await documents_in(no_documents) == []

    await slash(client, api, "docs")
    assert api.contents(DM_CHANNEL_ID)[-1] == t("docs_empty", "en")

    await slash(client, api, "sources")
    assert api.contents(DM_CHANNEL_ID)[-1] == t("sources_empty", "en")


async def test_link_sent_by_slash_command_gets_a_remembered_status_message(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps
):
    url = "https://example.com/recife"

    await slash(client, api, "ask", question=f"please read this page {url}")

    [(document_id, title, state)] = await documents_in(no_documents)
    assert (title, state) == (url, "queued")
    [status] = api.channel_messages(DM_CHANNEL_ID)
    assert status["content"] == t("doc_received", "en", name=url)
    remembered = await no_documents.outbox.status_message(Platform.DISCORD, document_id)
    assert remembered == f"{DM_CHANNEL_ID}:{status['id']}"


async def test_a_notice_with_a_file_attaches_it(client: AssistantClient, api: FakeDiscordApi):
    async def events() -> AsyncIterator[Event]:
        yield Notice("📝 Transcript attached.", file_name="talk.txt", file_data=b"[0:00] hi\n")

    channel = client.get_partial_messageable(CHANNEL_ID)
    await deliver_events(events(), ChannelChat(client, channel))

    posts = api.calls("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert len(posts) == 2
    assert api.contents(CHANNEL_ID)[0] == "📝 Transcript attached."


# Regressions found with real clients (issue 8)


async def test_bare_lang_shows_the_language(client: AssistantClient, api: FakeDiscordApi):
    await slash(client, api, "lang")

    [answer] = api.contents(DM_CHANNEL_ID)
    assert answer != t("error_generic", "en") and "en" in answer


async def test_a_command_failing_after_the_defer_replaces_thinking_with_an_apology(
    client: AssistantClient, api: FakeDiscordApi, monkeypatch: pytest.MonkeyPatch
):
    async def broken(self: Any, incoming: Any) -> AsyncIterator[Event]:
        raise RuntimeError("a bug in the core")
        yield  # an async generator, like the real one

    monkeypatch.setattr(ChatService, "handle", broken)

    interaction = await slash(client, api, "history")

    (deferred,) = callbacks(api, interaction)
    assert deferred["type"] == 5  # "thinking…"
    assert api.calls("PATCH", r"/webhooks/.+/messages/@original")
    assert not api.calls("POST", r"/webhooks/.+"), "no follow-up: the original is edited"
    assert api.contents(DM_CHANNEL_ID) == [t("error_generic", "en")]


MANAGE_GUILD = 1 << 5
BRUNO = user(300_000_000_000_000_002, "bruno")


@pytest.mark.parametrize("permissions", [0, MANAGE_GUILD], ids=["member", "manages-server"])
async def test_only_the_uploader_or_a_server_manager_forgets_a_channel_document(
    client: AssistantClient, api: FakeDiscordApi, no_documents: CoreDeps, permissions: int
):
    document, _ = await no_documents.knowledge.documents.add(
        scope=f"dc:{CHANNEL_ID}",
        added_by=f"dc:{ALICE['id']}",
        title="notes.txt",
        kind="text",
        file_name="notes.txt",
        mime_type="text/plain",
        data=b"Recife is in Pernambuco.",
    )

    await slash(
        client,
        api,
        "forget",
        in_guild=True,
        user=BRUNO,
        permissions=permissions,
        document=document.short_id,
    )

    left = [title for _id, title, _state in await documents_in(no_documents)]
    assert left == ([] if permissions else ["notes.txt"])
