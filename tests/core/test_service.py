"""The chat service end to end on real Postgres and Redis, with the echo model."""

from __future__ import annotations

import asyncio
import logging

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk, SystemMessage
from langchain_core.outputs import ChatGenerationChunk

from core.deps import CoreDeps, ModelRegistry
from core.service import ChatService
from core.types import Done, Notice, TextDelta
from core.users import UserStore
from tests.factories import collect, in_group, private, reply_text, streamed
from tests.fakes import EchoChatModel


async def test_answer_streams_and_is_remembered(service: ChatService) -> None:
    events = await collect(service.handle(private("ana", "hello there friend")))
    assert [type(e) for e in events[:-1]] == [TextDelta] * 4
    assert streamed(events) == "echo: hello there friend"
    assert events[-1] == Done("echo: hello there friend")
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert "You: hello there friend" in history
    assert "Me: echo: hello there friend" in history


async def test_history_feeds_the_next_prompt(
    service: ChatService, chat_model: EchoChatModel
) -> None:
    await collect(service.handle(private("ana", "my name is Ana")))
    await collect(service.handle(private("ana", "what is my name?")))
    prompt = chat_model.calls[-1]
    assert isinstance(prompt[0], SystemMessage)
    assert [m.content for m in prompt[1:]] == [
        "my name is Ana",
        "echo: my name is Ana",
        "what is my name?",
    ]


async def test_reset_clears_the_conversation(service: ChatService) -> None:
    await collect(service.handle(private("ana", "remember me")))
    assert "Done" in reply_text(await collect(service.handle(private("ana", command="reset"))))
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert history == "I don't remember anything of this conversation yet."


async def test_users_and_chats_do_not_share_memory(service: ChatService) -> None:
    await collect(service.handle(private("ana", "ana's secret")))
    await collect(service.handle(in_group("ana", "-100", "group talk")))
    ana_private = reply_text(await collect(service.handle(private("ana", command="history"))))
    bia_private = reply_text(await collect(service.handle(private("bia", command="history"))))
    ana_group = reply_text(
        await collect(service.handle(in_group("ana", "-100", command="history")))
    )
    bia_group = reply_text(
        await collect(service.handle(in_group("bia", "-100", command="history")))
    )
    assert "ana's secret" in ana_private and "group talk" not in ana_private
    assert "group talk" in ana_group and "ana's secret" not in ana_group
    assert "anything" in bia_private and "anything" in bia_group


async def test_group_messages_not_addressed_get_no_answer(
    service: ChatService, deps: CoreDeps
) -> None:
    assert await collect(service.handle(in_group("ana", "-100", "chatting", addressed=False))) == []
    assert (await deps.memory.load("tg:ana|tg:-100")).is_empty
    events = await collect(service.handle(in_group("ana", "-100", addressed=False, command="help")))
    assert "/reset" in reply_text(events)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (openai.APIConnectionError(request=httpx.Request("POST", "http://model")), "can't reach"),
        (
            openai.APITimeoutError(request=httpx.Request("POST", "http://model")),
            "too long to answer",
        ),
        (
            openai.AuthenticationError(
                "bad key",
                response=httpx.Response(401, request=httpx.Request("POST", "http://m")),
                body=None,
            ),
            "credentials",
        ),
        (
            openai.BadRequestError(
                "This model's maximum context length is 4096 tokens",
                response=httpx.Response(400, request=httpx.Request("POST", "http://m")),
                body={"code": "context_length_exceeded"},
            ),
            "too long for the model",
        ),
        (ValueError("something odd"), "Something went wrong"),
    ],
)
async def test_model_failures_give_a_friendly_message_and_keep_memory(
    service: ChatService, chat_model: EchoChatModel, error: Exception, expected: str
) -> None:
    await collect(service.handle(private("ana", "first message")))
    chat_model.error = error
    events = await collect(service.handle(private("ana", "second message")))
    assert len(events) == 1 and isinstance(events[0], Notice) and events[0].is_error
    assert expected in events[0].text
    chat_model.error = None
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert "first message" in history and "second message" not in history


class TricklingChatModel(EchoChatModel):
    """Streams a long answer one slow word at a time, as an overloaded server does."""

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):  # noqa: ANN001, ANN202
        for _ in range(1000):
            await asyncio.sleep(0.05)
            yield ChatGenerationChunk(message=AIMessageChunk(content="slow "))


def use_model(deps: CoreDeps, model: EchoChatModel) -> None:
    deps.models = ModelRegistry(deps.settings, lambda _settings, _name: model)


async def test_a_trickling_model_is_cut_off_at_the_answer_timeout(
    service: ChatService, deps: CoreDeps
) -> None:
    deps.settings = deps.settings.model_copy(update={"llm_timeout_seconds": 0.3})
    use_model(deps, TricklingChatModel())
    events = await collect(service.handle(private("ana", "tell me everything")))
    assert isinstance(events[-1], Notice) and events[-1].is_error
    assert "took too long to answer" in events[-1].text
    assert not any(isinstance(e, Done) for e in events)
    assert (await deps.memory.load("cli:ana|cli:ana")).is_empty


async def test_a_blank_answer_is_explained_and_not_remembered(
    service: ChatService, deps: CoreDeps, chat_model: EchoChatModel
) -> None:
    chat_model.reply = "  \n   "
    events = await collect(service.handle(private("ana", "say nothing")))
    assert events == [Notice("I have no answer to that; try rephrasing.", is_error=True)]
    assert (await deps.memory.load("cli:ana|cli:ana")).is_empty
    async with deps.pool.connection() as conn:
        usage = await (await conn.execute("SELECT count(*) FROM usage_counters")).fetchone()
    assert usage == (0,)


async def test_only_unexplained_model_failures_are_logged_as_errors(
    service: ChatService, chat_model: EchoChatModel, caplog: pytest.LogCaptureFixture
) -> None:
    chat_model.error = ValueError("a bug in a chain")
    await collect(service.handle(private("ana", "first")))
    chat_model.error = openai.APIConnectionError(request=httpx.Request("POST", "http://model"))
    await collect(service.handle(private("ana", "second")))
    failures = [r for r in caplog.records if r.name == "core.service"]
    assert [r.levelno for r in failures] == [logging.ERROR, logging.WARNING]
    assert failures[0].exc_info and failures[0].exc_info[0] is ValueError
    assert not failures[1].exc_info


async def test_model_command_shows_and_switches(service: ChatService, deps: CoreDeps) -> None:
    shown = reply_text(await collect(service.handle(private("ana", command="model"))))
    assert "Model in use: echo" in shown and "echo-large" in shown
    unknown = reply_text(
        await collect(service.handle(private("ana", command="model", args="gpt-9")))
    )
    assert "don't know the model gpt-9" in unknown
    switched = reply_text(
        await collect(service.handle(private("ana", command="model", args="echo-large")))
    )
    assert switched == "Now using echo-large."
    assert "Model in use: echo-large" in reply_text(
        await collect(service.handle(private("ana", command="model")))
    )
    assert "Model in use: echo\n" in reply_text(
        await collect(service.handle(private("bia", command="model")))
    )


async def test_replies_follow_the_users_language(service: ChatService) -> None:
    await collect(service.handle(private("ana", "Olá, meu nome é Ana e eu moro em Recife.")))
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert history.startswith("O que eu lembro desta conversa")
    assert "Você: Olá, meu nome é Ana" in history
    english = reply_text(await collect(service.handle(private("bia", command="help"))))
    assert english.startswith("Commands:")


@pytest.mark.parametrize(
    ("question", "heading"),
    [
        ("Quem criou a biblioteca GGML?", "O que eu lembro desta conversa"),
        ("Quando o Whisper saiu?", "O que eu lembro desta conversa"),
        ("Who made Whisper?", "What I remember of this conversation"),
    ],
)
async def test_a_short_question_is_enough_to_tell_the_language(
    service: ChatService, question: str, heading: str
) -> None:
    await collect(service.handle(private("ana", question)))
    history = reply_text(await collect(service.handle(private("ana", command="history"))))
    assert history.startswith(heading)


async def test_lang_command_overrides_detection(service: ChatService) -> None:
    assert (
        reply_text(await collect(service.handle(private("ana", command="lang", args="pt-BR"))))
        == "Vou usar português."
    )
    assert reply_text(
        await collect(service.handle(private("ana", "hello, how are you?")))
    ).startswith("echo")
    assert reply_text(await collect(service.handle(private("ana", command="help")))).startswith(
        "Comandos:"
    )
    assert "only speak" in reply_text(
        await collect(service.handle(private("bia", command="lang", args="fr")))
    )


async def test_bare_lang_shows_the_current_language(service: ChatService) -> None:
    shown = reply_text(await collect(service.handle(private("ana", command="lang"))))
    assert shown == "Language: en. Set it with /lang en or /lang pt-BR."
    await collect(service.handle(private("ana", command="lang", args="pt-BR")))
    shown = reply_text(await collect(service.handle(private("ana", command="lang"))))
    assert shown.startswith("Idioma: pt-BR.")


async def test_unknown_command_and_empty_message(service: ChatService) -> None:
    assert "/help" in reply_text(
        await collect(service.handle(private("ana", command="frobnicate")))
    )
    assert "Send me some text" in reply_text(await collect(service.handle(private("ana", "   "))))


async def test_ask_command_chats(service: ChatService) -> None:
    events = await collect(service.handle(private("ana", command="ask", args="what is up")))
    assert events[-1] == Done("echo: what is up")


async def test_users_and_usage_are_recorded(service: ChatService, deps: CoreDeps) -> None:
    await collect(service.handle(private("ana", "one")))
    await collect(service.handle(private("ana", "two")))
    async with deps.pool.connection() as conn:
        user = await (
            await conn.execute(
                "SELECT platform, display_name, role FROM users WHERE identity = 'cli:ana'"
            )
        ).fetchone()
        usage = await (
            await conn.execute(
                "SELECT messages, input_tokens > 0, output_tokens > 0 FROM usage_counters "
                "WHERE identity = 'cli:ana' AND day = current_date"
            )
        ).fetchone()
    assert user == ("cli", "Ana", "user")
    assert usage[0] >= 2 and usage[1] and usage[2]


async def test_admin_ids_become_admins(service: ChatService, deps: CoreDeps) -> None:
    await collect(service.handle(in_group("1", "-100", command="help")))
    record = await deps.users.touch(in_group("1", "-100").user)
    assert record.is_admin


async def test_an_id_removed_from_admin_ids_is_no_longer_admin(deps: CoreDeps) -> None:
    admin = in_group("1", "-100").user
    assert (await deps.users.touch(admin)).is_admin
    demoted = UserStore(deps.pool, admin_ids=[])
    assert not (await demoted.touch(admin)).is_admin
    assert not (await deps.users.touch(in_group("2", "-100").user)).is_admin


async def test_concurrent_messages_keep_every_turn(service: ChatService, deps: CoreDeps) -> None:
    await asyncio.gather(*(collect(service.handle(private("ana", f"m{i}"))) for i in range(5)))
    turns = (await deps.memory.load("cli:ana|cli:ana")).turns
    assert sorted(t.content for t in turns if t.role == "human") == [f"m{i}" for i in range(5)]
