"""A tiny MCP server over stdio for the agent tests: two tools, only one of them enabled."""

from mcp.server.fastmcp import FastMCP

server = FastMCP("demo")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two whole numbers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Says the text in capitals."""
    return text.upper()


if __name__ == "__main__":
    server.run("stdio")
