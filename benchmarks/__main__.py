"""`scripts/bench`: run every benchmark, each in a process of its own, over shared services.

    scripts/bench                     # quick mode: every module, small sizes
    scripts/bench --full              # every size and variant
    scripts/bench chat_core startup   # only these modules

One Postgres and one Redis start for the whole run; a module that fails is reported and
the rest still run. Each module prints its table and writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from benchmarks.common import DATABASE_URL_ENV, FULL_ENV, REDIS_URL_ENV, services

# The registry: one line per module, run in this order (each has a `main()`).
MODULES = [
    "benchmarks.chat_core",
    "benchmarks.ingestion",
    "benchmarks.embeddings",
    "benchmarks.retrieval",
    "benchmarks.retrieval_scale",
    "benchmarks.transcription",
    "benchmarks.footprint",
    "benchmarks.startup",
]


def chosen(names: list[str]) -> list[str]:
    """The registered modules named on the command line (all when none is)."""
    if not names:
        return MODULES
    wanted = [name if name.startswith("benchmarks.") else f"benchmarks.{name}" for name in names]
    unknown = [name for name in wanted if name not in MODULES]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(MODULES)}")
    return wanted


def main(argv: list[str] | None = None) -> None:
    """Start the services once, run each module against them, then list how each went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every size, not the quick subset")
    parser.add_argument("modules", nargs="*", help="modules to run (default: all)")
    args = parser.parse_args(argv)
    modules = chosen(args.modules)
    outcomes: list[tuple[str, int, float]] = []
    with services() as (database_url, redis_url):
        env = {
            **os.environ,
            DATABASE_URL_ENV: database_url,
            REDIS_URL_ENV: redis_url,
            FULL_ENV: "1" if args.full else "0",
        }
        for module in modules:
            print(f"\n===== {module} =====", flush=True)
            started = time.perf_counter()
            code = subprocess.run([sys.executable, "-m", module], env=env).returncode
            outcomes.append((module, code, time.perf_counter() - started))
    print("\n===== summary =====")
    for module, code, seconds in outcomes:
        print(f"{module:<32} {'ok' if code == 0 else f'FAILED ({code})':<12} {seconds:7.1f} s")
    if any(code for _, code, _ in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
