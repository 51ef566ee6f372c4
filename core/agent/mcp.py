"""Tools from MCP servers the operator listed (MCP_SERVERS), only those named in MCP_TOOLS.

langchain-mcp-adapters opens a session per tool call, so nothing stays running between
answers; the list of tools is read once, on the first agent answer that needs it.
"""

from __future__ import annotations

import asyncio
import logging

from langchain_core.tools import BaseTool

from core.settings import Settings

logger = logging.getLogger(__name__)


class McpTools:
    """The enabled MCP tools, listed once per process (a failed listing is retried)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tools: list[BaseTool] | None = None
        self._lock = asyncio.Lock()

    async def enabled(self) -> list[BaseTool]:
        """The tools named in MCP_TOOLS (as `server_tool`) that the servers offer."""
        wanted = set(self._settings.mcp_tools)
        if not wanted or not self._settings.mcp_servers:
            return []
        async with self._lock:
            if self._tools is None:
                listed = await self._list(wanted)
                if listed is None:
                    return []
                self._tools = listed
            return self._tools

    async def _list(self, wanted: set[str]) -> list[BaseTool] | None:
        # Loaded only where MCP servers are configured: the adapters bring the MCP SDK,
        # Starlette and uvicorn (BENCHMARKS.md: footprint).
        from langchain_mcp_adapters.client import MultiServerMCPClient

        client = MultiServerMCPClient(
            self._settings.mcp_servers,  # type: ignore[arg-type]
            tool_name_prefix=True,
        )
        try:
            async with asyncio.timeout(self._settings.agent_tool_timeout_seconds):
                offered = await client.get_tools()
        except Exception as exc:  # a server that does not start must not stop the chat
            logger.warning("MCP servers could not be listed (retried next answer): %r", exc)
            return None
        tools = [tool for tool in offered if tool.name in wanted]
        missing = wanted - {tool.name for tool in tools}
        if missing:
            logger.warning("MCP_TOOLS names tools no server offers: %s", sorted(missing))
        return tools
