"""The embedded model service for machines without a provider: started by the launcher.

`assistant serve-model` runs in its own process, so a crash there never takes a bot
down. One service serves a deployment: `assistant run` leaves it running between runs
(MODEL_SERVER_KEEP, as it leaves local Postgres) and records it in
DATA_DIR/model/server.json; every later process (a run, a bot, `assistant worker`) with
the same DATA_DIR and model finds it healthy there and uses it instead of starting a
second copy. Without one to reuse, a process that is not asked to keep one starts a
child that stops with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from core.settings import Provider, Settings
from launcher.model_server import served_name, stop_child
from launcher.services import StartupError, free_port

logger = logging.getLogger(__name__)

# Loading a GGUF takes seconds; dequantising one for transformers the first time, a minute
# or two on two cores.
START_TIMEOUT_SECONDS = 300.0
HEALTH_TIMEOUT_SECONDS = 1.0
# A 135M model rambles when left to run: keep its answers short (about 10 tokens/s on two
# cores).
LOCAL_MAX_OUTPUT_TOKENS = 256


def _record_path(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "model" / "server.json"


def _identity(settings: Settings) -> dict[str, str]:
    """What a running service must match to be reused."""
    return {
        "backend": settings.model_server_backend.value,
        "model": str(settings.local_model_path or ""),
        "device": settings.model_server_device.value,
        "quantisation": settings.model_server_quantisation.value,
    }


def _is_healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=HEALTH_TIMEOUT_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kept_model(settings: Settings) -> dict[str, object] | None:
    """The recorded model service of this DATA_DIR, if it runs, answers and matches."""
    path = _record_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid, port = record.get("pid"), record.get("port")
    if not isinstance(pid, int) or not isinstance(port, int):
        return None
    if record.get("identity") != _identity(settings) or not _is_alive(pid):
        return None
    if not _is_healthy(f"http://127.0.0.1:{port}"):
        return None
    return record


def stop_kept_model(settings: Settings) -> bool:
    """Stop the recorded model service of this DATA_DIR; whether one was running."""
    path = _record_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    path.unlink(missing_ok=True)
    pid = record.get("pid")
    if not isinstance(pid, int) or not _is_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while _is_alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    """One process at a time decides whether to start the service (bots and a worker
    starting together must not start two)."""
    folder = _record_path(settings).parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_local_model(
    settings: Settings, log_path: Path, *, keep: bool = False
) -> tuple[subprocess.Popen[bytes] | None, Settings]:
    """Use this deployment's model service, starting one if none runs.

    Returns the child to stop at exit (None when the service outlives us: reused, or
    started to be kept) and settings that use the service.
    """
    with _lock(settings):
        record = kept_model(settings)
        if record is not None:
            logger.info("reusing the model service on port %s", record["port"])
            return None, _using(settings, f"http://127.0.0.1:{record['port']}")
        if keep:
            # One kept service per DATA_DIR: a hung one, or one serving another model or
            # backend, is stopped rather than left running untracked.
            stop_kept_model(settings)
        process, base_url = _start(settings, log_path, keep=keep)
        if keep:
            _record_path(settings).write_text(
                json.dumps(
                    {
                        "pid": process.pid,
                        "port": int(base_url.rsplit(":", 1)[1]),
                        "identity": _identity(settings),
                    }
                )
            )
            return None, _using(settings, base_url)
        return process, _using(settings, base_url)


def _start(
    settings: Settings, log_path: Path, *, keep: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "launcher", "serve-model", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if not keep:
        command.append("--stop-with-parent")
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            # A kept service is not part of the terminal's job: Ctrl+C there stops the
            # chat, not the model the next run will reuse.
            start_new_session=keep,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, log_path)
    except BaseException:  # also Ctrl+C or SIGTERM while it loads: leave no orphan
        stop_child(process)
        raise
    return process, base_url


def _using(settings: Settings, base_url: str) -> Settings:
    max_tokens = settings.llm_max_output_tokens
    if "llm_max_output_tokens" not in settings.model_fields_set:
        max_tokens = min(max_tokens, LOCAL_MAX_OUTPUT_TOKENS)
    return settings.model_copy(
        update={
            "llm_provider": Provider.OPENAI_COMPATIBLE,
            "llm_base_url": f"{base_url}/v1",
            "llm_model": settings.llm_model or served_name(settings),
            "llm_max_output_tokens": max_tokens,
        }
    )


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"the local model process exited; see {log_path}")
        if _is_healthy(base_url):
            return
        time.sleep(0.2)
    raise StartupError(
        f"the local model did not start in {START_TIMEOUT_SECONDS:.0f}s; see {log_path}"
    )
