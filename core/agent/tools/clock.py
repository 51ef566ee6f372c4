"""The current date and time where the user lives (models do not know what day it is)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed

NAME = "datetime"


class ClockArgs(BaseModel):
    timezone: str = Field(
        default="",
        description="An IANA time zone such as `America/Sao_Paulo`; empty for the user's own.",
    )


def now_in(timezone: str, *, now: datetime | None = None) -> str:
    """`2026-12-03 08:41 (Thursday), America/Sao_Paulo, UTC-03:00`."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailed(f"unknown time zone {timezone!r}") from None
    local = (now or datetime.now(zone)).astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({local:%A}), {timezone}, UTC{offset[:3]}:{offset[3:]}"


def build(context: ToolContext) -> BaseTool:
    async def run(timezone: str = "") -> str:
        return now_in(timezone.strip() or context.settings.default_timezone)

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="The current date, weekday and time, in the user's time zone unless "
        "another is named.",
        args_schema=ClockArgs,
    )
