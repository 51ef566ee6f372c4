"""Agent mode with a model that calls no tools: the usual answer, with a one-line notice."""

from __future__ import annotations

from core.deps import CoreDeps
from core.service import ChatService
from core.types import Done, Notice
from tests.factories import collect, private, reply_text


async def test_a_model_without_tool_calling_falls_back_to_plain_chat(
    service: ChatService, deps: CoreDeps
) -> None:
    await collect(service.handle(private("ana", command="agent", args="on")))
    events = await collect(service.handle(private("ana", "hello agent")))
    notice, *_streamed, done = events
    assert isinstance(notice, Notice) and not notice.is_error
    assert notice.text == (
        "(Agent mode needs a model that calls tools; echo does not, so I answer without tools.)"
    )
    assert done == Done("echo: hello agent")
    trace = reply_text(await collect(service.handle(private("ana", command="trace"))))
    assert trace.startswith("No agent answer here yet")
