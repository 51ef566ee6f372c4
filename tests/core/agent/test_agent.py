"""Agent mode end to end on real Postgres and Redis, with a scripted tool-calling model at
the model boundary: which tool runs, with what, and what the answer makes of it."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from core.deps import CoreDeps
from core.service import ChatService
from core.settings import Settings
from core.types import Done, Notice
from tests import knowledge_fixtures as files
from tests.core.knowledge.test_knowledge_base import upload
from tests.factories import collect, private, reply_text, run_jobs, streamed
from tests.fakes import ScriptedToolModel, calls_tool


@pytest.fixture
def chat_model() -> ScriptedToolModel:  # type: ignore[override]
    return ScriptedToolModel()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Agent mode on by default, with the tools that need no network."""
    return settings.model_copy(
        update={
            "agent_mode_default": True,
            "agent_tools": ["documents", "calculator", "datetime", "fetch_page"],
            "agent_max_steps": 4,
        }
    )


def tool_results(model: ScriptedToolModel) -> list[ToolMessage]:
    """The observations the model saw on its last call."""
    return [m for m in model.calls[-1] if isinstance(m, ToolMessage)]


async def test_the_calculator_is_chosen_and_its_result_answers(
    service: ChatService, chat_model: ScriptedToolModel
) -> None:
    chat_model.script = [
        calls_tool("calculator", expression="1234 * 5678"),
        AIMessage("1234 × 5678 = 7006652."),
    ]
    events = await collect(service.handle(private("ana", "How much is 1234 times 5678?")))

    assert chat_model.bound == ["documents", "calculator", "datetime", "fetch_page"]
    status = [e.text for e in events if isinstance(e, Notice)]
    assert status == ["🧮 calculating 1234 * 5678"]
    [observation] = tool_results(chat_model)
    assert "1234 * 5678 = 7006652" in observation.text
    assert streamed(events) == "1234 × 5678 = 7006652."
    assert events[-1] == Done("1234 × 5678 = 7006652.")

    shown = reply_text(await collect(service.handle(private("ana", command="trace"))))
    assert 'calculator {"expression": "1234 * 5678"}' in shown
    assert "→ 1234 * 5678 = 7006652" in shown
    assert "Answered after 2 model calls" in shown
