"""The terminal chat as a user runs it: a piped process, the embedded model, real services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from launcher.local_model import start_local_model, stop_child

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def local_model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded SmolLM2 model behind llama.cpp's server, started as `scripts/run` does."""
    settings = Settings(_env_file=None, llm_max_output_tokens=48)  # type: ignore[call-arg]
    process, resolved = start_local_model(settings, tmp_path_factory.mktemp("logs") / "model.log")
    yield resolved.llm_base_url
    stop_child(process)


def console(
    user: str, stdin: str, *, database_url: str, redis_url: str, model_url: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LLM_PROVIDER": "openai_compatible",
        "LLM_BASE_URL": model_url,
        "LLM_MAX_OUTPUT_TOKENS": "48",
        "DATA_DIR": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "launcher", "console", "--user", user],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no developer .env
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )


def test_piped_chat_remembers_across_processes_and_users_stay_apart(
    database_url: str, redis_url: str, local_model_url: str, tmp_path: Path
) -> None:
    services = {"database_url": database_url, "redis_url": redis_url, "model_url": local_model_url}
    first = console(
        "ana-cli", "Olá, meu nome é Ana e eu moro em Recife.\n", tmp_path=tmp_path, **services
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip(), "the local model gave no answer"

    again = console("ana-cli", "/history\n", tmp_path=tmp_path, **services)
    assert again.returncode == 0, again.stderr
    assert "Olá, meu nome é Ana e eu moro em Recife." in again.stdout
    assert again.stdout.startswith("O que eu lembro desta conversa (2 mensagens")

    other = console("bia-cli", "/history\n", tmp_path=tmp_path, **services)
    assert other.returncode == 0, other.stderr
    assert "Recife" not in other.stdout
    assert "I don't remember anything" in other.stdout


def test_the_local_model_answers_a_question(
    database_url: str, redis_url: str, local_model_url: str, tmp_path: Path
) -> None:
    result = console(
        "quiz-cli",
        "What is the capital of France?\n/reset\n",
        database_url=database_url,
        redis_url=redis_url,
        model_url=local_model_url,
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    answer, reset = result.stdout.strip().rsplit("\n", 1)
    assert len(answer.split()) >= 2
    assert "can't reach" not in answer and "went wrong" not in answer
    assert reset == "Done: I forgot this conversation."


def test_bad_configuration_stops_with_the_key_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "launcher", "console"],
        capture_output=True,
        text=True,
        env={**os.environ, "MEMORY_STRATEGY": "forget"},
        cwd=tmp_path,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "MEMORY_STRATEGY: Input should be 'trim' or 'summary'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_reported_plainly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "launcher", "console"],
        input="hi\n",
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2",
            "LLM_PROVIDER": "openai_compatible",
            "LLM_BASE_URL": "http://127.0.0.1:9/v1",
        },
        cwd=tmp_path,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "Cannot reach Postgres (DATABASE_URL)" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_redis_is_reported_plainly(database_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "launcher", "console"],
        input="hi\n",
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "LLM_PROVIDER": "openai_compatible",
            "LLM_BASE_URL": "http://127.0.0.1:9/v1",
        },
        cwd=tmp_path,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "Cannot reach Redis (REDIS_URL)" in result.stderr
    assert "Traceback" not in result.stderr
