"""/healthz, /metrics, `assistant healthcheck` and JSON logs, on the real services."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from core.deps import CoreDeps
from core.jobs import SUMMARISE_CONVERSATION
from core.service import ChatService
from core.settings import Settings
from launcher.frontends import work
from launcher.logs import JsonFormatter
from launcher.observability import serving
from launcher.services import free_port
from tests.factories import collect, private

PROCESS_TIMEOUT_SECONDS = 60

Serve = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def serve(settings: Settings, deps: CoreDeps) -> Serve:
    """`async with serve() as url`: the endpoints on a free port, over the test's services."""

    @asynccontextmanager
    async def start(redis: Redis | None = None) -> AsyncIterator[str]:
        port = free_port()
        with_port = settings.model_copy(update={"metrics_port": port})
        async with serving(with_port, deps.pool, redis or deps.redis):
            yield f"http://127.0.0.1:{port}"

    return start


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


async def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    response = await get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_healthz_is_ok_when_postgres_and_redis_answer(serve: Serve) -> None:
    async with serve() as url:
        response = await get(f"{url}/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "down": [],
        "checks": {"postgres": "ok", "redis": "ok"},
    }


async def test_healthz_names_an_unreachable_redis(serve: Serve) -> None:
    dead_redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        async with serve(dead_redis) as url:
            response = await get(f"{url}/healthz")
    finally:
        await dead_redis.aclose()
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert response.json()["checks"]["postgres"] == "ok"


async def test_metrics_count_a_handled_message(serve: Serve, service: ChatService) -> None:
    key = ("assistant_messages_total", (("kind", "text"), ("platform", "console")))
    async with serve() as url:
        before = (await scrape(url)).get(key, 0.0)
        await collect(service.handle(private("ana", "hello")))
        after = await scrape(url)
    assert after[key] == before + 1
    assert after[("assistant_answer_seconds_count", (("platform", "console"),))] >= 1


async def test_job_gauges_follow_the_queue_and_jobs_are_counted(
    serve: Serve, deps: CoreDeps
) -> None:
    depth = ("assistant_job_queue_depth", (("queue", "default"),))
    succeeded = (
        "assistant_jobs_finished_total",
        (("outcome", "succeeded"), ("task", SUMMARISE_CONVERSATION)),
    )
    async with serve() as url:
        finished_before = (await scrape(url)).get(succeeded, 0.0)
        await deps.jobs.defer(
            SUMMARISE_CONVERSATION,
            conversation_key="cli:ana|cli:ana",
            chat_id="ana",
            platform="cli",
            is_private=True,
            locale="en",
        )
        assert (await scrape(url))[depth] == 1
        await work(deps.job_app, deps, wait=False)  # type: ignore[attr-defined]
        after = await scrape(url)
    # An emptied queue reads 0 rather than vanishing.
    assert after[depth] == 0
    assert after[succeeded] == finished_before + 1


async def assistant(*args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    """Run the `assistant` CLI without blocking the loop that serves the endpoints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "launcher",
        *args,
        env={**os.environ, "DATA_DIR": str(cwd), **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(PROCESS_TIMEOUT_SECONDS):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_healthcheck_command_exits_by_health(serve: Serve, tmp_path: Path) -> None:
    async with serve() as url:
        port = url.rsplit(":", 1)[1]
        status, out, _err = await assistant("healthcheck", cwd=tmp_path, METRICS_PORT=port)
    assert status == 0 and '"status": "ok"' in out

    dead_redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        async with serve(dead_redis) as url:
            port = url.rsplit(":", 1)[1]
            status, _out, err = await assistant("healthcheck", cwd=tmp_path, METRICS_PORT=port)
    finally:
        await dead_redis.aclose()
    assert status == 1 and "unhealthy" in err and "redis" in err

    status, _out, err = await assistant("healthcheck", cwd=tmp_path, METRICS_PORT=str(free_port()))
    assert status == 1 and "unhealthy" in err


async def test_json_logs_are_one_object_per_line(own_database_url: str, tmp_path: Path) -> None:
    status, _out, err = await assistant(
        "migrate",
        cwd=tmp_path,
        DATABASE_URL=own_database_url,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    assert status == 0, err
    lines = [line for line in err.splitlines() if line != "Database is up to date."]
    entries = [json.loads(line) for line in lines]
    assert entries, err
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    assert any(entry["logger"].startswith("alembic") for entry in entries)


def test_json_lines_carry_the_traceback_and_extras() -> None:
    logger = logging.getLogger("tests.json")
    try:
        raise ValueError("broken pdf")
    except ValueError:
        record = logger.makeRecord(
            logger.name,
            logging.ERROR,
            __file__,
            1,
            "ingest of %s failed",
            ("doc-1",),
            sys.exc_info(),
            extra={"job_id": 7, "task": object()},
        )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "ERROR" and entry["logger"] == "tests.json"
    assert entry["message"] == "ingest of doc-1 failed"
    assert "ValueError: broken pdf" in entry["exc_info"]
    assert entry["job_id"] == 7 and entry["task"].startswith("<object")
    assert entry["time"].endswith("+00:00")
