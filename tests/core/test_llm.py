"""Provider wiring and failure classification, without any network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from core.errors import ReasonedError, explain
from core.i18n import t
from core.llm import (
    ModelError,
    ModelFailure,
    build_chat_model,
    classify_failure,
    default_model,
    within_deadline,
)
from core.settings import Provider, Settings


def settings_for(provider: Provider, **extra: object) -> Settings:
    return Settings(_env_file=None, llm_provider=provider, **extra)  # type: ignore[call-arg]


def test_openai_model_uses_key_timeout_and_limits() -> None:
    model = build_chat_model(
        settings_for(Provider.OPENAI, openai_api_key="sk-test", llm_timeout_seconds=12)
    )
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert model.openai_api_key.get_secret_value() == "sk-test"
    assert model.request_timeout == 12
    assert model.max_tokens == 1024


def test_openai_compatible_server_needs_no_key() -> None:
    model = build_chat_model(
        settings_for(Provider.OPENAI_COMPATIBLE, llm_base_url="http://127.0.0.1:8080/v1"), "qwen"
    )
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://127.0.0.1:8080/v1"
    assert model.model_name == "qwen"


def test_ollama_model_points_at_the_server() -> None:
    model = build_chat_model(settings_for(Provider.OLLAMA, ollama_base_url="http://gpu:11434"))
    assert isinstance(model, ChatOllama)
    assert model.base_url == "http://gpu:11434"
    assert model.model == "llama3.2"


def test_auto_must_be_resolved_first() -> None:
    with pytest.raises(ValueError, match="must be resolved"):
        build_chat_model(settings_for(Provider.AUTO))


def test_default_model_prefers_the_configured_one() -> None:
    assert default_model(settings_for(Provider.OLLAMA, llm_model="qwen2.5")) == "qwen2.5"


REQUEST = httpx.Request("POST", "http://model/v1/chat/completions")


def _status_error(cls: type[openai.APIStatusError], status: int, message: str) -> Exception:
    return cls(message, response=httpx.Response(status, request=REQUEST), body=None)


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (openai.APIConnectionError(request=REQUEST), ModelFailure.UNREACHABLE),
        (httpx.ConnectError("refused"), ModelFailure.UNREACHABLE),
        (ConnectionRefusedError(), ModelFailure.UNREACHABLE),
        (openai.APITimeoutError(request=REQUEST), ModelFailure.TIMEOUT),
        (httpx.ReadTimeout("slow"), ModelFailure.TIMEOUT),
        (TimeoutError(), ModelFailure.TIMEOUT),
        (_status_error(openai.AuthenticationError, 401, "Incorrect API key"), ModelFailure.AUTH),
        (_status_error(openai.RateLimitError, 429, "slow down"), ModelFailure.RATE_LIMITED),
        (
            _status_error(
                openai.BadRequestError, 400, "maximum context length is 8192 tokens; exceeded"
            ),
            ModelFailure.CONTEXT,
        ),
        (ValueError("the input exceeds the context window"), ModelFailure.CONTEXT),
        (
            _status_error(openai.NotFoundError, 404, "model 'llama9' not found"),
            ModelFailure.UNREACHABLE,
        ),
        (RuntimeError("boom"), ModelFailure.GENERIC),
    ],
)
def test_failures_are_classified(error: BaseException, failure: ModelFailure) -> None:
    assert classify_failure(error) is failure


async def test_a_slow_reader_does_not_make_a_healthy_model_time_out() -> None:
    """Flood control may hold the chat's edits; only the model's own time counts."""

    async def quick_model() -> AsyncIterator[str]:
        for word in ("one ", "two ", "three"):
            yield word

    received = []
    async for chunk in within_deadline(quick_model(), 0.2):
        received.append(chunk)
        await asyncio.sleep(0.15)  # the platform makes us wait between edits

    assert "".join(received) == "one two three"


async def test_a_trickling_model_times_out_as_a_whole() -> None:
    async def trickle() -> AsyncIterator[str]:
        while True:
            await asyncio.sleep(0.05)
            yield "."

    with pytest.raises(TimeoutError):
        async for _chunk in within_deadline(trickle(), 0.3):
            pass


def test_a_model_failure_is_told_like_every_other_reasoned_error() -> None:
    error = ModelError.of(openai.APIConnectionError(request=REQUEST))

    assert isinstance(error, ReasonedError) and error.failure is ModelFailure.UNREACHABLE
    assert explain(error, "pt-BR") == t("reason_model_unreachable", "pt-BR")
