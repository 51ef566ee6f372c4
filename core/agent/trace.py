"""What an agent answer did, step by step, kept in Redis for /trace (LangSmith not needed)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from core.i18n import t

TRACE_KEY_PREFIX = "trace"


@dataclass
class Step:
    """One tool call: what the model asked for and what it got back."""

    tool: str
    args: dict[str, Any]
    output: str = ""
    seconds: float = 0.0
    is_error: bool = False


@dataclass
class Trace:
    """An agent answer: the question, its tool calls in order, and how it ended.

    `outcome` is `answered`, `steps` or `time` (gave up), `failed`, or `running`.
    """

    question: str
    model: str
    steps: list[Step] = field(default_factory=list)
    outcome: str = "running"
    model_calls: int = 0
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Trace:
        data = json.loads(raw)
        data["steps"] = [Step(**step) for step in data["steps"]]
        return cls(**data)


class TraceStore:
    """The trace of each conversation's last agent answer, kept as long as its memory."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl_seconds = ttl_seconds

    async def save(self, conversation_key: str, trace: Trace) -> None:
        await self._redis.set(trace_key(conversation_key), trace.to_json(), ex=self._ttl_seconds)

    async def last(self, conversation_key: str) -> Trace | None:
        raw = await self._redis.get(trace_key(conversation_key))
        return Trace.from_json(raw) if raw else None


def trace_key(conversation_key: str) -> str:
    return f"{TRACE_KEY_PREFIX}:{conversation_key}"


# /trace shows this much of each tool's output (the trace keeps up to the output cap).
SHOWN_OUTPUT_CHARS = 1200


def render_trace(trace: Trace, locale: str) -> str:
    """The steps of an agent answer as /trace shows them."""
    lines = [t("trace_header", locale, question=trace.question, model=trace.model)]
    if not trace.steps:
        lines.append(t("trace_no_steps", locale))
    for number, step in enumerate(trace.steps, start=1):
        args = json.dumps(step.args, ensure_ascii=False)
        mark = " ⚠️" if step.is_error else ""
        lines.append(f"\n{number}. {step.tool} {args} ({step.seconds:.1f} s){mark}")
        output = step.output
        if len(output) > SHOWN_OUTPUT_CHARS:
            output = output[: SHOWN_OUTPUT_CHARS - 1] + "…"
        lines.append(f"→ {output}")
    outcome = t(
        f"trace_outcome_{trace.outcome}", locale, calls=trace.model_calls, seconds=trace.seconds
    )
    return "\n".join([*lines, "", outcome])
