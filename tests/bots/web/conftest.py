"""A real uvicorn serving the web page over the suite's core, and signed-in clients."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from bots.web.app import create_app
from core.deps import CoreDeps
from core.service import ChatService
from launcher.services import free_port
from tests.factories import collect, private, reply_text

CODE = re.compile(r"\b([A-Z0-9]{8})\b")


@pytest.fixture
async def web(deps: CoreDeps) -> AsyncIterator[str]:
    """The page on a free loopback port; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(deps), host="127.0.0.1", port=port, lifespan="off", log_config=None
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def web_code(service: ChatService, user: str) -> str:
    """The code `/web` gives `cli:<user>` in their private chat."""
    said = reply_text(await collect(service.handle(private(user, command="web"))))
    match = CODE.search(said)
    assert match, said
    return match.group(1)


def client(base_url: str) -> httpx.AsyncClient:
    """A client that sends what the page's own requests send (its Origin)."""
    return httpx.AsyncClient(base_url=base_url, headers={"Origin": base_url}, timeout=30)


@asynccontextmanager
async def signed_in(
    base_url: str, service: ChatService, user: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding the session of `cli:<user>`."""
    async with client(base_url) as session:
        code = await web_code(service, user)
        response = await session.post("/api/sign-in", json={"code": code})
        assert response.status_code == 200, response.text
        yield session


def sse_events(body: str) -> list[tuple[str, dict]]:
    """(event, data) of a server-sent event stream."""
    events = []
    for frame in body.split("\n\n"):
        kind = re.search(r"^event: (.*)$", frame, re.M)
        data = re.search(r"^data: (.*)$", frame, re.M)
        if kind and data:
            events.append((kind.group(1), json.loads(data.group(1))))
    return events
