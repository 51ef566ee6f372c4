"""The prompts and chains: answering with memory, and folding old turns into a running summary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from core.memory import Conversation, Turn

ANSWER_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "{system_prompt}{summary_block}"),
        MessagesPlaceholder("history"),
        ("human", "{input}"),
    ]
)

SUMMARY_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You keep a running summary of a chat so the assistant remembers facts the user "
            "shared (names, places, preferences, decisions). Progressively extend the summary "
            "with the new lines. Write at most 120 words in the language of the conversation. "
            "Return only the new summary.",
        ),
        ("human", "Current summary:\n{summary}\n\nNew lines of conversation:\n{lines}"),
    ]
)


def stream_answer(
    model: BaseChatModel, *, system_prompt: str, conversation: Conversation, text: str
) -> AsyncIterator[str]:
    """Stream the answer to `text` given what is remembered of the conversation."""
    summary_block = (
        f"\n\nSummary of the earlier conversation:\n{conversation.summary}"
        if conversation.summary
        else ""
    )
    return stream_prompt(
        model,
        ANSWER_PROMPT,
        {
            "system_prompt": system_prompt,
            "summary_block": summary_block,
            "history": [turn.to_message() for turn in conversation.turns],
            "input": text,
        },
    )


def stream_prompt(
    model: BaseChatModel, prompt: ChatPromptTemplate, values: dict[str, Any]
) -> AsyncIterator[str]:
    """The text of the model's answer to `prompt` filled with `values`, as it streams.

    The same as `(prompt | model).astream(values)` without the sequence's bookkeeping on
    every chunk, which cost as much CPU as the rest of a streamed answer (BENCHMARKS.md:
    chat core overhead).
    """
    return text_of(model.astream(prompt.invoke(values)))


async def text_of(chunks: AsyncIterator[BaseMessage]) -> AsyncIterator[str]:
    """The text of streamed message chunks.

    Does what `StrOutputParser` does, on the event loop: the parser's async stream sends
    every chunk through the thread pool (BENCHMARKS.md: chat core overhead).
    """
    async for chunk in chunks:
        if text := chunk.text:
            yield text


async def extend_summary(model: BaseChatModel, *, summary: str, turns: list[Turn]) -> str:
    """Fold `turns` into `summary` with the model."""
    chain = SUMMARY_PROMPT | model | StrOutputParser()
    lines = "\n".join(f"{turn.role}: {turn.content}" for turn in turns)
    new_summary = await chain.ainvoke({"summary": summary or "(empty)", "lines": lines})
    return new_summary.strip() or summary
