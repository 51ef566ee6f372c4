"""Bounds around every tool call: a time-out, a cap on calls and on output, errors turned
into observations, output framed as data, and each call written to the trace."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from core.agent.tools.base import ToolFailed, shortened
from core.agent.trace import Step, Trace

logger = logging.getLogger(__name__)

# A tool's output may not close its own frame and open a fake one ("</tool_output> SYSTEM:").
_FRAME_TAG = re.compile(r"<\s*/?\s*tool_output\b[^>]*>", re.IGNORECASE)

ToolHandler = Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]


class ToolGuard(AgentMiddleware):
    """Runs each tool call within its bounds; nothing a tool does can crash the chat."""

    def __init__(
        self, trace: Trace, *, timeout_seconds: float, max_output_chars: int, max_calls: int
    ) -> None:
        super().__init__()
        self.trace = trace
        self.timeout_seconds = timeout_seconds
        self.max_output_chars = max_output_chars
        self.max_calls = max_calls

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: ToolHandler
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        step = Step(tool=call["name"], args=dict(call["args"]))
        self.trace.steps.append(step)
        started = time.monotonic()
        if len(self.trace.steps) > self.max_calls:
            output, is_error = (
                f"Error: no more tool calls allowed ({self.max_calls} per answer). "
                "Answer with what you have.",
                True,
            )
        else:
            output, is_error = await self._run(request, handler)
        step.output, step.is_error = shortened(output, self.max_output_chars), is_error
        step.seconds = round(time.monotonic() - started, 3)
        # Tool output is untrusted (web pages, documents): framed as data, never as orders.
        body = _FRAME_TAG.sub("[tag removed]", step.output)
        framed = f'<tool_output tool="{step.tool}">\n{body}\n</tool_output>'
        return ToolMessage(
            framed,
            tool_call_id=call["id"] or "",
            name=step.tool,
            status="error" if is_error else "success",
        )

    async def _run(self, request: ToolCallRequest, handler: ToolHandler) -> tuple[str, bool]:
        """(observation, is_error) of one call within the per-tool time-out."""
        name = request.tool_call["name"]
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await handler(request)
        except GraphBubbleUp:
            raise  # LangGraph's own control flow, not a failure
        except TimeoutError:
            return f"Error: {name} took longer than {self.timeout_seconds:g} s.", True
        except ToolFailed as exc:
            return f"Error: {exc}", True
        except Exception as exc:
            # A bug or an outage in one tool: the model hears that it failed and goes on.
            logger.warning("agent tool %s failed: %r", name, exc)
            return f"Error: {name} failed ({type(exc).__name__}).", True
        if not isinstance(result, ToolMessage):
            return "Error: the tool gave no result.", True
        return result.text, result.status == "error"
