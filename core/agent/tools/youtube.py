"""The timed transcript of a YouTube (or other media) link, from the media pipeline:
stored transcripts first, then captions, then Whisper; yt-dlp goes through the egress guard."""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed
from core.errors import ReasonedError
from core.knowledge.answer import clock
from core.media.sources import is_media_url

NAME = "youtube_transcript"


class TranscriptArgs(BaseModel):
    url: str = Field(description="A YouTube link (watch, youtu.be, shorts) or a media link.")


def build(context: ToolContext) -> BaseTool:
    async def run(url: str) -> str:
        if not is_media_url(url):
            raise ToolFailed("not a YouTube or media link")
        try:
            transcript = await context.media.for_link(
                url, locale=context.locale, progress=lambda _done: None
            )
        except ReasonedError as exc:
            raise ToolFailed(f"no transcript: {exc.reason}") from None
        lines = [f"[{clock(s.start)}] {s.text.strip()}" for s in transcript.segments]
        return f"{transcript.title} ({transcript.url or url})\n" + "\n".join(lines)

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Returns the timed transcript of a YouTube video or other media link.",
        args_schema=TranscriptArgs,
    )
