"""The terminal chat as a user runs it: a piped process, the embedded model, real services."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings
from launcher.cli import postgres_problem
from launcher.local_model import start_local_model
from launcher.model_server import stop_child

PROCESS_TIMEOUT_SECONDS = 120
UNREACHABLE = "http://127.0.0.1:9/v1"


@pytest.fixture(scope="module")
def local_model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded SmolLM2 model behind llama.cpp's server, started as `scripts/run` does."""
    data_dir = tmp_path_factory.mktemp("model-data")
    settings = Settings(_env_file=None, llm_max_output_tokens=48, data_dir=data_dir)  # type: ignore[call-arg]
    process, resolved = start_local_model(settings, data_dir / "model.log")
    assert process is not None, "a child of the test, not a service kept by someone else"
    yield resolved.llm_base_url
    stop_child(process)


def assistant(
    *args: str, stdin: str = "", cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the `assistant` CLI with extra environment, from a folder with no .env."""
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "DATA_DIR": str(cwd), **env},
        cwd=cwd,
        timeout=PROCESS_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def chat(database_url: str, redis_url: str, local_model_url: str, tmp_path: Path):  # noqa: ANN201
    """`chat(user, lines)` pipes lines into `assistant console --user USER`."""

    def run(user: str, stdin: str) -> subprocess.CompletedProcess[str]:
        result = assistant(
            "console",
            "--user",
            user,
            stdin=stdin,
            cwd=tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            LLM_PROVIDER="openai_compatible",
            LLM_BASE_URL=local_model_url,
            LLM_MAX_OUTPUT_TOKENS="48",
        )
        assert result.returncode == 0, result.stderr
        return result

    return run


def test_piped_chat_remembers_across_processes_and_users_stay_apart(chat) -> None:  # noqa: ANN001
    first = chat("ana-cli", "Olá, meu nome é Ana e eu moro em Recife.\n")
    assert first.stdout.strip(), "the local model gave no answer"

    again = chat("ana-cli", "/history\n")
    assert "Olá, meu nome é Ana e eu moro em Recife." in again.stdout
    assert again.stdout.startswith("O que eu lembro desta conversa (2 mensagens")

    other = chat("bia-cli", "/history\n")
    assert "Recife" not in other.stdout
    assert "I don't remember anything" in other.stdout


def test_the_local_model_answers_a_question(chat) -> None:  # noqa: ANN001
    result = chat("quiz-cli", "What is the capital of France?\n/reset\n")
    answer, reset = result.stdout.strip().rsplit("\n", 1)
    assert len(answer.split()) >= 2
    assert "can't reach" not in answer and "went wrong" not in answer
    assert reset == "Done: I forgot this conversation."


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MEMORY_STRATEGY": "forget"}, "MEMORY_STRATEGY: Input should be 'trim' or 'summary'"),
        (
            {"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "LLM_BASE_URL": UNREACHABLE},
            "Cannot reach Postgres (DATABASE_URL)",
        ),
        ({"REDIS_URL": "redis://127.0.0.1:9/0"}, "Cannot reach Redis (REDIS_URL)"),
    ],
    ids=["bad-setting", "no-postgres", "no-redis"],
)
def test_start_up_problems_are_reported_plainly(
    env: dict[str, str], expected: str, database_url: str, tmp_path: Path
) -> None:
    defaults = {
        "DATABASE_URL": database_url,
        "LLM_PROVIDER": "openai_compatible",
        "LLM_BASE_URL": UNREACHABLE,
    }
    result = assistant("console", stdin="hi\n", cwd=tmp_path, **{**defaults, **env})
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_out_of_connections_is_explained() -> None:
    refused = psycopg.OperationalError("FATAL:  sorry, too many clients already")

    problem = postgres_problem(refused)

    assert "max_connections" in problem and "DATABASE_POOL_SIZE" in problem
    assert postgres_problem(psycopg.OperationalError("no route")).startswith(
        "Cannot reach Postgres (DATABASE_URL)"
    )
