"""`assistant run`: the fresh-machine main job.

Starts local Postgres and Redis (data kept under DATA_DIR between runs) unless
DATABASE_URL / REDIS_URL are set, migrates, picks a model (starting the embedded one if
needed), starts a worker, then the bots whose tokens are set, or the terminal chat.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from core.settings import Settings
from launcher.migrate import migrate
from launcher.providers import provider_env
from launcher.services import RedisServer, start_postgres
from launcher.wiring import provider_ready, stop_child

LOCAL_REDIS_PORT = 6390


def start_local_services(settings: Settings) -> dict[str, str]:
    """Start what is not configured; return the env that points at it."""
    env: dict[str, str] = {}
    if "database_url" not in settings.model_fields_set:
        env["DATABASE_URL"] = start_postgres(settings.data_dir / "postgres", on_exit="keep")
    if "redis_url" not in settings.model_fields_set:
        redis = RedisServer(settings.data_dir.resolve() / "redis", LOCAL_REDIS_PORT)
        redis.start()
        env["REDIS_URL"] = redis.url
    return env


def spawn_worker(settings: Settings, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The job worker, in its own process, logging to DATA_DIR/logs/worker.log."""
    log_path = settings.data_dir / "logs" / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "launcher", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )


def run(settings: Settings, *, target: str | None, user: str) -> None:
    """Bring everything up, run the chosen front end, and tear down what we started."""
    from launcher.cli import run_frontend

    env = start_local_services(settings)
    settings = settings.model_copy(update={key.lower(): value for key, value in env.items()})
    migrate(settings)
    with provider_ready(settings) as settings:
        env.update(provider_env(settings))
        worker = spawn_worker(settings, env)
        try:
            asyncio.run(run_frontend(settings, target=target or default_target(settings), user=user))
        finally:
            stop_child(worker)


def default_target(settings: Settings) -> str:
    """The bots whose tokens are set, or the terminal chat when none is."""
    if settings.telegram_bot_token and settings.discord_bot_token:
        return "bots"
    if settings.telegram_bot_token:
        return "telegram"
    if settings.discord_bot_token:
        return "discord"
    return "console"
