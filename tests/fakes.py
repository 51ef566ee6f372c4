"""Deterministic stand-ins at the model boundary (the only place tests fake anything)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable


class EchoChatModel(BaseChatModel):
    """Answers `echo: <last human message>` word by word, or raises `error` if set.

    `calls` records every prompt it saw, so tests can check what memory fed the model.
    """

    error: BaseException | None = None
    reply: str | None = None
    calls: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _answer(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        if self.error is not None:
            raise self.error
        if self.reply is not None:
            return self.reply
        last = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        return f"echo: {last.content if last else ''}"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._answer(messages)))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for word in _words(self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in _words(self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


class ScriptedToolModel(BaseChatModel):
    """A tool-calling chat model that plays a script: each call returns the next reply
    (text, or tool calls as `AIMessage(tool_calls=...)`); the last one repeats when
    `repeat_last` is set. Text streams word by word, tool calls as one chunk, as
    OpenAI-compatible servers send them. `calls` keeps every prompt, `bound` the tool names.
    """

    script: list[AIMessage] = []
    repeat_last: bool = False
    delay_seconds: float = 0.0
    calls: list[list[BaseMessage]] = []
    bound: list[str] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-tools"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        self.bound = [tool.name for tool in tools]
        return self  # type: ignore[return-value]

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls.append(list(messages))
        index = len(self.calls) - 1
        if index >= len(self.script):
            if not self.repeat_last:
                raise AssertionError(f"the script has {len(self.script)} replies; call {index + 1}")
            index = len(self.script) - 1
        reply = self.script[index]
        # Every call gets fresh tool call ids, as a real model's would be.
        calls = [
            {**call, "id": f"call_{len(self.calls)}_{n}"} for n, call in enumerate(reply.tool_calls)
        ]
        return AIMessage(content=reply.content, tool_calls=calls)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await asyncio.sleep(self.delay_seconds)
        reply = self._next(messages)
        if isinstance(reply.content, str) and reply.content:
            for word in _words(reply.content):
                yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        if reply.tool_calls:
            chunks = [
                tool_call_chunk(
                    name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=n
                )
                for n, call in enumerate(reply.tool_calls)
            ]
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=chunks))


def calls_tool(name: str, **args: Any) -> AIMessage:
    """A scripted reply that calls one tool."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "scripted"}])
