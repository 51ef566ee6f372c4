"""Fetch a web page and read its text, through the same SSRF guard as ingestion."""

from __future__ import annotations

import asyncio

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed
from core.knowledge.loaders import DocumentError, extract
from core.knowledge.web import UrlRefused, fetch_url

NAME = "fetch_page"
# Reasons that would tell the model (and through it the user) what runs on the network
# behind the bot read like a site that does not answer, as they do for links in chat.
_HIDDEN_REASONS = frozenset({"private_address", "unresolvable"})


class FetchPageArgs(BaseModel):
    url: str = Field(description="The http(s) address of the page.")


async def page_text(context: ToolContext, url: str) -> str:
    """The readable text of the page at `url`, or ToolFailed saying why not."""
    settings = context.settings
    try:
        fetched = await fetch_url(
            url,
            allowed_hosts=settings.url_allowed_hosts,
            max_bytes=settings.url_max_bytes,
            timeout_seconds=settings.url_fetch_timeout_seconds,
        )
        document = await asyncio.to_thread(
            extract,
            fetched.data,
            file_name=fetched.file_name,
            mime_type=fetched.content_type,
            max_pages=settings.knowledge_max_pages,
            max_text_chars=settings.knowledge_max_text_chars,
        )
    except UrlRefused as exc:
        reason = "unreachable" if exc.reason in _HIDDEN_REASONS else exc.reason
        raise ToolFailed(f"could not fetch the page: {reason}") from None
    except DocumentError as exc:
        raise ToolFailed(f"no readable text on that page: {exc.reason}") from None
    text = "\n\n".join(section.text for section in document.sections)
    return f"{document.title} ({fetched.url})\n\n{text}"


def build(context: ToolContext) -> BaseTool:
    async def run(url: str) -> str:
        return await page_text(context, url)

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Fetches one web page (or PDF, DOCX, text file) and returns its text.",
        args_schema=FetchPageArgs,
    )
