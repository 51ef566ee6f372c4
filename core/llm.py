"""Chat models from settings, through `init_chat_model`, and what their failures mean to users."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import TypeVar

import httpx
import openai
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from core.errors import ReasonedError
from core.settings import LOCAL_MODEL_NAME, GroundedAnswers, Provider, Settings

Chunk = TypeVar("Chunk")

DEFAULT_MODELS = {
    Provider.OPENAI: "gpt-4o-mini",
    Provider.OLLAMA: "llama3.2",
    Provider.OPENAI_COMPATIBLE: "local",
}


class ModelFailure(StrEnum):
    """Kinds of model failure, each with its own message to the user (`reason_model_<kind>`)."""

    UNREACHABLE = "unreachable"
    AUTH = "auth"
    TIMEOUT = "timeout"
    CONTEXT = "context"
    RATE_LIMITED = "rate_limited"
    GENERIC = "generic"


def default_model(settings: Settings) -> str:
    """The model used when a user has not picked one."""
    return settings.llm_model or DEFAULT_MODELS.get(settings.llm_provider, "local")


def quotes_grounded_answers(settings: Settings) -> bool:
    """Whether answers from documents are quoted from them instead of generated: the
    embedded model loses names and numbers when it rewrites a passage; the operator's don't."""
    if settings.grounded_answers is GroundedAnswers.AUTO:
        return default_model(settings) == LOCAL_MODEL_NAME
    return settings.grounded_answers is GroundedAnswers.EXTRACTIVE


def build_chat_model(settings: Settings, model: str | None = None) -> BaseChatModel:
    """Make a streaming chat model for the configured (already resolved) provider."""
    name = model or default_model(settings)
    match settings.llm_provider:
        case Provider.OPENAI | Provider.OPENAI_COMPATIBLE:
            # Local OpenAI-compatible servers want some key, but any will do.
            placeholder_key = "not-needed" if settings.llm_base_url else None
            return init_chat_model(
                name,
                model_provider="openai",
                api_key=_secret(settings) or placeholder_key,
                base_url=settings.llm_base_url or None,
                timeout=settings.llm_timeout_seconds,
                max_tokens=settings.llm_max_output_tokens,
                max_retries=1,
                temperature=settings.llm_temperature,
            )
        case Provider.OLLAMA:
            return init_chat_model(
                name,
                model_provider="ollama",
                base_url=settings.ollama_base_url,
                num_predict=settings.llm_max_output_tokens,
                client_kwargs={"timeout": settings.llm_timeout_seconds},
                temperature=settings.llm_temperature,
            )
    raise ValueError(f"LLM_PROVIDER={settings.llm_provider} must be resolved before use")


async def within_deadline(
    chunks: AsyncIterator[Chunk], seconds: float, *, slots: asyncio.Semaphore | None = None
) -> AsyncIterator[Chunk]:
    """The chunks of a model stream, which must end within `seconds`, else TimeoutError.

    The HTTP client's timeout only bounds the gap between chunks, so a model trickling
    tokens could run for minutes. The model is read in a task of its own, so only the
    model's time counts: a slow consumer (a chat platform's flood control) never makes a
    healthy model time out, and chunks wait for it in a queue. With `slots`, the model is
    called only once one is free: a burst of questions queues instead of timing out.
    """
    queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue()

    async def read_model() -> None:
        try:
            async with slots or contextlib.nullcontext(), asyncio.timeout(seconds):
                async for chunk in chunks:
                    queue.put_nowait(chunk)
            queue.put_nowait(None)
        except Exception as exc:  # handed to the consumer, who decides what it means
            queue.put_nowait(exc)

    reader = asyncio.create_task(read_model())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def classify_failure(error: BaseException) -> ModelFailure:
    """Map an exception from any provider to a kind the user can understand."""
    message = str(error).lower()
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelFailure.AUTH
    if isinstance(error, openai.RateLimitError):
        return ModelFailure.RATE_LIMITED
    if isinstance(error, openai.APITimeoutError | httpx.TimeoutException | asyncio.TimeoutError):
        return ModelFailure.TIMEOUT
    if isinstance(error, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return ModelFailure.UNREACHABLE
    if "context" in message and ("length" in message or "window" in message or "exceed" in message):
        return ModelFailure.CONTEXT
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return ModelFailure.AUTH
    if status == 429:
        return ModelFailure.RATE_LIMITED
    if status == 404 and "model" in message:
        return ModelFailure.UNREACHABLE
    return ModelFailure.GENERIC


class ModelError(ReasonedError):
    """A failed model call as the user hears it; `failure` says what kind it was."""

    def __init__(self, failure: ModelFailure, cause: BaseException) -> None:
        super().__init__(f"model_{failure.value}", repr(cause))
        self.failure = failure

    @classmethod
    def of(cls, error: BaseException) -> ModelError:
        """The error any provider raised, classified."""
        return cls(classify_failure(error), error)


def _secret(settings: Settings) -> str | None:
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
