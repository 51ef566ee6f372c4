"""The agent's tools on their own: the calculator's safety, the clock, and the network
tools against local HTTP servers on loopback (nothing leaves the machine)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from langchain_openai import ChatOpenAI

from core.agent.mode import can_call_tools
from core.agent.tools import BUILDERS
from core.agent.tools.base import ToolFailed
from core.agent.tools.calculator import calculate
from core.agent.tools.clock import now_in
from core.agent.tools.web_search import render_results, tavily_search
from core.agent.tools.wikipedia import lookup
from core.settings import LOCAL_MODEL_NAME, Settings
from tests.fakes import EchoChatModel, ScriptedToolModel

Handler = Callable[[web.Request], Any]


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1234 * 5678", 7006652),
        ("(1200 * 0.15) / 12", 15),
        ("2 ^ 10", 1024),
        ("sqrt(16) + abs(-2)", 6),
        ("round(pi, 2)", 3.14),
        ("-7 // 2", -4),
        ("10 % 3", 1),
        ("0.1 + 0.2", 0.30000000000000004),
    ],
)
def test_the_calculator_computes(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('id')", "not allowed"),
        ("().__class__.__bases__", "not allowed"),
        ("open('/etc/passwd')", "not allowed"),
        ("x + 1", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("9 ** 9 ** 9", "exponent larger"),
        ("10.0 ** 400", "out of range"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "no result"),
        ("True + 1", "booleans"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 400, "longer than"),
    ],
)
def test_the_calculator_refuses_anything_but_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(ToolFailed, match=reason):
        calculate(expression)


def test_the_clock_tells_the_time_in_a_time_zone() -> None:
    moment = datetime(2026, 12, 3, 11, 41, tzinfo=UTC)
    assert now_in("America/Sao_Paulo", now=moment) == (
        "2026-12-03 08:41 (Thursday), America/Sao_Paulo, UTC-03:00"
    )
    with pytest.raises(ToolFailed, match="unknown time zone"):
        now_in("Mars/Olympus", now=moment)


def test_every_default_tool_exists() -> None:
    default = Settings.model_fields["agent_tools"].default_factory()  # type: ignore[call-arg,misc]
    assert set(default) == set(BUILDERS)


def test_only_models_that_call_tools_drive_the_agent() -> None:
    assert can_call_tools(ScriptedToolModel(), "scripted")
    assert not can_call_tools(EchoChatModel(), "echo")  # no bind_tools at all
    remote = ChatOpenAI(model="gpt-4o-mini", api_key="x", base_url="http://127.0.0.1:9/v1")
    assert can_call_tools(remote, "gpt-4o-mini")
    # The embedded SmolLM2 accepts tools over the same API but never calls one.
    assert not can_call_tools(remote, LOCAL_MODEL_NAME)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[str, str, Handler], Any]]:
    """Starts a loopback server with the given routes; yields its base URL."""
    runners: list[web.AppRunner] = []

    async def start(method: str, path: str, handler: Handler) -> str:
        app = web.Application()
        app.router.add_route(method, path, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_wikipedia_returns_the_best_article_introduction(serve) -> None:  # noqa: ANN001
    asked: list[dict[str, str]] = []

    async def api(request: web.Request) -> web.Response:
        asked.append(dict(request.query))
        if request.query.get("list") == "search":
            hits = [{"title": "Alan Turing"}, {"title": "Turing machine"}]
            return web.json_response({"query": {"search": hits}})
        page = {
            "title": "Alan Turing",
            "fullurl": "https://pt.wikipedia.org/wiki/Alan_Turing",
            "extract": "Alan Mathison Turing foi um matemático britânico.",
        }
        return web.json_response({"query": {"pages": {"1": page}}})

    base = await serve("GET", "/{language}/w/api.php", api)
    found = await lookup(
        "turing", language="pt", timeout_seconds=5, api_url=base + "/{language}/w/api.php"
    )
    assert found.startswith("Alan Turing (https://pt.wikipedia.org/wiki/Alan_Turing)")
    assert "matemático britânico" in found and "Other matches: Turing machine" in found
    assert asked[0]["srsearch"] == "turing" and asked[1]["titles"] == "Alan Turing"
    with pytest.raises(ToolFailed, match="unknown Wikipedia language"):
        await lookup("x", language="../../etc", timeout_seconds=5)


async def test_wikipedia_failures_are_tool_failures(serve) -> None:  # noqa: ANN001
    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    base = await serve("GET", "/w/api.php", broken)
    with pytest.raises(ToolFailed, match="Wikipedia did not answer: HTTPStatusError"):
        await lookup("x", language="en", timeout_seconds=5, api_url=base + "/w/api.php")


async def test_tavily_search_sends_the_key_and_reads_results(serve) -> None:  # noqa: ANN001
    seen: dict[str, Any] = {}

    async def search(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["body"] = await request.json()
        result = {"title": "LangChain", "url": "https://langchain.com", "content": "Agents."}
        return web.json_response({"results": [result]})

    base = await serve("POST", "/search", search)
    results = await tavily_search(
        "langchain agents", api_key="tvly-key", timeout_seconds=5, url=base + "/search"
    )
    assert seen == {
        "auth": "Bearer tvly-key",
        "body": {"query": "langchain agents", "max_results": 5},
    }
    assert render_results(results) == "1. LangChain (https://langchain.com): Agents."
    assert render_results([]) == "No results."
