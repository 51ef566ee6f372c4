"""Wikipedia lookup through the MediaWiki API: the best matching article's introduction."""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed

NAME = "wikipedia"
API_URL = "https://{language}.wikipedia.org/w/api.php"
USER_AGENT = "chat-assistant/0.1 (self-hosted bot)"
CANDIDATES = 3


class WikipediaArgs(BaseModel):
    topic: str = Field(description="The subject to look up, e.g. `Alan Turing`.")
    language: str = Field(
        default="", description="Wikipedia language code (`en`, `pt`); empty for the user's."
    )


async def lookup(
    topic: str, *, language: str, timeout_seconds: float, api_url: str = API_URL
) -> str:
    """`Title (link)` and the introduction of the article that best matches `topic`."""
    if not language.isalpha() or len(language) > 3:
        raise ToolFailed(f"unknown Wikipedia language {language!r}")
    url = api_url.format(language=language.lower())
    async with httpx.AsyncClient(
        timeout=timeout_seconds, trust_env=False, headers={"User-Agent": USER_AGENT}
    ) as client:
        search = await _query(
            client, url, list="search", srsearch=topic, srlimit=CANDIDATES, srprop=""
        )
        hits = search.get("query", {}).get("search", [])
        if not hits:
            return f"No Wikipedia article matches {topic!r}."
        title = hits[0]["title"]
        found = await _query(
            client,
            url,
            prop="extracts|info",
            exintro=1,
            explaintext=1,
            inprop="url",
            redirects=1,
            titles=title,
        )
    pages = list(found.get("query", {}).get("pages", {}).values())
    if not pages:
        return f"No Wikipedia article matches {topic!r}."
    page = pages[0]
    others = ", ".join(hit["title"] for hit in hits[1:])
    see_also = f"\n\nOther matches: {others}" if others else ""
    return (
        f"{page.get('title', title)} ({page.get('fullurl', '')})\n\n{page.get('extract', '')}"
        + (see_also)
    )


async def _query(client: httpx.AsyncClient, url: str, **params: object) -> dict[str, Any]:
    try:
        response = await client.get(
            url,
            params={"action": "query", "format": "json", **params},  # type: ignore[dict-item]
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ToolFailed(f"Wikipedia did not answer: {type(exc).__name__}") from None
    return result


def build(context: ToolContext) -> BaseTool:
    async def run(topic: str, language: str = "") -> str:
        return await lookup(
            topic,
            language=language.strip() or context.locale.split("-")[0],
            timeout_seconds=context.settings.agent_tool_timeout_seconds,
        )

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Looks a subject up on Wikipedia and returns the article's introduction.",
        args_schema=WikipediaArgs,
    )
