"""Real Postgres (with pgvector) and Redis for the whole suite, started here when needed.

Set TEST_DATABASE_URL / TEST_REDIS_URL to use servers that already run; otherwise an
embedded Postgres and a Debian redis-server start on free loopback ports in a temp dir.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from redis.asyncio import Redis

from core.deps import CoreDeps, open_core
from core.knowledge.embeddings import MINILM_MODEL_NAME, LocalMiniLMEmbeddings
from core.service import ChatService
from core.settings import Settings
from launcher.migrate import migrate
from launcher.services import RedisServer, free_port, start_postgres
from tests.fakes import EchoChatModel
from workers.app import app as job_app
from workers.app import connected
from workers.queue import ProcrastinateJobs


@pytest.fixture(scope="session")
def services_dir() -> Path:
    """Our own temp dir: pytest prunes its basetemp dirs, which breaks parallel sessions,
    and the embedded Postgres runs as another user that must be able to enter it."""
    path = Path(tempfile.mkdtemp(prefix="assistant-test-"))
    path.chmod(0o755)
    # atexit runs last-registered first: the embedded Postgres (registered later) stops
    # and deletes its data before this removes the folder.
    atexit.register(shutil.rmtree, path, True)
    return path


@pytest.fixture(scope="session")
def database_url(services_dir: Path) -> Iterator[str]:
    """A fresh, migrated database for this test session."""
    admin_url = os.environ.get("TEST_DATABASE_URL") or start_postgres(
        services_dir / "pg", on_exit="delete"
    )
    with scratch_database(admin_url) as url:
        yield url


@contextmanager
def scratch_database(server_url: str, *, is_migrated: bool = True) -> Iterator[str]:
    """A new database on the server of `server_url`, dropped afterwards; its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        if is_migrated:
            migrate(Settings(database_url=url))
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_database(url: str, name: str) -> str:
    """Swap the database name in a postgresql:// URL, keeping its query (socket host)."""
    base, _, query = url.partition("?")
    scheme_host, _, _old = base.rpartition("/")
    return f"{scheme_host}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[RedisServer | None]:
    """A Redis we own (and may restart), or None when TEST_REDIS_URL points elsewhere."""
    if os.environ.get("TEST_REDIS_URL"):
        yield None
        return
    server = RedisServer(services_dir / "redis", free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | None) -> str:
    return os.environ.get("TEST_REDIS_URL") or redis_server.url  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DATA_DIR for the suite (the Whisper model is assembled there once)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def settings(database_url: str, redis_url: str, data_dir: Path) -> Settings:
    """Settings for a resolved provider whose model the tests replace."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=redis_url,
        llm_provider="openai_compatible",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="echo",
        llm_models=["echo", "echo-large"],
        memory_token_budget=200,
        admin_ids=["tg:1"],
        data_dir=data_dir,
        # Named after the session embeddings below, so the index records what made its vectors.
        embeddings_model=MINILM_MODEL_NAME,
    )


@pytest.fixture
def chat_model() -> EchoChatModel:
    return EchoChatModel()


@pytest.fixture(scope="session")
def embeddings() -> LocalMiniLMEmbeddings:
    """The real offline MiniLM, loaded once: several times faster than the e5 default."""
    return LocalMiniLMEmbeddings()


@pytest.fixture
async def deps(
    settings: Settings, chat_model: EchoChatModel, embeddings: LocalMiniLMEmbeddings
) -> AsyncIterator[CoreDeps]:
    """Core resources on the real services, with the echo model at the model boundary."""
    async with (
        open_core(
            settings,
            jobs=ProcrastinateJobs(job_app),
            model_factory=lambda _s, _name: chat_model,
            embeddings=embeddings,
        ) as core,
        connected(core.pool),
    ):
        await core.redis.flushdb()
        async with core.pool.connection() as conn:
            await conn.execute(
                "TRUNCATE users, usage_counters, procrastinate_jobs, documents, transcripts, "
                "people_links CASCADE"
            )
        core.job_app = job_app  # type: ignore[attr-defined]
        yield core


@pytest.fixture
def service(deps: CoreDeps) -> ChatService:
    return ChatService(deps)


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
