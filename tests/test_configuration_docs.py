"""Every setting reaches the containers and is documented: a new key cannot be forgotten."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Compose points these at its own services, fixes where /healthz is for its healthchecks,
# and where the web page listens in its network.
SET_BY_COMPOSE = {
    "DATABASE_URL",
    "REDIS_URL",
    "DATA_DIR",
    "OLLAMA_BASE_URL",
    "METRICS_PORT",
    "METRICS_HOST",
    "WEB_HOST",
}
KEYS = {name.upper() for name in Settings.model_fields}


def test_compose_passes_every_setting_to_the_app() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-app"]["environment"]
    assert set(environment) == KEYS
    for key in KEYS - SET_BY_COMPOSE:
        assert environment[key] == f"${{{key}:-}}", key


def test_env_example_and_readme_document_every_setting() -> None:
    example = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    readme = (ROOT / "README.md").read_text()
    assert example == KEYS
    assert [key for key in sorted(KEYS) if f"`{key}`" not in readme] == []
