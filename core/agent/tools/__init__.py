"""The agent's tools by the names operators list in AGENT_TOOLS."""

from __future__ import annotations

import logging
from collections.abc import Callable

from langchain_core.tools import BaseTool

from core.agent.tools import (
    calculator,
    clock,
    documents,
    fetch_page,
    web_search,
    wikipedia,
    youtube,
)
from core.agent.tools.base import ToolContext

logger = logging.getLogger(__name__)

BUILDERS: dict[str, Callable[[ToolContext], BaseTool]] = {
    documents.NAME: documents.build,
    calculator.NAME: calculator.build,
    clock.NAME: clock.build,
    web_search.NAME: web_search.build,
    wikipedia.NAME: wikipedia.build,
    fetch_page.NAME: fetch_page.build,
    youtube.NAME: youtube.build,
}


def build_tools(names: list[str], context: ToolContext) -> list[BaseTool]:
    """The tools named (unknown names are logged and skipped), built for one answer."""
    tools = []
    for name in names:
        if name not in BUILDERS:
            logger.warning("AGENT_TOOLS names an unknown tool %r; known: %s", name, list(BUILDERS))
            continue
        tools.append(BUILDERS[name](context))
    return tools
