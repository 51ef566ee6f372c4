"""`assistant run`: the fresh-machine main job.

Starts local Postgres and Redis (data kept under DATA_DIR between runs) unless
DATABASE_URL / REDIS_URL are set, migrates, picks a model (starting the embedded model
service if needed and leaving it running for the next run, unless MODEL_SERVER_KEEP is
false), then runs the bots whose tokens are set, or the terminal chat, with a job worker
in the same process.
"""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor

from core.settings import Settings
from launcher.providers import provider_ready
from launcher.services import RedisServer, start_postgres

LOCAL_REDIS_PORT = 6390


def run(settings: Settings, *, target: str | None, user: str) -> None:
    """Bring everything up, run the chosen front end, and tear down what we started."""
    with ThreadPoolExecutor(max_workers=1) as background:
        # Services, migrations and the heavy imports proceed while the model loads.
        prepared = background.submit(prepare_data, settings)
        with provider_ready(settings, keep=settings.model_server_keep) as resolved:
            resolved = resolved.model_copy(update=prepared.result())
            from launcher.frontends import run_frontend

            chosen = target or default_target(resolved)
            asyncio.run(run_frontend(resolved, target=chosen, user=user, with_worker=True))


def prepare_data(settings: Settings) -> dict[str, str]:
    """Start the local services that are not configured and migrate; return their URLs."""
    from launcher.migrate import migrate

    urls: dict[str, str] = {}
    if "database_url" not in settings.model_fields_set:
        urls["database_url"] = start_postgres(settings.data_dir / "postgres", on_exit="keep")
    if "redis_url" not in settings.model_fields_set:
        redis = RedisServer(settings.data_dir.resolve() / "redis", LOCAL_REDIS_PORT)
        redis.start()
        urls["redis_url"] = redis.url
    migrate(settings.model_copy(update=urls))
    # Import the chat stack here, off the main thread, while the model is still loading.
    importlib.import_module("launcher.frontends")
    return urls


def default_target(settings: Settings) -> str:
    """The bots whose tokens are set, or the terminal chat when none is."""
    if settings.telegram_bot_token and settings.discord_bot_token:
        return "bots"
    if settings.telegram_bot_token:
        return "telegram"
    if settings.discord_bot_token:
        return "discord"
    return "console"
