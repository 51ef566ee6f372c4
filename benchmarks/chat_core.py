"""Chat core overhead: messages/s and per-message latency through the whole core.

Each message goes through `ChatService.handle` with real Redis memory and Postgres (users,
usage, documents), the prompt chain, and the delivery layer's streaming split, with an
instant fake model, so what is measured is the core's own cost. The baseline, in the
same run and at the same concurrency, is the raw Redis and Postgres round trips that
path makes, done directly with redis-py and psycopg. A second scenario starts every
conversation at its memory budget, where each answer trims old turns (`summary` memory).

Run: `.venv/bin/python -m benchmarks.chat_core` (`BENCH_FULL=1` for more messages).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from benchmarks.common import (
    is_full,
    machine,
    percentile,
    print_machine,
    print_table,
    scratch_database,
    services,
    write_results,
)
from bots.delivery import deliver_events
from core.deps import ModelRegistry
from core.service import ChatService
from core.settings import Provider, Settings
from core.types import ChatRef, Identity, Incoming, Platform
from launcher.frontends import core_and_jobs

CONCURRENT_USERS = (1, 10, 100)
# Messages per concurrency level: enough for a stable p99 at one user, short at 100.
QUICK_MESSAGES = 200
FULL_MESSAGES = 1000
# An answer of about 50 words, streamed a word at a time like a real model.
ANSWER = " ".join(["The quick brown fox jumps over the lazy dog."] * 5)
QUESTION = "Tell me something about foxes and dogs, please."
# Telegram's limit and edit spacing: the reply renders as the bot would render it.
MESSAGE_LIMIT = 4096
EDIT_INTERVAL_SECONDS = 1.0


class InstantChatModel(BaseChatModel):
    """Streams a fixed answer word by word at once: the core's cost without a model's."""

    @property
    def _llm_type(self) -> str:
        return "instant"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(ANSWER))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in ANSWER.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


class NullMessenger:
    """The platform edge: accepts every send and edit at once, with Telegram's limit."""

    limit = MESSAGE_LIMIT
    edit_interval_seconds = EDIT_INTERVAL_SECONDS
    typing_interval_seconds = 4.0
    streaming_cursor = " ▌"

    def measure(self, text: str, *, is_formatted: bool) -> int:
        return len(text)

    async def send(self, text: str, *, is_formatted: bool) -> object:
        return object()

    async def edit(self, handle: object, text: str, *, is_formatted: bool) -> None:
        return None

    async def send_file(self, file_name: str, data: bytes) -> None:
        return None

    async def show_typing(self) -> None:
        return None

    def reference(self, handle: object) -> str:
        return "0:0"

    def message_at(self, reference: str) -> object | None:
        return None


@dataclass(frozen=True)
class Row:
    """One path at one concurrency."""

    scenario: str
    path: str
    users: int
    messages: int
    messages_per_second: float
    p50_ms: float
    p99_ms: float


def incoming(user: int, serial: int) -> Incoming:
    """A private terminal-chat message from bench user `user`."""
    identity = Identity(Platform.CONSOLE, f"bench{user}")
    return Incoming(
        user=identity,
        chat=ChatRef(Platform.CONSOLE, identity.id, is_private=True),
        text=QUESTION,
        delivery_id=f"bench:{user}:{serial}:{time.monotonic_ns()}",
    )


async def timed(
    users: int, per_user: int, one: Callable[[int, int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run `users` concurrent senders of `per_user` messages each; wall time and latencies."""
    latencies: list[float] = []

    async def sender(user: int) -> None:
        for serial in range(per_user):
            started = time.perf_counter()
            await one(user, serial)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(sender(user) for user in range(users)))
    return time.perf_counter() - started, latencies


def row(scenario: str, path: str, users: int, wall: float, latencies: list[float]) -> Row:
    return Row(
        scenario=scenario,
        path=path,
        users=users,
        messages=len(latencies),
        messages_per_second=len(latencies) / wall,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
    )


class RawPath:
    """The Redis and Postgres round trips of one chat-only message, made directly."""

    def __init__(self, redis: Redis, pool: AsyncConnectionPool) -> None:
        self.redis = redis
        self.pool = pool

    async def __call__(self, user: int, serial: int) -> None:
        key = f"raw:{user}"
        identity = f"cli:raw{user}"
        await self.redis.set(f"{key}:delivered:{serial}", 1, nx=True, ex=60)  # redelivery
        await self.redis.eval("return 0", 0)  # the rate limit's token bucket script
        async with self.redis.pipeline(transaction=True) as pipe:  # memory read
            pipe.lrange(f"{key}:turns", 0, -1)
            pipe.get(f"{key}:summary")
            pipe.llen(f"{key}:pending")
            await pipe.execute()
        async with self.redis.pipeline(transaction=True) as pipe:  # memory write
            await pipe.watch(f"{key}:turns")
            await pipe.lrange(f"{key}:turns", 0, -1)
            pipe.multi()
            pipe.incrby(f"{key}:pending_tokens", 0)
            pipe.rpush(f"{key}:turns", QUESTION, ANSWER)
            pipe.ltrim(f"{key}:turns", -20, -1)
            for part in ("turns", "summary", "pending", "pending_tokens"):
                pipe.expire(f"{key}:{part}", 60)
            await pipe.execute()
        await self.redis.set(f"{key}:sources", "[]", ex=60)
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO users (identity, platform, display_name, role) "
                "VALUES (%s, 'cli', '', 'user') ON CONFLICT (identity) DO UPDATE "
                "SET last_seen_at = now() RETURNING identity, role, "
                "(SELECT person FROM people_links WHERE identity = users.identity)",
                (identity,),
            )
        await self.redis.get(f"{key}:agent")  # the conversation's agent mode
        async with self.pool.connection() as conn:
            await conn.execute(
                "SELECT id FROM documents WHERE scope = %s AND status = 'ready'", (identity,)
            )
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO usage_counters (identity, day, messages) "
                "VALUES (%s, current_date, 1) ON CONFLICT (identity, day) "
                "DO UPDATE SET messages = usage_counters.messages + 1",
                (identity,),
            )


def core_path(service: ChatService) -> Callable[[int, int], Awaitable[None]]:
    """One message through the core and the delivery layer."""

    async def one(user: int, serial: int) -> None:
        await deliver_events(service.handle(incoming(user, serial)), NullMessenger())

    return one


async def fill_memory(service: ChatService, users: int) -> None:
    """Bring every conversation up to its memory budget, so each new answer trims."""
    for user in range(users):
        key = incoming(user, 0).conversation_key
        while not (await service.deps.memory.load(key)).pending_count:
            await core_path(service)(user, -1)


def settings_for(database_url: str, redis_url: str) -> Settings:
    """Defaults, except a rate limit no bench user reaches (each sends many messages a
    minute); the limit's script still runs on every message, as in production."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        redis_url=redis_url,
        llm_provider=Provider.OPENAI_COMPATIBLE,
        llm_base_url="http://127.0.0.1:9/v1",
        rate_limit_per_minute=1_000_000,
        max_concurrent_answers=max(CONCURRENT_USERS),
        database_pool_size=10,
    )


async def measure(database_url: str, redis_url: str) -> list[Row]:
    settings = settings_for(database_url, redis_url)
    total = FULL_MESSAGES if is_full() else QUICK_MESSAGES
    rows: list[Row] = []
    async with core_and_jobs(settings) as (deps, _job_app):
        deps.models = ModelRegistry(settings, lambda _settings, _name: InstantChatModel())
        service = ChatService(deps)
        raw = RawPath(deps.redis, deps.pool)
        core = core_path(service)
        await timed(2, 5, raw)
        await timed(2, 5, core)  # warm-up: pools filled, code paths compiled
        for users in CONCURRENT_USERS:
            per_user = max(1, total // users)
            for path, one in (("raw round trips", raw), ("core", core)):
                await deps.redis.flushdb()
                rows.append(row("fresh", path, users, *await timed(users, per_user, one)))
        users = 10
        await deps.redis.flushdb()
        await fill_memory(service, users)
        rows.append(row("memory full", "core", users, *await timed(users, total // users, core)))
        jobs = await summary_jobs(deps.pool)
    print(f"summary jobs queued in the run: {jobs}")
    return rows


async def summary_jobs(pool: AsyncConnectionPool) -> int:
    """Summary jobs the run queued: with batched folding far fewer than answers."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name LIKE %s", ("%summar%",)
        )
        found = await cur.fetchone()
    return int(found[0]) if found else 0


def run() -> Iterator[Row]:
    with services() as (admin_url, redis_url), scratch_database(admin_url) as url:
        yield from asyncio.run(measure(url, redis_url))


def main() -> None:
    """Measure, print and save."""
    info = machine()
    rows = list(run())
    print_machine(info)
    print(f"instant model, {len(ANSWER.split())}-word answers streamed a word at a time\n")
    print_table(
        ["scenario", "path", "users", "messages", "msg/s", "p50 ms", "p99 ms"],
        [
            (r.scenario, r.path, r.users, r.messages, r.messages_per_second, r.p50_ms, r.p99_ms)
            for r in rows
        ],
    )
    write_results("chat_core", {"rows": [asdict(r) for r in rows]})


if __name__ == "__main__":
    main()
