"""LLM_PROVIDER=auto: OpenAI key, else a local Ollama that answers, else the embedded model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.settings import Provider, Settings
from launcher.providers import provider_env, resolve_provider


class _OllamaTags(BaseHTTPRequestHandler):
    """Answers /api/tags like an Ollama server with two pulled models."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.dumps({"models": [{"name": "qwen2.5:0.5b"}, {"name": "llama3.2:latest"}]})
        self.send_response(200 if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ollama_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _OllamaTags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def auto(**extra: object) -> Settings:
    return Settings(_env_file=None, llm_provider="auto", **extra)  # type: ignore[call-arg]


def test_openai_key_wins() -> None:
    resolved, description = resolve_provider(auto(openai_api_key="sk-x"))
    assert resolved is not None and resolved.llm_provider is Provider.OPENAI
    assert "OpenAI" in description


def test_ollama_that_answers_is_used_with_its_first_model(ollama_url: str) -> None:
    resolved, description = resolve_provider(auto(ollama_base_url=ollama_url))
    assert resolved is not None and resolved.llm_provider is Provider.OLLAMA
    assert resolved.llm_model == "qwen2.5:0.5b"
    assert ollama_url in description


def test_ollama_keeps_a_configured_model_it_has(ollama_url: str) -> None:
    resolved, _ = resolve_provider(auto(ollama_base_url=ollama_url, llm_model="llama3.2:latest"))
    assert resolved is not None and resolved.llm_model == "llama3.2:latest"


def test_nothing_reachable_falls_back_to_the_embedded_model() -> None:
    resolved, description = resolve_provider(auto(ollama_base_url="http://127.0.0.1:9"))
    assert resolved is None
    assert "embedded" in description


def test_an_explicit_provider_is_kept_and_passed_to_children() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_provider="openai_compatible",
        llm_base_url="http://vllm:8000/v1",
        llm_model="mistral",
    )
    resolved, _ = resolve_provider(settings)
    assert resolved is settings
    assert provider_env(settings) == {
        "LLM_PROVIDER": "openai_compatible",
        "LLM_MODEL": "mistral",
        "LLM_BASE_URL": "http://vllm:8000/v1",
    }
