"""Two Telegram webhook replicas and two job workers at once, as docker-compose.scale.yml runs them.

Real `assistant` processes on the real Postgres and Redis; only the Bot API is faked (and
the model is unreachable, so document digests take their fallback). Every update is posted
to both replicas, as a Telegram retry that a load balancer sends to the other one: each
must still be answered once, each document indexed by one job, run once, and each job's
outbox messages delivered by one bot.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from redis.asyncio import Redis

from core.outbox import stream_key
from core.types import Platform
from launcher.services import free_port
from tests.bots.telegram_api import TOKEN, FakeBotApi
from tests.bots.telegram_updates import command, document, message, update

SECRET = "scale-test-secret"
# The replicas' own Redis database: no other test's outbox entries in their streams.
REDIS_DB = 7
READY_TIMEOUT_SECONDS = 90
SETTLE_TIMEOUT_SECONDS = 90
POLL_SECONDS = 0.2
EXIT_TIMEOUT_SECONDS = 60
DOCUMENTS = 3
COMMANDS = 3
FIRST_USER_ID = 7001

Started = Callable[[list[str], dict[str, str], str], Awaitable[asyncio.subprocess.Process]]


def _redis_db(url: str, db: int) -> str:
    base, _, query = url.partition("?")
    scheme_host = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{scheme_host}/{db}" + (f"?{query}" if query else "")


def user(n: int) -> dict[str, Any]:
    """One person per update: no rate limit or pending-document cap gets in the way."""
    return {"id": FIRST_USER_ID + n, "is_bot": False, "first_name": f"U{n}", "language_code": "en"}


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def replica_redis_url(redis_url: str) -> AsyncIterator[str]:
    url = _redis_db(redis_url, REDIS_DB)
    client = Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.aclose()


@pytest.fixture
async def start(
    own_database_url: str, replica_redis_url: str, telegram_api: FakeBotApi, tmp_path: Path
) -> AsyncIterator[Started]:
    """`await start(args, env, ready_line)`: an `assistant` process, once it logged ready_line.

    Stopped with SIGTERM afterwards (how compose stops a replica), which must end it cleanly.
    """
    started: list[tuple[asyncio.subprocess.Process, Path]] = []
    base_env = os.environ | {
        "DATA_DIR": str(tmp_path / "data"),  # shared, like compose's app-data volume
        "DATABASE_URL": own_database_url,
        "REDIS_URL": replica_redis_url,
        "LLM_PROVIDER": "openai_compatible",
        "LLM_BASE_URL": "http://127.0.0.1:9/v1",  # nobody there: digests use their fallback
        "LLM_MODEL": "echo",
        "EMBEDDINGS_MODEL": "all-MiniLM-L6-v2-int8",  # the fastest offline model
        "LOG_LEVEL": "INFO",
        "METRICS_PORT": "0",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }

    async def run(
        args: list[str], env: dict[str, str], ready_line: str
    ) -> asyncio.subprocess.Process:
        log = tmp_path / f"{env['REPLICA_NAME']}.log"
        with log.open("w") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "launcher",
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                env=base_env | env,
                cwd=tmp_path,
            )
        started.append((process, log))

        async def is_ready() -> bool:
            return ready_line in log.read_text() or process.returncode is not None

        await _wait_for(is_ready, READY_TIMEOUT_SECONDS, f"assistant {' '.join(args)} to start")
        assert process.returncode is None, log.read_text()
        return process

    yield run
    for process, _log in started:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process, log in started:
        try:
            await asyncio.wait_for(process.wait(), EXIT_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
        assert process.returncode == 0, log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()


async def _wait_for(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Poll until `condition()` holds; generous timeouts, no assumption about speed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def test_two_replicas_and_two_workers_handle_each_update_and_job_once(
    start: Started, telegram_api: FakeBotApi, own_database_url: str, replica_redis_url: str
) -> None:
    ports = [free_port(), free_port()]
    await asyncio.gather(
        *(start(["worker"], {"REPLICA_NAME": f"worker-{n}"}, "Starting worker") for n in range(2)),
        *(
            start(
                ["telegram"],
                {
                    "REPLICA_NAME": f"bot-{n}",
                    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                    "TELEGRAM_WEBHOOK_PORT": str(port),
                },
                "Telegram bot @",
            )
            for n, port in enumerate(ports)
        ),
    )

    updates = []
    for n in range(DOCUMENTS):
        file_id = f"doc-{n}"
        telegram_api.add_file(file_id, f"Report {n}. Shard {n} holds the {n}th ledger.".encode())
        updates.append(update(message=message(None, user=user(n), document=document(file_id))))
    for n in range(DOCUMENTS, DOCUMENTS + COMMANDS):
        updates.append(command("/start", user=user(n)))

    async with aiohttp.ClientSession() as http:

        async def post(port: int, body: dict[str, Any]) -> None:
            async with http.post(
                f"http://127.0.0.1:{port}/telegram",
                json=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as response:
                assert response.status == 200

        # Each update reaches both replicas at the same moment.
        await asyncio.gather(*(post(port, body) for body in updates for port in ports))

    redis = Redis.from_url(replica_redis_url)
    stream = stream_key(Platform.TELEGRAM)

    async def is_settled() -> bool:
        async with await psycopg.AsyncConnection.connect(own_database_url) as conn:
            cur = await conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) "
                "FROM procrastinate_jobs WHERE task_name LIKE %s",
                ("%ingest_document",),
            )
            done, total = await cur.fetchone() or (0, 0)
        answered = {call["chat_id"] for call in telegram_api.calls_to("sendMessage")}
        return (
            total == DOCUMENTS == done
            and len(answered) == len(updates)
            and await redis.xlen(stream) == 0  # every worker message delivered and acked
        )

    try:
        await _wait_for(is_settled, SETTLE_TIMEOUT_SECONDS, "the updates and jobs to settle")
    finally:
        await redis.aclose()

    async with await psycopg.AsyncConnection.connect(own_database_url) as conn:
        cur = await conn.execute(
            "SELECT j.id, count(e.id) FILTER (WHERE e.type = 'started') "
            "FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id "
            "WHERE j.task_name LIKE %s GROUP BY j.id",
            ("%ingest_document",),
        )
        starts = [started for _job, started in await cur.fetchall()]
        cur = await conn.execute("SELECT status FROM documents")
        statuses = [status for (status,) in await cur.fetchall()]

    assert starts == [1] * DOCUMENTS, "every document job ran once"
    assert statuses == ["ready"] * DOCUMENTS
    for body in updates:
        chat_id = body["message"]["chat"]["id"]
        sends = [
            call for call in telegram_api.calls_to("sendMessage") if call["chat_id"] == chat_id
        ]
        assert len(sends) == 1, (chat_id, sends)
