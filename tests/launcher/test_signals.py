"""SIGTERM, what `docker compose stop` and systemd send, stops a process cleanly.

Real processes on the real services: with no provider configured they start the embedded
model in a child process, as a fresh machine does, and must not leave it behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from launcher.services import free_port

TOKEN = "4242:TEST-TOKEN"
BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Test Bot", "username": "test_bot"}
# Left out of the environment, so LLM_PROVIDER=auto falls back to the embedded model.
PROVIDER_KEYS = ("OPENAI_API_KEY", "LLM_PROVIDER", "LLM_BASE_URL", "LLM_MODEL")
EXIT_TIMEOUT_SECONDS = 60
ORPHAN_TIMEOUT_SECONDS = 30


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc: the tests run on Linux)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may contain spaces; the fields after it do not.
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue  # gone while we looked
        if int(parent) == pid and state != "Z":
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class FakeTelegramApi(BaseHTTPRequestHandler):
    """Just enough of the Bot API for a bot to start polling: the platform edge is faked."""

    def do_POST(self) -> None:
        method = self.path.rsplit("/", 1)[-1]
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if method == "getUpdates":
            time.sleep(0.5)  # a long poll that found nothing
        result = {"getMe": BOT_USER, "getUpdates": []}.get(method, True)
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def telegram_api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTelegramApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/bot"
    server.shutdown()
    server.server_close()


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def start(
    own_database_url: str,
    redis_url: str,
    telegram_api_url: str,
    metrics_port: int,
    tmp_path: Path,
) -> Iterator[Callable[[list[str], str | None], subprocess.Popen[str]]]:
    """`start(args, ready_line)`: run `assistant ARGS` with no model provider configured (so
    it starts the embedded model in a child process) until it logs `ready_line`."""
    started: list[subprocess.Popen[str]] = []
    env = {key: value for key, value in os.environ.items() if key not in PROVIDER_KEYS}
    env |= {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": own_database_url,
        "REDIS_URL": redis_url,
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "INFO",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_api_url,
        # Served until the end, so a clean stop includes the /metrics and /healthz server.
        "METRICS_PORT": str(metrics_port),
        "WEB_PORT": str(free_port()),
        # The model process as the launcher's child, stopping with it; `assistant run`
        # keeping it for the next run is tested in test_model_server.py.
        "MODEL_SERVER_KEEP": "false",
    }

    def run(args: list[str], ready_line: str | None) -> subprocess.Popen[str]:
        """`ready_line` None: talk to it through its stdin and stdout, kept open."""
        is_talked_to = ready_line is None
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher", *args],
            stdin=subprocess.PIPE if is_talked_to else subprocess.DEVNULL,
            stdout=subprocess.PIPE if is_talked_to else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        started.append(process)
        if ready_line is None:
            return process
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if ready_line in line:
                return process
        pytest.fail(f"assistant {' '.join(args)} ended before it was ready:\n" + "".join(seen))

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("args", "ready_line"),
    [
        (["run", "telegram"], "Telegram bot @"),
        (["run", "web"], "Uvicorn running on"),
        # Its own queue: a job another test left behind is not this process's business.
        (["worker", "--queue", "signal-test"], "Starting worker"),
    ],
    ids=["run", "run-web", "worker"],
)
def test_sigterm_stops_cleanly_and_takes_the_model_process_along(
    start: Callable[[list[str], str | None], subprocess.Popen[str]],
    args: list[str],
    ready_line: str,
    metrics_port: int,
) -> None:
    process = start(args, ready_line)
    (model,) = child_pids(process.pid)
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10) as health:
        assert health.status == 200

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=EXIT_TIMEOUT_SECONDS)

    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Stopped worker" in stderr  # the job worker stopped gracefully
    assert not is_running(model), "the model process outlived its parent"


def test_the_model_process_stops_when_its_parent_is_killed(
    start: Callable[[list[str], str | None], subprocess.Popen[str]],
) -> None:
    process = start(["worker", "--queue", "signal-test"], "Starting worker")
    (model,) = child_pids(process.pid)

    process.kill()  # SIGKILL: no clean-up runs in the parent
    process.wait()

    # The model process notices it lost its parent; wait for that, not for a duration.
    deadline = time.monotonic() + ORPHAN_TIMEOUT_SECONDS
    while is_running(model) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_running(model), "the model process was orphaned"


def test_sigterm_stops_a_terminal_chat_waiting_for_input(
    start: Callable[[list[str], str | None], subprocess.Popen[str]],
) -> None:
    process = start(["console"], None)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("/help\n")
    process.stdin.flush()
    assert process.stdout.readline().strip(), "the chat answered: it is up"
    (model,) = child_pids(process.pid)

    process.send_signal(signal.SIGTERM)  # its input stays open: nobody types, nobody closes it
    process.wait(timeout=EXIT_TIMEOUT_SECONDS)

    assert process.returncode == 0
    assert not is_running(model), "the model process outlived its parent"
