"""Web search: Tavily when TAVILY_API_KEY is set, else DuckDuckGo (no key) through `ddgs`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from ddgs import DDGS
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed

NAME = "web_search"
TAVILY_URL = "https://api.tavily.com/search"
MAX_RESULTS = 5


class WebSearchArgs(BaseModel):
    query: str = Field(description="What to search the web for.")


def render_results(results: list[dict[str, str]]) -> str:
    """Numbered `title (link): snippet` lines."""
    if not results:
        return "No results."
    return "\n".join(
        f"{n}. {r['title']} ({r['url']}): {r['snippet']}" for n, r in enumerate(results, start=1)
    )


async def tavily_search(
    query: str, *, api_key: str, timeout_seconds: float, url: str = TAVILY_URL
) -> list[dict[str, str]]:
    """Results from Tavily's search API."""
    async with httpx.AsyncClient(timeout=timeout_seconds, trust_env=False) as client:
        try:
            response = await client.post(
                url,
                json={"query": query, "max_results": MAX_RESULTS},
                headers={"Authorization": f"Bearer {api_key}"},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ToolFailed(f"web search failed: {type(exc).__name__}") from None
    found: list[dict[str, Any]] = response.json().get("results", [])
    return [
        {"title": r.get("title", ""), "url": r.get("url", ""), "snippet": r.get("content", "")}
        for r in found
    ]


async def duckduckgo_search(query: str, *, timeout_seconds: float) -> list[dict[str, str]]:
    """Results from DuckDuckGo and its peers (ddgs picks the backends), without a key."""

    def search() -> list[dict[str, Any]]:
        return DDGS(timeout=int(timeout_seconds)).text(query, max_results=MAX_RESULTS)

    try:
        found = await asyncio.to_thread(search)
    except Exception as exc:  # ddgs raises its own errors and its HTTP client's
        raise ToolFailed(f"web search failed: {type(exc).__name__}") from None
    return [
        {"title": r.get("title", ""), "url": r.get("href", ""), "snippet": r.get("body", "")}
        for r in found
    ]


def build(context: ToolContext) -> BaseTool:
    settings = context.settings

    async def run(query: str) -> str:
        timeout = settings.agent_tool_timeout_seconds
        if settings.tavily_api_key is not None:
            key = settings.tavily_api_key.get_secret_value()
            return render_results(await tavily_search(query, api_key=key, timeout_seconds=timeout))
        return render_results(await duckduckgo_search(query, timeout_seconds=timeout))

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Searches the web; returns titles, links and snippets. Use fetch_page "
        "to read a result in full.",
        args_schema=WebSearchArgs,
    )
