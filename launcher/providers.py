"""Pick the model provider when LLM_PROVIDER=auto: OpenAI key, else local Ollama, else embedded."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from core.settings import Provider, Settings
from launcher.local_model import start_local_model
from launcher.model_server import stop_child

logger = logging.getLogger(__name__)

OLLAMA_PROBE_TIMEOUT_SECONDS = 1.5


def ollama_models(base_url: str) -> list[str]:
    """Models an Ollama server has pulled, or [] when none answers there."""
    try:
        response = httpx.get(
            f"{base_url.rstrip('/')}/api/tags", timeout=OLLAMA_PROBE_TIMEOUT_SECONDS
        )
        response.raise_for_status()
        return [model["name"] for model in response.json().get("models", [])]
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def resolve_provider(settings: Settings) -> tuple[Settings | None, str]:
    """Settings with a concrete provider, or None when only the embedded model is left.

    Also returns a one-line description of the choice for the user.
    """
    if settings.llm_provider is not Provider.AUTO:
        return settings, f"{settings.llm_provider.value} ({settings.llm_model or 'default model'})"
    if settings.openai_api_key:
        chosen = settings.model_copy(update={"llm_provider": Provider.OPENAI})
        return chosen, "OpenAI (OPENAI_API_KEY is set)"
    models = ollama_models(settings.ollama_base_url)
    if models:
        model = settings.llm_model if settings.llm_model in models else models[0]
        chosen = settings.model_copy(update={"llm_provider": Provider.OLLAMA, "llm_model": model})
        return chosen, f"Ollama at {settings.ollama_base_url} ({model})"
    return None, "the embedded local model (no OPENAI_API_KEY, no Ollama on localhost)"


def provider_env(settings: Settings) -> dict[str, str]:
    """Environment that makes child processes use the same resolved provider."""
    env = {"LLM_PROVIDER": settings.llm_provider.value}
    if settings.llm_model:
        env["LLM_MODEL"] = settings.llm_model
    if settings.llm_base_url:
        env["LLM_BASE_URL"] = settings.llm_base_url
    return env


@contextmanager
def provider_ready(settings: Settings, *, keep: bool = False) -> Iterator[Settings]:
    """Resolve LLM_PROVIDER=auto, using the deployment's embedded model service if nothing
    else answers: the one already running for this DATA_DIR, else a new one, which stops
    at exit unless `keep` (then the next process reuses it)."""
    resolved, description = resolve_provider(settings)
    if resolved is not None:
        print(f"Model: {description}", file=sys.stderr)
        yield resolved
        return
    print(f"Model: {description}…", file=sys.stderr)
    process, resolved = start_local_model(
        settings, settings.data_dir / "logs" / "model.log", keep=keep
    )
    try:
        yield resolved
    finally:
        if process is not None:
            stop_child(process)
