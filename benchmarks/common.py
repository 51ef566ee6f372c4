"""What every benchmark shares: local services, percentiles, machine facts and JSON results.

`scripts/bench` starts one Postgres and one Redis for the whole run and hands their URLs
down in BENCH_DATABASE_URL / BENCH_REDIS_URL; a module run on its own starts its own.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg

from benchmarks.machine import cpu_model
from launcher.services import RedisServer, free_port, start_postgres

RESULTS_DIR = Path(__file__).parent / "results"
DATABASE_URL_ENV = "BENCH_DATABASE_URL"
REDIS_URL_ENV = "BENCH_REDIS_URL"
# `--full` reaches every module through the environment, so a module run alone reads it too.
FULL_ENV = "BENCH_FULL"


def is_full() -> bool:
    """Whether this run measures everything (`scripts/bench --full`), not the quick subset."""
    return os.environ.get(FULL_ENV) == "1"


@contextmanager
def services() -> Iterator[tuple[str, str]]:
    """(Postgres admin URL, Redis URL): the run's own, else fresh ones in a temp dir."""
    database_url, redis_url = os.environ.get(DATABASE_URL_ENV), os.environ.get(REDIS_URL_ENV)
    if database_url and redis_url:
        yield database_url, redis_url
        return
    workdir = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    # The embedded Postgres runs as another user, which must be able to enter the folder.
    workdir.chmod(0o755)
    redis = RedisServer(workdir / "redis", free_port())
    try:
        database_url = start_postgres(workdir / "pg", on_exit="delete")
        redis.start()
        yield database_url, redis.url
    finally:
        redis.stop(save=False)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new, migrated database on the server of `admin_url`, dropped afterwards."""
    from core.settings import Settings
    from launcher.migrate import migrate

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin_url.partition("?")
    url = f"{base.rpartition('/')[0]}/{name}" + (f"?{query}" if query else "")
    try:
        migrate(Settings(_env_file=None, database_url=url))  # type: ignore[call-arg]
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(samples: Sequence[float], percent: int) -> float:
    """The `percent`th percentile (inclusive method, so p100 is the maximum)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percent - 1]


def machine() -> dict[str, object]:
    """What the numbers were measured on; the load says how much other work shared it."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def print_machine(info: dict[str, object]) -> None:
    """One line naming the machine, printed above every table."""
    print(
        f"CPU: {info['cpu']} ({info['cores']} cores, load {info['load_average_1min']} at start), "
        f"Python {info['python']}"
    )


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table, numbers right-aligned, that pastes into a report as is."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        print(
            " | ".join(
                c.rjust(w) if isinstance(v, int | float) else c.ljust(w)
                for c, w, v in zip(row, widths, raw, strict=True)
            )
        )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def write_results(name: str, payload: dict[str, object]) -> Path:
    """Save `payload` with the machine facts as benchmarks/results/`name`.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, ensure_ascii=False))
    print(f"\nwrote {path}")
    return path
