"""Everything the core needs at run time, opened once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core.agent.mcp import McpTools
from core.agent.trace import TraceStore
from core.db import check_if_dropped, connect_options, require_schema
from core.jobs import JobQueue
from core.knowledge.base import KnowledgeBase
from core.knowledge.documents import DocumentStore
from core.knowledge.embeddings import build_embeddings, embeddings_model_name
from core.knowledge.index import ChunkIndex
from core.limits import Limits
from core.llm import build_chat_model, default_model
from core.media.transcripts import MediaTranscriber, TranscriptStore
from core.memory import ConversationMemory
from core.outbox import Outbox
from core.people import People
from core.settings import Settings
from core.users import UserStore
from core.web_access import WebAccess

ModelFactory = Callable[[Settings, str], BaseChatModel]


@dataclass
class ModelRegistry:
    """Builds each named chat model once and hands out the cached instance."""

    settings: Settings
    factory: ModelFactory = build_chat_model
    _cache: dict[str, BaseChatModel] = field(default_factory=dict)

    @property
    def default(self) -> str:
        return default_model(self.settings)

    def choices(self) -> list[str]:
        return self.settings.model_choices() or [self.default]

    def resolve(self, name: str | None = None) -> str:
        """The model a user's choice means: it, if still offered, else the default."""
        return name if name in self.choices() else self.default

    def get(self, name: str | None = None) -> BaseChatModel:
        key = self.resolve(name)
        if key not in self._cache:
            self._cache[key] = self.factory(self.settings, key)
        return self._cache[key]


@dataclass
class CoreDeps:
    """The core's resources; adapters and workers receive one of these."""

    settings: Settings
    redis: Redis
    pool: AsyncConnectionPool
    memory: ConversationMemory
    users: UserStore
    models: ModelRegistry
    outbox: Outbox
    jobs: JobQueue
    knowledge: KnowledgeBase
    limits: Limits
    people: People
    traces: TraceStore
    mcp: McpTools
    web_access: WebAccess
    # Model calls this process makes at once; more questions wait their turn.
    answer_slots: asyncio.Semaphore


@asynccontextmanager
async def open_core(
    settings: Settings,
    *,
    jobs: JobQueue,
    model_factory: ModelFactory = build_chat_model,
    embeddings: Embeddings | None = None,
) -> AsyncIterator[CoreDeps]:
    """Open Redis, the Postgres pool and the vector index for the lifetime of a process.

    Whatever opened before a step that fails is closed again, so a failed start-up
    leaves no connection behind.
    """
    # One direct connection first: a dead or misconfigured server fails fast and plainly
    # here, instead of after the pool's retry window.
    options = connect_options(prepared_statements=settings.database_prepared_statements)
    await (await AsyncConnection.connect(settings.database_url, connect_timeout=10)).close()
    async with AsyncExitStack() as opened:
        redis = Redis.from_url(settings.redis_url)
        opened.push_async_callback(redis.aclose)
        await redis.ping()
        # The one psycopg pool of the process: the job engine shares it (workers.app).
        # `check` replaces connections the server dropped (restarts, idle timeouts).
        pool = AsyncConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=settings.database_pool_size,
            check=check_if_dropped,
            kwargs=options,
            open=False,
        )
        opened.push_async_callback(pool.close)
        await pool.open(wait=True, timeout=30)
        await require_schema(pool)
        index = ChunkIndex(
            pool,
            settings.database_url,
            embeddings or build_embeddings(settings),
            embeddings_model_name(settings),
            pool_size=settings.database_pool_size,
            connect_args=options,
        )
        opened.push_async_callback(index.close)
        outbox = Outbox(redis)
        users = UserStore(pool, admin_ids=settings.admin_ids)
        yield CoreDeps(
            settings=settings,
            redis=redis,
            pool=pool,
            memory=ConversationMemory(
                redis,
                token_budget=settings.memory_token_budget,
                strategy=settings.memory_strategy,
                ttl_seconds=settings.memory_ttl_seconds,
            ),
            users=users,
            models=ModelRegistry(settings, model_factory),
            outbox=outbox,
            jobs=jobs,
            knowledge=KnowledgeBase(
                settings,
                DocumentStore(pool, settings.database_url),
                index,
                outbox,
                jobs,
                redis,
                MediaTranscriber(settings, TranscriptStore(pool)),
            ),
            limits=Limits(settings, redis, pool, users),
            people=People(pool, redis),
            traces=TraceStore(redis, ttl_seconds=settings.memory_ttl_seconds),
            mcp=McpTools(settings),
            web_access=WebAccess(redis, session_ttl_seconds=settings.web_session_ttl_seconds),
            answer_slots=asyncio.Semaphore(settings.max_concurrent_answers),
        )
